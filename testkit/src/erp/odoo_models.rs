//! The fake Odoo's model methods: generic ORM calls (`search_read`, `search`, `read`, `create`, `write`,
//! `fields_get`) over in-memory rows, the `account.payment.register` wizard and payment draft/cancel, with
//! Odoo's errors (invalid field, unknown method, validation errors).

use super::domain::{self, Row};
use super::odoo::{OdooError, OdooState};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

pub const MODELS: &[&str] = &[
    "res.partner",
    "account.move",
    "account.journal",
    "account.payment",
    "account.payment.register",
    "res.currency",
];

/// A JSON number written from a decimal string (Odoo sends amounts as floats).
pub fn number(d: &str) -> Value {
    serde_json::from_str::<Value>(d)
        .ok()
        .filter(Value::is_number)
        .unwrap_or(json!(0))
}

pub fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => cuadra_sdk::json_decimal(
            &serde_json::value::RawValue::from_string(n.to_string()).ok()?,
            cuadra_sdk::Exponent::Accept,
        )
        .ok()
        .flatten(),
        Value::String(s) => cuadra_sdk::parse_decimal(s).ok(),
        _ => None,
    }
}

fn fields_of(s: &OdooState, model: &str) -> Vec<&'static str> {
    let mut f: Vec<&'static str> = match model {
        "res.partner" => vec![
            "name",
            "vat",
            "email",
            "phone",
            "mobile",
            "lang",
            "ref",
            "customer_rank",
        ],
        "account.move" => vec![
            "name",
            "move_type",
            "state",
            "partner_id",
            "invoice_date",
            "invoice_date_due",
            "amount_total",
            "amount_residual",
            "currency_id",
            "payment_state",
        ],
        "account.journal" => vec!["name", "code", "type"],
        "account.payment" => vec![
            "amount",
            "date",
            "journal_id",
            "partner_id",
            "state",
            "reconciled_invoice_ids",
        ],
        "account.payment.register" => vec!["amount", "payment_date", "journal_id", "communication"],
        _ => vec!["name"],
    };
    f.extend(["id", "write_date", "display_name"]);
    if model == "account.move" && s.l10n_mx {
        f.push("l10n_mx_edi_cfdi_uuid");
    }
    if model == "account.payment" {
        f.push(s.memo_field());
    }
    f
}

fn project(
    s: &OdooState,
    model: &str,
    row: &Row,
    fields: &Option<Vec<String>>,
) -> Result<Value, OdooError> {
    let all = fields_of(s, model);
    let mut out = Map::new();
    out.insert("id".into(), row.get("id").cloned().unwrap_or(Value::Null));
    let wanted: Vec<String> = match fields {
        Some(f) if !f.is_empty() => f.clone(),
        _ => all.iter().map(|x| x.to_string()).collect(),
    };
    for f in wanted {
        if !all.contains(&f.as_str()) {
            return Err(OdooError::new(
                "builtins.ValueError",
                format!("Invalid field '{f}' on model '{model}'"),
            ));
        }
        out.insert(
            f.clone(),
            row.get(&f).cloned().unwrap_or(Value::Bool(false)),
        );
    }
    Ok(Value::Object(out))
}

fn fields_arg(kw: &Map<String, Value>, pos: Option<&Value>) -> Option<Vec<String>> {
    kw.get("fields").or(pos).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    })
}

fn search<'a>(
    s: &'a OdooState,
    model: &str,
    pos: &[Value],
    kw: &Map<String, Value>,
) -> Result<Vec<&'a Row>, OdooError> {
    let rows = s.models.get(model).map(Vec::as_slice).unwrap_or_default();
    let dom = kw
        .get("domain")
        .or(pos.first())
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut hits =
        domain::filter(rows, &dom).map_err(|e| OdooError::new("builtins.ValueError", e))?;
    let order = kw.get("order").and_then(Value::as_str).unwrap_or("id asc");
    domain::sort(&mut hits, order);
    let offset = kw.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
    let limit = kw.get("limit").and_then(Value::as_u64).map(|l| l as usize);
    let hits: Vec<&Row> = hits.into_iter().skip(offset).collect();
    Ok(match limit {
        Some(l) if l > 0 => hits.into_iter().take(l).collect(),
        _ => hits,
    })
}

fn ids_arg(pos: &[Value]) -> Vec<i64> {
    match pos.first() {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
        Some(Value::Number(n)) => n.as_i64().into_iter().collect(),
        _ => Vec::new(),
    }
}

