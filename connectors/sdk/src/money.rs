//! Exact money: a `rust_decimal::Decimal` amount with its ISO 4217 currency. No floats anywhere.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Scale of the integer representation used in storage: amounts are stored as micro-units (10^-6), which covers
/// every CFDI amount (at most 6 decimals) and sums exactly in SQL on SQLite and PostgreSQL.
pub const STORAGE_SCALE: u32 = 6;

/// An ISO 4217 currency code (three ASCII upper-case letters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const MXN: Currency = Currency(*b"MXN");
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");

    /// Parses a three-letter code; lower case is accepted and upper-cased. `XXX` (the CFDI "no currency" code for
    /// Pagos) is accepted as a code.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let t = s.trim();
        let b = t.as_bytes();
        if b.len() != 3 || !b.iter().all(|c| c.is_ascii_alphabetic()) {
            return Err(MoneyError::Currency(t.to_string()));
        }
        Ok(Currency([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }

    pub fn as_str(&self) -> &str {
        // Invariant: built only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Minor-unit digits used when printing (ISO 4217 exponent; SAT's c_Moneda agrees for the common ones).
    pub fn minor_digits(&self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"CLP" | b"PYG" | b"VND" | b"ISK" | b"UGX" | b"XAF" | b"XOF" => 0,
            b"BHD" | b"KWD" | b"OMR" | b"JOD" | b"TND" | b"LYD" | b"IQD" => 3,
            b"CLF" => 4,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}
impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}
impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("expected a three-letter ISO 4217 currency code, found {0:?}")]
    Currency(String),
    #[error("expected a decimal amount such as 1160.00, found {0:?}")]
    Amount(String),
    #[error("amount {0} has more than 6 decimals and cannot be stored exactly")]
    TooPrecise(String),
    #[error("amount {0} is out of the storable range")]
    Overflow(String),
    #[error("currencies differ: {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
}

/// An exact amount with its currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Money { amount, currency }
    }
    pub fn zero(currency: Currency) -> Self {
        Money {
            amount: Decimal::ZERO,
            currency,
        }
    }
    /// Parses an amount exactly (`Decimal::from_str_exact`); accepts a leading sign, rejects exponents, thousands
    /// separators and anything a person would not write in a CFDI or statement amount field.
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, MoneyError> {
        Ok(Money {
            amount: parse_decimal(amount)?,
            currency,
        })
    }
    pub fn amount(&self) -> Decimal {
        self.amount
    }
    pub fn currency(&self) -> Currency {
        self.currency
    }
    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }
    pub fn negate(self) -> Self {
        Money {
            amount: -self.amount,
            currency: self.currency,
        }
    }
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or_else(|| MoneyError::Overflow(self.amount.to_string()))?;
        Ok(Money::new(amount, self.currency))
    }
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.checked_add(other.negate())
    }
    /// Integer micro-units for storage. Fails (never rounds) when the amount has more than 6 decimals.
    pub fn to_micros(&self) -> Result<i64, MoneyError> {
        to_micros(self.amount)
    }
    pub fn from_micros(micros: i64, currency: Currency) -> Self {
        Money::new(from_micros(micros), currency)
    }
    /// The amount as printed in reports: at least the currency's minor digits, more only when the amount really
    /// has them (`1160` MXN → `1160.00`, `0.125` MXN → `0.125`). Never exponent form.
    pub fn display_amount(&self) -> String {
        format_amount(self.amount, self.currency.minor_digits())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.display_amount(), self.currency)
    }
}
impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({} {})", self.amount, self.currency)
    }
}

/// Parses a decimal string exactly. Accepts `123`, `-123.45`, `+0.5`, `.5`; rejects exponent form, spaces inside,
/// commas and empty strings.
pub fn parse_decimal(s: &str) -> Result<Decimal, MoneyError> {
    let t = s.trim();
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let valid = !body.is_empty()
        && body.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && body.bytes().filter(|&c| c == b'.').count() <= 1
        && body.bytes().any(|c| c.is_ascii_digit());
    if !valid {
        return Err(MoneyError::Amount(t.to_string()));
    }
    let normalized;
    let input = if body.starts_with('.') {
        normalized = format!("{}0{}", if t.starts_with('-') { "-" } else { "" }, body);
        normalized.as_str()
    } else {
        t.strip_prefix('+').unwrap_or(t)
    };
    Decimal::from_str_exact(input).map_err(|_| MoneyError::Amount(t.to_string()))
}

