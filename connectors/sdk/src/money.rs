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

    /// Parses a code and checks it against SAT's `c_Moneda` catalog (the ISO 4217 codes, funds and metals
    /// included, plus `XXX` and the withdrawn codes older CFDI may carry): what a CFDI `Moneda`, `MonedaP` or
    /// `MonedaDR` may hold. `XYZ` is refused.
    pub fn parse_known(s: &str) -> Result<Self, MoneyError> {
        let c = Currency::parse(s)?;
        if c.is_known() {
            Ok(c)
        } else {
            Err(MoneyError::UnknownCurrency(c.as_str().to_string()))
        }
    }

    /// Whether SAT's `c_Moneda` catalog has this code.
    pub fn is_known(&self) -> bool {
        C_MONEDA.binary_search(&self.0).is_ok()
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

/// SAT `c_Moneda`: ISO 4217 alphabetic codes (with funds and metals), `XXX`, and withdrawn codes (`BYR`, `MRO`,
/// `STD`, `VEF`, `HRK`, `CUC`, `SLL`, `ZWL`) that CFDI issued before their withdrawal carry. Sorted.
static C_MONEDA: &[[u8; 3]] = &[
    *b"AED", *b"AFN", *b"ALL", *b"AMD", *b"ANG", *b"AOA", *b"ARS", *b"AUD", *b"AWG", *b"AZN",
    *b"BAM", *b"BBD", *b"BDT", *b"BGN", *b"BHD", *b"BIF", *b"BMD", *b"BND", *b"BOB", *b"BOV",
    *b"BRL", *b"BSD", *b"BTN", *b"BWP", *b"BYN", *b"BYR", *b"BZD", *b"CAD", *b"CDF", *b"CHE",
    *b"CHF", *b"CHW", *b"CLF", *b"CLP", *b"CNY", *b"COP", *b"COU", *b"CRC", *b"CUC", *b"CUP",
    *b"CVE", *b"CZK", *b"DJF", *b"DKK", *b"DOP", *b"DZD", *b"EGP", *b"ERN", *b"ETB", *b"EUR",
    *b"FJD", *b"FKP", *b"GBP", *b"GEL", *b"GHS", *b"GIP", *b"GMD", *b"GNF", *b"GTQ", *b"GYD",
    *b"HKD", *b"HNL", *b"HRK", *b"HTG", *b"HUF", *b"IDR", *b"ILS", *b"INR", *b"IQD", *b"IRR",
    *b"ISK", *b"JMD", *b"JOD", *b"JPY", *b"KES", *b"KGS", *b"KHR", *b"KMF", *b"KPW", *b"KRW",
    *b"KWD", *b"KYD", *b"KZT", *b"LAK", *b"LBP", *b"LKR", *b"LRD", *b"LSL", *b"LYD", *b"MAD",
    *b"MDL", *b"MGA", *b"MKD", *b"MMK", *b"MNT", *b"MOP", *b"MRO", *b"MRU", *b"MUR", *b"MVR",
    *b"MWK", *b"MXN", *b"MXV", *b"MYR", *b"MZN", *b"NAD", *b"NGN", *b"NIO", *b"NOK", *b"NPR",
    *b"NZD", *b"OMR", *b"PAB", *b"PEN", *b"PGK", *b"PHP", *b"PKR", *b"PLN", *b"PYG", *b"QAR",
    *b"RON", *b"RSD", *b"RUB", *b"RWF", *b"SAR", *b"SBD", *b"SCR", *b"SDG", *b"SEK", *b"SGD",
    *b"SHP", *b"SLE", *b"SLL", *b"SOS", *b"SRD", *b"SSP", *b"STD", *b"STN", *b"SVC", *b"SYP",
    *b"SZL", *b"THB", *b"TJS", *b"TMT", *b"TND", *b"TOP", *b"TRY", *b"TTD", *b"TWD", *b"TZS",
    *b"UAH", *b"UGX", *b"USD", *b"USN", *b"UYI", *b"UYU", *b"UYW", *b"UZS", *b"VED", *b"VEF",
    *b"VES", *b"VND", *b"VUV", *b"WST", *b"XAF", *b"XAG", *b"XAU", *b"XBA", *b"XBB", *b"XBC",
    *b"XBD", *b"XCD", *b"XCG", *b"XDR", *b"XOF", *b"XPD", *b"XPF", *b"XPT", *b"XSU", *b"XTS",
    *b"XUA", *b"XXX", *b"YER", *b"ZAR", *b"ZMW", *b"ZWG", *b"ZWL",
];

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
    #[error("{0:?} is not a currency of SAT's c_Moneda catalog (ISO 4217 codes and XXX)")]
    UnknownCurrency(String),
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
        assert_eq!(Currency::parse_known("usd").unwrap(), Currency::USD);
        assert!(Currency::parse_known("XXX").is_ok());
        assert!(Currency::parse_known("MXV").is_ok());
        assert!(Currency::parse_known("XYZ").is_err());
        assert!(Currency::parse_known("ABC").is_err());
        assert!(
            C_MONEDA.windows(2).all(|w| w[0] < w[1]),
            "sorted for binary search"
        );
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
