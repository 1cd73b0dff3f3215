//! Exclusive XML canonicalization (without comments) over the parsed tree, as the fake SAT needs it to check
//! signatures independently of how the client wrote its strings: visibly used namespaces only, namespace
//! declarations first (sorted by prefix), then attributes sorted by namespace URI and local name, empty elements
//! as start+end tags, C14N escaping. Enough for SOAP requests (no DTDs, no `xml:` attribute inheritance).

use cuadra_sat::xml::{local, prefix, Element, Node};
use std::collections::BTreeMap;

/// Prefix → namespace URI (`""` is the default namespace).
pub type NsMap = BTreeMap<String, String>;

/// The in-scope namespace declarations of `el` added to `scope`.
pub fn extend_scope(scope: &NsMap, el: &Element) -> NsMap {
    let mut s = scope.clone();
    for (k, v) in &el.attrs {
        if k == "xmlns" {
            s.insert(String::new(), v.clone());
        } else if let Some(p) = k.strip_prefix("xmlns:") {
            s.insert(p.to_string(), v.clone());
        }
    }
    s
}

/// Finds the first element (depth first) for which `pred` holds, with the namespace scope of its parent.
pub fn find_with_scope<'a>(
    el: &'a Element,
    parent_scope: &NsMap,
    pred: &dyn Fn(&Element) -> bool,
) -> Option<(&'a Element, NsMap)> {
    if pred(el) {
        return Some((el, parent_scope.clone()));
    }
    let scope = extend_scope(parent_scope, el);
    el.elements().find_map(|c| find_with_scope(c, &scope, pred))
}

/// Canonical form of `el` (in the context `parent_scope`), leaving out descendants for which `skip` holds.
pub fn canonicalize(el: &Element, parent_scope: &NsMap, skip: &dyn Fn(&Element) -> bool) -> String {
    let mut out = String::new();
    write(el, parent_scope, &NsMap::new(), skip, &mut out);
    out
}

fn write(
    el: &Element,
    parent_scope: &NsMap,
    rendered: &NsMap,
    skip: &dyn Fn(&Element) -> bool,
    out: &mut String,
) {
    let scope = extend_scope(parent_scope, el);
    let mut used: Vec<String> = vec![prefix(&el.qname).to_string()];
    for (k, _) in &el.attrs {
        let p = prefix(k);
        if !p.is_empty() && p != "xmlns" && k != "xmlns" {
            used.push(p.to_string());
        }
    }
    used.sort();
    used.dedup();
    let mut now_rendered = rendered.clone();
    let mut decls = Vec::new();
    for p in used {
        let uri = scope.get(&p).cloned().unwrap_or_default();
        let before = rendered.get(&p).cloned().unwrap_or_default();
        let emit = if p.is_empty() {
            uri != before
        } else {
            rendered.get(&p) != Some(&uri)
        };
        if emit {
            if p.is_empty() {
                decls.push(format!(" xmlns=\"{}\"", escape_attr(&uri)));
            } else {
                decls.push(format!(" xmlns:{p}=\"{}\"", escape_attr(&uri)));
            }
            now_rendered.insert(p, uri);
        }
    }
    let mut attrs: Vec<(String, String, &str)> = el
        .attrs
        .iter()
        .filter(|(k, _)| k != "xmlns" && !k.starts_with("xmlns:"))
        .map(|(k, v)| {
            let p = prefix(k);
            let ns = if p.is_empty() {
                String::new()
            } else {
                scope.get(p).cloned().unwrap_or_default()
            };
            (ns, k.clone(), v.as_str())
        })
        .collect();
    attrs.sort_by(|a, b| (a.0.as_str(), local(&a.1)).cmp(&(b.0.as_str(), local(&b.1))));
    out.push('<');
    out.push_str(&el.qname);
    for d in decls {
        out.push_str(&d);
    }
    for (_, k, v) in attrs {
        out.push_str(&format!(" {k}=\"{}\"", escape_attr(v)));
    }
    out.push('>');
    for c in &el.children {
        match c {
            Node::Element(e) if skip(e) => {}
            Node::Element(e) => write(e, &scope, &now_rendered, skip, out),
            Node::Text(t) => out.push_str(&escape_text(t)),
        }
    }
    out.push_str("</");
    out.push_str(&el.qname);
    out.push('>');
}

fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\r', "&#xD;")
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
        .replace('\t', "&#x9;")
        .replace('\n', "&#xA;")
        .replace('\r', "&#xD;")
}