pub fn dispatch(
    s: &mut OdooState,
    model: &str,
    method: &str,
    pos: &[Value],
    kw: &Map<String, Value>,
) -> Result<Value, OdooError> {
    match method {
        "search_read" => {
            let fields = fields_arg(kw, pos.get(1));
            let rows: Vec<Row> = search(s, model, pos, kw)?.into_iter().cloned().collect();
            rows.iter()
                .map(|r| project(s, model, r, &fields))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        "search" => Ok(Value::Array(
            search(s, model, pos, kw)?
                .into_iter()
                .filter_map(|r| r.get("id").cloned())
                .collect(),
        )),
        "read" => {
            let fields = fields_arg(kw, pos.get(1));
            let mut out = Vec::new();
            for id in ids_arg(pos) {
                let row = s
                    .row(model, id)
                    .cloned()
                    .ok_or_else(|| missing(model, id))?;
                out.push(project(s, model, &row, &fields)?);
            }
            Ok(Value::Array(out))
        }
        "fields_get" => Ok(Value::Object(
            fields_of(s, model)
                .into_iter()
                .map(|f| (f.to_string(), json!({"type": "char"})))
                .collect(),
        )),
        "create" if model == "account.payment.register" => create_wizard(s, pos, kw),
        "create" => {
            let vals = pos
                .first()
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(|| {
                    OdooError::new("builtins.TypeError", "create() expects a dict of values")
                })?;
            let allowed = fields_of(s, model);
            if let Some(bad) = vals.keys().find(|k| !allowed.contains(&k.as_str())) {
                return Err(OdooError::new(
                    "builtins.ValueError",
                    format!("Invalid field '{bad}' on model '{model}'"),
                ));
            }
            Ok(json!(s.insert(model, vals)))
        }
        "write" => {
            let vals = pos
                .get(1)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for id in ids_arg(pos) {
                let stamp = s.stamp();
                let row = s.row_mut(model, id).ok_or_else(|| missing(model, id))?;
                row.extend(vals.clone());
                row.insert("write_date".into(), json!(stamp));
            }
            Ok(json!(true))
        }
        "action_create_payments" if model == "account.payment.register" => create_payments(s, pos),
        "action_draft" if model == "account.payment" => payment_draft(s, pos),
        "action_cancel" if model == "account.payment" => payment_cancel(s, pos),
        _ => Err(OdooError::new(
            "builtins.AttributeError",
            format!("The method '{method}' does not exist on the model '{model}'"),
        )),
    }
}

fn missing(model: &str, id: i64) -> OdooError {
    OdooError::new(
        "odoo.exceptions.MissingError",
        format!("Record does not exist or has been deleted.\n(Record: {model}({id},), User: 7)"),
    )
}

fn create_wizard(
    s: &mut OdooState,
    pos: &[Value],
    kw: &Map<String, Value>,
) -> Result<Value, OdooError> {
    let ctx = kw
        .get("context")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if ctx.get("active_model") != Some(&json!("account.move")) {
        return Err(OdooError::new("odoo.exceptions.UserError", "The register payment wizard should only be called on account.move or account.move.line records."));
    }
    let ids: Vec<i64> = ctx
        .get("active_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(OdooError::new("odoo.exceptions.UserError", "You can't register a payment because there is nothing left to pay on the selected journal items."));
    }
    let mut vals = pos
        .first()
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let allowed = fields_of(s, "account.payment.register");
    if let Some(bad) = vals.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(OdooError::new(
            "builtins.ValueError",
            format!("Invalid field '{bad}' on model 'account.payment.register'"),
        ));
    }
    vals.insert("active_ids".into(), json!(ids));
    Ok(json!(s.insert("account.payment.register", vals)))
}

fn set_payment_state(m: &mut Row) {
    let total = m.get("amount_total").and_then(decimal).unwrap_or_default();
    let res = m
        .get("amount_residual")
        .and_then(decimal)
        .unwrap_or_default();
    let st = if res.is_zero() {
        "paid"
    } else if res == total {
        "not_paid"
    } else {
        "partial"
    };
    m.insert("payment_state".into(), json!(st));
}

