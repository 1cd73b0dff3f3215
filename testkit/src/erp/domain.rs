//! Odoo domain evaluation and ordering for the fake: prefix-notation `&`, `|`, `!` over leaves
//! `[field, operator, value]` with `=`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`, `like`, `ilike`, `=like`,
//! `=ilike`. Many2one values (`[id, name]`) compare by id.

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::cmp::Ordering;

pub type Row = Map<String, Value>;

enum Node {
    Leaf(String, String, Value),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
}

/// Parses a domain; the error is the message Odoo's `ValueError` would carry.
fn parse(domain: &[Value]) -> Result<Vec<Node>, String> {
    let mut stack: Vec<Node> = Vec::new();
    for token in domain.iter().rev() {
        match token {
            Value::String(op) if op == "&" || op == "|" => {
                let (Some(a), Some(b)) = (stack.pop(), stack.pop()) else {
                    return Err(format!("Invalid domain: {op} needs two terms"));
                };
                let (a, b) = (Box::new(a), Box::new(b));
                stack.push(if op == "&" {
                    Node::And(a, b)
                } else {
                    Node::Or(a, b)
                });
            }
            Value::String(op) if op == "!" => {
                let a = stack.pop().ok_or("Invalid domain: ! needs a term")?;
                stack.push(Node::Not(Box::new(a)));
            }
            Value::Array(leaf) => match leaf.as_slice() {
                [Value::String(f), Value::String(op), v] => {
                    stack.push(Node::Leaf(f.clone(), op.clone(), v.clone()))
                }
                _ => return Err(format!("Invalid leaf {token}")),
            },
            other => return Err(format!("Invalid domain term {other}")),
        }
    }
    Ok(stack)
}

fn scalar(v: &Value) -> Value {
    match v {
        Value::Array(a) if a.len() == 2 && a.first().is_some_and(Value::is_i64) => {
            a.first().cloned().unwrap_or(Value::Null)
        }
        other => other.clone(),
    }
}

fn dec(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => cuadra_sdk::parse_decimal(&n.to_string()).ok(),
        _ => None,
    }
}

pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (scalar(a), scalar(b)) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(&y)),
        (x @ Value::Number(_), y @ Value::Number(_)) => Some(dec(&x)?.cmp(&dec(&y)?)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(&y)),
        (Value::Bool(false) | Value::Null, _) | (_, Value::Bool(false) | Value::Null) => None,
        _ => None,
    }
}

fn like(hay: &Value, pat: &Value, ci: bool, exact: bool) -> bool {
    let (Value::String(h), Value::String(p)) = (scalar(hay), scalar(pat)) else {
        return false;
    };
    let (h, p) = if ci {
        (h.to_lowercase(), p.to_lowercase())
    } else {
        (h, p)
    };
    if exact {
        match (p.strip_prefix('%'), p.strip_suffix('%')) {
            _ if !p.contains('%') => h == p,
            _ => h.contains(p.trim_matches('%')),
        }
    } else {
        h.contains(p.as_str())
    }
}

fn eval(node: &Node, row: &Row) -> bool {
    match node {
        Node::And(a, b) => eval(a, row) && eval(b, row),
        Node::Or(a, b) => eval(a, row) || eval(b, row),
        Node::Not(a) => !eval(a, row),
        Node::Leaf(f, op, v) => {
            let x = row.get(f).cloned().unwrap_or(Value::Bool(false));
            let ord = compare(&x, v);
            match op.as_str() {
                "=" => {
                    ord == Some(Ordering::Equal)
                        || (x == Value::Bool(false) && *v == Value::Bool(false))
                }
                "!=" => ord != Some(Ordering::Equal),
                ">" => ord == Some(Ordering::Greater),
                ">=" => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                "<" => ord == Some(Ordering::Less),
                "<=" => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                "in" | "not in" => {
                    let hit = v
                        .as_array()
                        .is_some_and(|l| l.iter().any(|i| compare(&x, i) == Some(Ordering::Equal)));
                    hit == (op == "in")
                }
                "like" => like(&x, v, false, false),
                "ilike" => like(&x, v, true, false),
                "=like" => like(&x, v, false, true),
                "=ilike" => like(&x, v, true, true),
                _ => false,
            }
        }
    }
}

/// Rows matching `domain`; the error is Odoo's message for a malformed domain.
pub fn filter<'a>(rows: &'a [Row], domain: &[Value]) -> Result<Vec<&'a Row>, String> {
    for t in domain {
        if let Value::Array(leaf) = t {
            if let Some(Value::String(op)) = leaf.get(1) {
                let known = [
                    "=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "ilike", "=like",
                    "=ilike",
                ];
                if !known.contains(&op.as_str()) {
                    return Err(format!("Invalid operator {op:?}"));
                }
            }
        }
    }
    let nodes = parse(domain)?;
    Ok(rows
        .iter()
        .filter(|r| nodes.iter().all(|n| eval(n, r)))
        .collect())
}

/// Sorts by an Odoo `order` string (`"write_date asc, id asc"`).
pub fn sort(rows: &mut [&Row], order: &str) {
    let keys: Vec<(String, bool)> = order
        .split(',')
        .filter_map(|part| {
            let mut it = part.split_whitespace();
            let f = it.next()?.to_string();
            let desc = it.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            Some((f, desc))
        })
        .collect();
    rows.sort_by(|a, b| {
        for (f, desc) in &keys {
            let null = Value::Null;
            let o = compare(a.get(f).unwrap_or(&null), b.get(f).unwrap_or(&null))
                .unwrap_or(Ordering::Equal);
            if o != Ordering::Equal {
                return if *desc { o.reverse() } else { o };
            }
        }
        Ordering::Equal
    });
}
