//! Identifiers that carry meaning: RFC, CLABE, CFDI UUID and idempotency keys. Each has a private field and a
//! fallible constructor; raw strings stop at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("RFC {0:?} is not 12 (company) or 13 (person) characters of the form AAA(A)YYMMDDXXX")]
    RfcFormat(String),
    #[error("RFC {value:?} has check digit {found:?}, expected {expected:?}")]
    RfcCheckDigit {
        value: String,
        found: char,
        expected: char,
    },
    #[error("CLABE {0:?} is not 18 digits")]
    ClabeFormat(String),
    #[error("CLABE {value:?} has check digit {found}, expected {expected}")]
    ClabeCheckDigit {
        value: String,
        found: u8,
        expected: u8,
    },
    #[error("UUID {0:?} is not 36 characters of the form 8-4-4-4-12 hexadecimal digits")]
    Uuid(String),
    #[error("idempotency key must be 1 to 255 printable ASCII characters")]
    IdempotencyKey,
}

/// A Mexican taxpayer id: 12 characters for companies, 13 for persons. Upper-cased on parse.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rfc(String);

const RFC_ALPHABET: &str = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ Ñ";

impl Rfc {
    /// Checks the shape (letters, a YYMMDD date, a 3-character homoclave) without the check digit: CFDI and bank
    /// data carry RFCs as the SAT issued them, and SAT test RFCs do not all satisfy the digit.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let up: String = s.trim().to_uppercase();
        let chars: Vec<char> = up.chars().collect();
        let letters = match chars.len() {
            12 => 3,
            13 => 4,
            _ => return Err(IdError::RfcFormat(s.trim().to_string())),
        };
        let ok_letters = chars[..letters]
            .iter()
            .all(|c| c.is_ascii_uppercase() || *c == '&' || *c == 'Ñ');
        let ok_date = chars[letters..letters + 6]
            .iter()
            .all(|c| c.is_ascii_digit());
        let ok_homo = chars[letters + 6..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !(ok_letters && ok_date && ok_homo) {
            return Err(IdError::RfcFormat(s.trim().to_string()));
        }
        Ok(Rfc(up))
    }

    /// Shape and check digit (for data a person typed: the customer master).
    pub fn parse_strict(s: &str) -> Result<Self, IdError> {
        let rfc = Rfc::parse(s)?;
        if rfc.is_generic() {
            return Ok(rfc);
        }
        let expected = rfc.expected_check_digit();
        let found = rfc.0.chars().last().unwrap_or(' ');
        if found != expected {
            return Err(IdError::RfcCheckDigit {
                value: rfc.0,
                found,
                expected,
            });
        }
        Ok(rfc)
    }

    /// `XAXX010101000` (público en general) and `XEXX010101000` (foreign residents).
    pub fn is_generic(&self) -> bool {
        self.0 == "XAXX010101000" || self.0 == "XEXX010101000"
    }

    pub fn is_company(&self) -> bool {
        self.0.chars().count() == 12
    }

    /// The SAT's modulo-11 check digit over the first 11 (company, padded with a leading space) or 12 characters.
    pub fn expected_check_digit(&self) -> char {
        let mut chars: Vec<char> = self.0.chars().collect();
        if chars.len() == 12 {
            chars.insert(0, ' ');
        }
        let sum: u32 = chars[..12]
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let v = RFC_ALPHABET.chars().position(|a| a == *c).unwrap_or(0) as u32;
                v * (13 - i as u32)
            })
            .sum();
        match 11 - sum % 11 {
            11 => '0',
            10 => 'A',
            d => char::from_digit(d, 10).unwrap_or('0'),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Masked form for logs at info level: first 3 and last 2 characters.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl TryFrom<String> for Rfc {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Rfc::parse(&s)
    }
}
impl From<Rfc> for String {
    fn from(r: Rfc) -> String {
        r.0
    }
}
impl fmt::Display for Rfc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Rfc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rfc({})", self.masked())
    }
}

/// An 18-digit CLABE (bank 3, plaza 3, account 11, check digit 1).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Clabe(String);