fn create_payments(s: &mut OdooState, pos: &[Value]) -> Result<Value, OdooError> {
    let wid = ids_arg(pos).first().copied().unwrap_or_default();
    let w = s
        .row("account.payment.register", wid)
        .cloned()
        .ok_or_else(|| missing("account.payment.register", wid))?;
    let move_id = w
        .get("active_ids")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let m = s
        .row("account.move", move_id)
        .cloned()
        .ok_or_else(|| missing("account.move", move_id))?;
    if m.get("state") != Some(&json!("posted")) {
        return Err(OdooError::new(
            "odoo.exceptions.UserError",
            "You can only register payment for posted journal entries.",
        ));
    }
    let journal_id = w
        .get("journal_id")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let journal = s
        .row("account.journal", journal_id)
        .cloned()
        .ok_or_else(|| missing("account.journal", journal_id))?;
    let amount = w.get("amount").and_then(decimal).unwrap_or_default();
    let residual = m
        .get("amount_residual")
        .and_then(decimal)
        .unwrap_or_default();
    if amount <= Decimal::ZERO {
        return Err(OdooError::new(
            "odoo.exceptions.ValidationError",
            "The payment amount must be strictly positive.",
        ));
    }
    if amount > residual {
        return Err(OdooError::new(
            "odoo.exceptions.ValidationError",
            format!(
                "The payment amount {amount} exceeds the amount due {residual} on {}.",
                m.get("name").and_then(Value::as_str).unwrap_or_default()
            ),
        ));
    }
    let memo = s.memo_field();
    let mut p = Row::new();
    p.insert("amount".into(), number(&amount.to_string()));
    p.insert(
        "date".into(),
        w.get("payment_date").cloned().unwrap_or(json!(false)),
    );
    p.insert(
        "journal_id".into(),
        json!([
            journal_id,
            journal.get("name").cloned().unwrap_or(json!(""))
        ]),
    );
    p.insert(
        "partner_id".into(),
        m.get("partner_id").cloned().unwrap_or(json!(false)),
    );
    p.insert(
        "state".into(),
        json!(if s.version >= 18 { "paid" } else { "posted" }),
    );
    p.insert(
        memo.into(),
        w.get("communication").cloned().unwrap_or(json!(false)),
    );
    p.insert("reconciled_invoice_ids".into(), json!([move_id]));
    let pid = s.insert("account.payment", p);
    let stamp = s.stamp();
    if let Some(mm) = s.row_mut("account.move", move_id) {
        mm.insert(
            "amount_residual".into(),
            number(&(residual - amount).to_string()),
        );
        set_payment_state(mm);
        mm.insert("write_date".into(), json!(stamp));
    }
    Ok(
        json!({"name": "Payments", "type": "ir.actions.act_window", "res_model": "account.payment", "res_id": pid, "view_mode": "form"}),
    )
}

fn payment_draft(s: &mut OdooState, pos: &[Value]) -> Result<Value, OdooError> {
    for id in ids_arg(pos) {
        let p = s
            .row("account.payment", id)
            .cloned()
            .ok_or_else(|| missing("account.payment", id))?;
        let state = p.get("state").and_then(Value::as_str).unwrap_or_default();
        if state == "draft" || state == s.cancel_state() {
            continue;
        }
        let amount = p.get("amount").and_then(decimal).unwrap_or_default();
        let invoices: Vec<i64> = p
            .get("reconciled_invoice_ids")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        for mid in invoices {
            let stamp = s.stamp();
            if let Some(m) = s.row_mut("account.move", mid) {
                let res = m
                    .get("amount_residual")
                    .and_then(decimal)
                    .unwrap_or_default();
                m.insert(
                    "amount_residual".into(),
                    number(&(res + amount).to_string()),
                );
                set_payment_state(m);
                m.insert("write_date".into(), json!(stamp));
            }
        }
        if let Some(p) = s.row_mut("account.payment", id) {
            p.insert("state".into(), json!("draft"));
            p.insert("reconciled_invoice_ids".into(), json!([]));
        }
    }
    Ok(Value::Null)
}

fn payment_cancel(s: &mut OdooState, pos: &[Value]) -> Result<Value, OdooError> {
    let cancel = s.cancel_state();
    for id in ids_arg(pos) {
        let p = s
            .row_mut("account.payment", id)
            .ok_or_else(|| missing("account.payment", id))?;
        match p.get("state").and_then(Value::as_str) {
            Some("draft") => {
                p.insert("state".into(), json!(cancel));
            }
            Some(st) if st == cancel => {}
            _ => {
                return Err(OdooError::new(
                    "odoo.exceptions.UserError",
                    "Only draft journal entries can be cancelled.",
                ))
            }
        }
    }
    Ok(Value::Null)
}
