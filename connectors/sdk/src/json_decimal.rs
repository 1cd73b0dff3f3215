//! Exact decimals from JSON: the amount is read from the literal text of the JSON number (or string) through
//! [`parse_decimal`], never through `f64`, so `58.80` stays `58.80` and `0.1` stays `0.1`.

use crate::money::{parse_decimal, MoneyError};
use rust_decimal::Decimal;
use serde_json::value::RawValue;

/// What a number written with an exponent (`1e-05`) means to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exponent {
    /// An error, like any other text that is not a plain decimal (payment providers never write them).
    Refuse,
    /// Read exactly and normalized (`1e-05` is `0.00001`): some ERPs serialize small amounts that way.
    Accept,
}

/// An exact decimal from a raw JSON value: a number literal as written (`100.0`, `58.80`) or a decimal string
/// (`"123.12"`). `null` is `Ok(None)`; anything else is [`MoneyError::Amount`] with the text found.
pub fn json_decimal(raw: &RawValue, exponent: Exponent) -> Result<Option<Decimal>, MoneyError> {
    let t = raw.get().trim();
    if t == "null" {
        return Ok(None);
    }
    let literal = if t.starts_with('"') {
        serde_json::from_str::<String>(t).map_err(|_| MoneyError::Amount(t.to_string()))?
    } else {
        t.to_string()
    };
    match parse_decimal(&literal) {
        Ok(d) => Ok(Some(d)),
        Err(e) => match exponent {
            Exponent::Accept if literal.contains(['e', 'E']) => Decimal::from_scientific(&literal)
                .map(|d| Some(d.normalize()))
                .map_err(|_| e),
            _ => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str, exponent: Exponent) -> Result<Option<String>, MoneyError> {
        let raw = RawValue::from_string(s.to_string()).expect("valid JSON in test");
        json_decimal(&raw, exponent).map(|d| d.map(|d| d.to_string()))
    }

    #[test]
    fn literals_are_exact() {
        for e in [Exponent::Refuse, Exponent::Accept] {
            assert_eq!(read("1160.0", e), Ok(Some("1160.0".into())));
            assert_eq!(read("0.1", e), Ok(Some("0.1".into())));
            assert_eq!(read("\"99.99\"", e), Ok(Some("99.99".into())));
            assert_eq!(read("null", e), Ok(None));
            assert!(read("true", e).is_err());
            assert!(read("\"abc\"", e).is_err());
        }
        assert_eq!(read("1e-05", Exponent::Accept), Ok(Some("0.00001".into())));
        assert!(read("1e-05", Exponent::Refuse).is_err());
    }
}