/// Decimal → integer micro-units, exact or an error.
pub fn to_micros(d: Decimal) -> Result<i64, MoneyError> {
    let n = d.normalize();
    if n.scale() > STORAGE_SCALE {
        return Err(MoneyError::TooPrecise(d.to_string()));
    }
    let scaled = n
        .checked_mul(Decimal::from(1_000_000u32))
        .ok_or_else(|| MoneyError::Overflow(d.to_string()))?;
    let mantissa = scaled.normalize();
    i64::try_from(mantissa.mantissa() / 10i128.pow(mantissa.scale()))
        .map_err(|_| MoneyError::Overflow(d.to_string()))
}

/// Integer micro-units → Decimal (scale 6, normalized for display by callers).
pub fn from_micros(m: i64) -> Decimal {
    Decimal::new(m, STORAGE_SCALE).normalize()
}

/// Formats with at least `min_digits` decimals and no trailing zeros beyond them.
pub fn format_amount(d: Decimal, min_digits: u32) -> String {
    let mut n = d.normalize();
    if n.scale() < min_digits {
        n.rescale(min_digits);
    }
    let s = n.to_string();
    if s == "-0" || s.starts_with("-0.") && n.is_zero() {
        return s.trim_start_matches('-').to_string();
    }
    s
}

/// Stored micro-units as the plain decimal string reports print, with the currency's minor digits (`1160.00`);
/// a currency the catalog does not know prints with two.
pub fn format_micros(micros: i64, currency: &str) -> String {
    let digits = Currency::parse(currency)
        .map(|c| c.minor_digits())
        .unwrap_or(2);
    format_amount(from_micros(micros), digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exactly_and_prints_minor_digits() {
        let m = Money::parse("1160", Currency::MXN).unwrap();
        assert_eq!(m.display_amount(), "1160.00");
        let m = Money::parse("0.125", Currency::MXN).unwrap();
        assert_eq!(m.display_amount(), "0.125");
        assert_eq!(
            Money::parse(".5", Currency::USD).unwrap().display_amount(),
            "0.50"
        );
        assert_eq!(
            Money::parse("-3.10", Currency::USD)
                .unwrap()
                .display_amount(),
            "-3.10"
        );
        assert!(Money::parse("1e5", Currency::MXN).is_err());
        assert!(Money::parse("1,000.00", Currency::MXN).is_err());
        assert!(Money::parse("", Currency::MXN).is_err());
        assert!(Money::parse("-", Currency::MXN).is_err());
        assert_eq!(
            format_amount(Decimal::new(100000000, 2), 2),
            "1000000.00",
            "never exponent form"
        );
    }

    #[test]
    fn micros_are_exact_or_refused() {
        assert_eq!(
            to_micros(parse_decimal("1160.000001").unwrap()).unwrap(),
            1_160_000_001
        );
        assert!(to_micros(parse_decimal("0.0000001").unwrap()).is_err());
        assert_eq!(from_micros(1_160_000_000).to_string(), "1160");
        assert_eq!(to_micros(parse_decimal("-0.5").unwrap()).unwrap(), -500_000);
    }

    #[test]
    fn currency_rules() {
        assert_eq!(Currency::parse("mxn").unwrap(), Currency::MXN);
        assert!(Currency::parse("MX").is_err());
        assert!(Currency::parse("M1N").is_err());
        assert_eq!(Currency::parse("JPY").unwrap().minor_digits(), 0);
        let a = Money::parse("1", Currency::MXN).unwrap();
        let b = Money::parse("1", Currency::USD).unwrap();
        assert!(a.checked_add(b).is_err());
    }

    proptest! {
        #[test]
        fn micros_round_trip(m in -9_000_000_000_000i64..9_000_000_000_000i64) {
            let d = from_micros(m);
            prop_assert_eq!(to_micros(d).unwrap(), m);
            let s = format_amount(d, 2);
            prop_assert_eq!(to_micros(parse_decimal(&s).unwrap()).unwrap(), m);
        }
    }
}
