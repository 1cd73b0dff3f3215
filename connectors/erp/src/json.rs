//! Readers for JSON values from ERPs: exact amounts (the SDK's [`json_decimal`] over the literal text, never
//! through f64), dates as `YYYY-MM-DD` or RFC 3339, ids given as strings or integers, Odoo's `false`.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use cuadra_sdk::{json_decimal, Exponent};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Reads a decimal from a raw JSON value: a number literal (`1160.0`, `1e-05`) or a string (`"1160.00"`), through
/// the SDK's [`json_decimal`] (exponents accepted: some ERPs write small amounts that way).
pub fn decimal(raw: &RawValue) -> Result<Decimal, String> {
    match json_decimal(raw, Exponent::Accept) {
        Ok(Some(d)) => Ok(d),
        Ok(None) | Err(_) => Err(format!(
            "expected a decimal amount, found {}",
            preview(raw.get().trim())
        )),
    }
}

/// Reads a civil date `YYYY-MM-DD` (also the date part of `YYYY-MM-DD HH:MM:SS` or RFC 3339).
pub fn date(s: &str) -> Result<NaiveDate, String> {
    let head = s.trim().get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(head, "%Y-%m-%d")
        .map_err(|_| format!("expected a date YYYY-MM-DD, found {}", preview(s)))
}

/// Reads an instant: RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC, as Odoo writes), or a bare date taken at 12:00 UTC so
/// that its civil date is the same in every Mexican time zone.
pub fn instant(s: &str) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S") {
        return Ok(d.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d
            .and_time(NaiveTime::MIN + chrono::Duration::hours(12))
            .and_utc());
    }
    Err(format!(
        "expected an RFC 3339 instant or a date, found {}",
        preview(s)
    ))
}

/// At most 40 characters of some input, for error messages.
pub fn preview(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    format!("{out:?}")
}

/// An id given as a JSON string or integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum StrOrInt {
            S(String),
            I(i64),
        }
        Ok(match StrOrInt::deserialize(d)? {
            StrOrInt::S(s) => Id(s),
            StrOrInt::I(i) => Id(i.to_string()),
        })
    }
}

/// Odoo writes "no value" as `false` for every field type; this reads `false`/`null` as `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrFalse<T>(pub Option<T>);

impl<T> Default for OrFalse<T> {
    fn default() -> Self {
        OrFalse(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrFalse<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OrFalse<T>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either<T> {
            B(bool),
            V(T),
            N(()),
        }
        match Either::<T>::deserialize(d)? {
            Either::V(v) => Ok(OrFalse(Some(v))),
            Either::B(false) | Either::N(()) => Ok(OrFalse(None)),
            Either::B(true) => Err(serde::de::Error::custom(
                "expected a value or false, found true",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).expect("valid JSON in test")
    }

    #[test]
    fn amounts_are_exact() {
        assert_eq!(
            decimal(&raw("1160.0")).map(|d| d.to_string()),
            Ok("1160.0".into())
        );
        assert_eq!(
            decimal(&raw("0.1")).map(|d| d.to_string()),
            Ok("0.1".into())
        );
        assert_eq!(
            decimal(&raw("\"99.99\"")).map(|d| d.to_string()),
            Ok("99.99".into())
        );
        assert_eq!(
            decimal(&raw("1e-05")).map(|d| d.to_string()),
            Ok("0.00001".into())
        );
        assert!(decimal(&raw("true")).is_err());
        assert!(decimal(&raw("\"abc\"")).is_err());
    }

    #[test]
    fn dates() {
        assert!(date("2024-02-30").is_err());
        assert_eq!(
            instant("2024-05-01").map(|d| d.to_rfc3339()),
            Ok("2024-05-01T12:00:00+00:00".into())
        );
        assert!(instant("2024-05-01 10:11:12").is_ok());
        assert!(instant("ayer").is_err());
    }
}
