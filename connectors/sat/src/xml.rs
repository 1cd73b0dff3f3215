//! A small XML reader for SOAP envelopes: builds a tree with qualified names kept (so the fake server can
//! canonicalize what it received) and finds elements by local name, case-insensitively, ignoring namespaces —
//! the way the reference client reads SAT responses (sat.md §2.4). Also the escaping used when writing requests.

use quick_xml::events::Event;
use quick_xml::Reader;

/// Nesting deeper than this is refused (SOAP envelopes are ~8 levels deep).
const MAX_DEPTH: usize = 64;

/// One element: qualified name, attributes in document order (qualified name, unescaped value), children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub qname: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    /// The name without its prefix.
    pub fn local_name(&self) -> &str {
        local(&self.qname)
    }

    /// The value of the attribute with this local name (case-insensitive), ignoring `xmlns` declarations.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| !k.starts_with("xmlns") && local(k).eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Concatenated text of the direct text children.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for c in &self.children {
            if let Node::Text(t) = c {
                out.push_str(t);
            }
        }
        out
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// First descendant-or-self with this local name (case-insensitive), depth first.
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.local_name().eq_ignore_ascii_case(name) {
            return Some(self);
        }
        self.elements().find_map(|e| e.find(name))
    }

    /// Follows a path of local names from this element's children (each step: first matching child).
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        let mut cur = self;
        for n in names {
            cur = cur
                .elements()
                .find(|e| e.local_name().eq_ignore_ascii_case(n))?;
        }
        Some(cur)
    }

    /// All direct children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements()
            .filter(move |e| e.local_name().eq_ignore_ascii_case(name))
    }
}

/// The part of a qualified name after the colon.
pub fn local(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

/// The prefix of a qualified name (`""` when unprefixed).
pub fn prefix(qname: &str) -> &str {
    match qname.split_once(':') {
        Some((p, _)) => p,
        None => "",
    }
}

/// Parses a whole document into its root element. Comments, processing instructions and the declaration are
/// dropped; whitespace-only text is kept (it matters for canonicalization).
pub fn parse(input: &[u8]) -> Result<Element, String> {
    let mut reader = Reader::from_reader(input);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut buf = Vec::new();
    loop {
        let pos = reader.buffer_position();
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("XML error at byte {pos}: {e}"))?;
        match ev {
            Event::Start(s) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("XML nested deeper than {MAX_DEPTH} levels"));
                }
                stack.push(start_element(&s)?);
            }
            Event::Empty(s) => {
                let el = start_element(&s)?;
                attach(&mut stack, &mut root, el)?;
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unexpected end tag")?;
                attach(&mut stack, &mut root, el)?;
            }
            Event::Text(t) => {
                let text = t
                    .unescape()
                    .map_err(|e| format!("bad text at byte {pos}: {e}"))?;
                push_text(&mut stack, &text);
            }
            Event::CData(c) => {
                let text = String::from_utf8_lossy(&c.into_inner()).into_owned();
                push_text(&mut stack, &text);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err("unexpected end of document (unclosed element)".into());
    }
    root.ok_or_else(|| "no root element".into())
}

fn push_text(stack: &mut [Element], text: &str) {
    if let Some(top) = stack.last_mut() {
        if let Some(Node::Text(prev)) = top.children.last_mut() {
            prev.push_str(text);
        } else {
            top.children.push(Node::Text(text.to_string()));
        }
    }
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(el)),
        None => {
            if root.is_some() {
                return Err("more than one root element".into());
            }
            *root = Some(el);
        }
    }
    Ok(())
}

fn start_element(s: &quick_xml::events::BytesStart<'_>) -> Result<Element, String> {
    let qname = String::from_utf8_lossy(s.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(|e| format!("bad attribute in <{qname}>: {e}"))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a
            .unescape_value()
            .map_err(|e| format!("bad attribute value {key} in <{qname}>: {e}"))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        qname,
        attrs,
        children: Vec::new(),
    })
}

/// Escapes text or an attribute value as the reference client does (`&`, `<`, `>`, `"`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_local_name_case_insensitively() {
        let doc = br#"<s:Envelope xmlns:s="x"><s:Body><A:Result B="1">t&amp;x</A:Result></s:Body></s:Envelope>"#;
        let root = parse(doc).unwrap();
        let r = root.find("result").unwrap();
        assert_eq!(r.attr("b"), Some("1"));
        assert_eq!(r.text(), "t&x");
        assert!(root.path(&["body", "result"]).is_some());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"<a/><b/>").is_err());
    }
}