impl Clabe {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let t: String = s
            .trim()
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .collect();
        if t.len() != 18 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::ClabeFormat(s.trim().to_string()));
        }
        let digits: Vec<u8> = t.bytes().map(|b| b - b'0').collect();
        let expected = clabe_check_digit(&digits[..17]);
        if digits[17] != expected {
            return Err(IdError::ClabeCheckDigit {
                value: t,
                found: digits[17],
                expected,
            });
        }
        Ok(Clabe(t))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The three-digit bank code (ABM), e.g. `012` BBVA, `646` STP.
    pub fn bank_code(&self) -> &str {
        &self.0[..3]
    }
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Weights 3, 7, 1 repeating; each product mod 10; check = (10 − sum mod 10) mod 10.
pub fn clabe_check_digit(first17: &[u8]) -> u8 {
    const W: [u32; 3] = [3, 7, 1];
    let sum: u32 = first17
        .iter()
        .enumerate()
        .map(|(i, d)| (*d as u32 * W[i % 3]) % 10)
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl TryFrom<String> for Clabe {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Clabe::parse(&s)
    }
}
impl From<Clabe> for String {
    fn from(c: Clabe) -> String {
        c.0
    }
}
impl fmt::Display for Clabe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Clabe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clabe({})", self.masked())
    }
}

/// The UUID of a CFDI's TimbreFiscalDigital, stored lower-case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CfdiUuid(String);

impl CfdiUuid {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let t = s.trim();
        let b = t.as_bytes();
        let ok = b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            });
        if !ok {
            return Err(IdError::Uuid(t.to_string()));
        }
        Ok(CfdiUuid(t.to_ascii_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for CfdiUuid {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CfdiUuid::parse(&s)
    }
}
impl From<CfdiUuid> for String {
    fn from(c: CfdiUuid) -> String {
        c.0
    }
}
impl fmt::Display for CfdiUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for CfdiUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CfdiUuid({})", self.0)
    }
}

/// The key a receiver uses to recognise a repeated delivery of the same message.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(IdError::IdempotencyKey);
        }
        Ok(IdempotencyKey(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for IdempotencyKey {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        IdempotencyKey::parse(&s)
    }
}
impl From<IdempotencyKey> for String {
    fn from(c: IdempotencyKey) -> String {
        c.0
    }
}
impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Keeps the first 3 and last 2 characters, stars in between (for info-level logs).
pub fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 5 {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..3].iter().collect();
    out.push_str(&"*".repeat(chars.len() - 5));
    out.extend(&chars[chars.len() - 2..]);
    out
}

/// An account number (CLABE, card, bank account) as accounts are compared: without spaces or dashes, upper-case.
pub fn normalize_account(a: &str) -> String {
    a.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_check_digits() {
        // SAT's test FIEL RFC (company) and well-known person RFCs.
        assert!(Rfc::parse_strict("EKU9003173C9").is_ok());
        assert!(Rfc::parse_strict("XAXX010101000").is_ok());
        let e = Rfc::parse_strict("EKU9003173C8").unwrap_err();
        assert!(
            matches!(e, IdError::RfcCheckDigit { expected: '9', .. }),
            "{e}"
        );
        assert!(Rfc::parse("EKU900317").is_err());
        assert!(Rfc::parse("eku9003173c9").is_ok());
        assert!(Rfc::parse("EKU90031X3C9").is_err());
        assert_eq!(Rfc::parse("EKU9003173C9").unwrap().masked(), "EKU*******C9");
    }

    #[test]
    fn clabe_check_digit_examples() {
        // Banxico's published example: 032180000118359719.
        assert!(Clabe::parse("032180000118359719").is_ok());
        assert!(matches!(
            Clabe::parse("032180000118359718"),
            Err(IdError::ClabeCheckDigit { expected: 9, .. })
        ));
        assert!(Clabe::parse("03218000011835971").is_err());
        assert_eq!(
            Clabe::parse("032180000118359719").unwrap().bank_code(),
            "032"
        );
    }

    #[test]
    fn uuid_is_lowercased() {
        let u = CfdiUuid::parse("6D7434A6-E3F2-47AD-9E4C-08849946AFA0").unwrap();
        assert_eq!(u.as_str(), "6d7434a6-e3f2-47ad-9e4c-08849946afa0");
        assert!(CfdiUuid::parse("6D7434A6E3F247AD9E4C08849946AFA0").is_err());
    }
}
