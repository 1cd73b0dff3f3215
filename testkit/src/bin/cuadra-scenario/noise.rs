//! The raw material of noise: names, RFCs and CLABEs with valid check digits, and the ways people and banks
//! mangle them (legal-form spellings, accents, truncation at 40 characters, folio spellings and typos).

use super::plan::Rng;
use cuadra_sdk::{clabe_check_digit, Rfc};

pub const SURNAMES: [&str; 40] = [
    "GONZÁLEZ",
    "HERNÁNDEZ",
    "MARTÍNEZ",
    "LÓPEZ",
    "RAMÍREZ",
    "PÉREZ",
    "SÁNCHEZ",
    "GÓMEZ",
    "DÍAZ",
    "TORRES",
    "RUIZ",
    "VÁZQUEZ",
    "MORALES",
    "JIMÉNEZ",
    "REYES",
    "GUTIÉRREZ",
    "ORTIZ",
    "CHÁVEZ",
    "CASTILLO",
    "MENDOZA",
    "AGUILAR",
    "MORENO",
    "ROMERO",
    "HERRERA",
    "MEDINA",
    "VARGAS",
    "CASTRO",
    "GUZMÁN",
    "FERNÁNDEZ",
    "RÍOS",
    "NÚÑEZ",
    "SALAZAR",
    "IBARRA",
    "ZÚÑIGA",
    "MUÑOZ",
    "ESPINOZA",
    "ACEVEDO",
    "VILLARREAL",
    "CERVANTES",
    "PEÑA",
];
pub const ACTIVITIES: [&str; 8] = [
    "COMERCIALIZADORA",
    "DISTRIBUIDORA",
    "SERVICIOS",
    "INDUSTRIAS",
    "CONSTRUCTORA",
    "ALIMENTOS",
    "TRANSPORTES",
    "TECNOLOGÍA",
];
pub const REGIONS: [&str; 10] = [
    "DEL NORTE",
    "DEL BAJÍO",
    "PENINSULAR",
    "DE LA MONTAÑA",
    "DEL PACÍFICO",
    "DE OCCIDENTE",
    "DEL GOLFO",
    "DEL CENTRO",
    "DEL SURESTE",
    "MAGISTERIAL",
];
pub const BANKS: [&str; 8] = ["002", "012", "014", "021", "030", "072", "127", "137"];
pub const PEOPLE: [&str; 8] = [
    "JUAN CARLOS PEREZ SOTO",
    "MARIA FERNANDA LUNA RIOS",
    "ROBERTO ALANIS GARZA",
    "ANA SOFIA TREVIÑO",
    "LUIS ENRIQUE PADILLA",
    "GABRIELA NAVA ORTEGA",
    "JOSE ANTONIO VELA",
    "PATRICIA CORONA MEZA",
];

pub fn rfc_with_check(first11: &str) -> String {
    let probe = format!("{first11}0");
    let digit = Rfc::parse(&probe)
        .map(|r| r.expected_check_digit())
        .unwrap_or('0');
    format!("{first11}{digit}")
}

pub fn clabe(r: &mut Rng, bank: &str) -> String {
    let first = format!("{bank}{}", r.digits(14));
    let digits: Vec<u8> = first.bytes().map(|b| b - b'0').collect();
    format!("{first}{}", clabe_check_digit(&digits))
}

pub fn customer_rfc(r: &mut Rng, idx: usize, name: &str) -> String {
    const L: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let letters: String = name
        .split_whitespace()
        .take(3)
        .map(|w| {
            let c = deunicode_char(w.chars().next().unwrap_or('X'));
            if c.is_ascii_uppercase() {
                c
            } else {
                'X'
            }
        })
        .collect();
    let yy = 80 + (idx / 4000) % 20;
    let mm = 1 + (idx / 28) % 12;
    let dd = 1 + idx % 28;
    let h1 = L[r.below(26) as usize] as char;
    let h2 = char::from(b'0' + (idx % 10) as u8);
    rfc_with_check(&format!("{letters:X<3}{yy:02}{mm:02}{dd:02}{h1}{h2}"))
}

pub fn deunicode_char(c: char) -> char {
    match c {
        'Á' | 'À' => 'A',
        'É' => 'E',
        'Í' => 'I',
        'Ó' => 'O',
        'Ú' | 'Ü' => 'U',
        'Ñ' => 'N',
        'á' => 'a',
        'é' => 'e',
        'í' => 'i',
        'ó' => 'o',
        'ú' | 'ü' => 'u',
        'ñ' => 'n',
        c => c,
    }
}

pub fn strip_accents(s: &str) -> String {
    s.chars().map(deunicode_char).collect()
}

pub fn truncate40(s: &str) -> String {
    s.chars()
        .take(40)
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// The serie and folio written the ways people write them in a SPEI concepto.
pub fn folio_variant(r: &mut Rng, serie: &str, folio: u32) -> String {
    match r.below(7) {
        0 => format!("FACTURA {serie}-{folio}"),
        1 => format!("FACT {serie}{folio}"),
        2 => format!("PAGO FAC. {serie} {folio}"),
        3 => format!("{serie}-{folio:07}"),
        4 => format!("factura {}-{folio}", serie.to_lowercase()),
        5 => format!("FOLIO {folio} SERIE {serie}"),
        _ => format!("F {serie}-{folio}"),
    }
}

/// A folio with one typing mistake: two adjacent digits swapped, or one digit changed.
pub fn typo(r: &mut Rng, folio: u32) -> String {
    let mut d: Vec<u8> = folio.to_string().into_bytes();
    let n = d.len();
    if n >= 2 && r.chance(0.5) {
        let i = r.below(n as u64 - 1) as usize;
        if d[i] != d[i + 1] {
            d.swap(i, i + 1);
            return String::from_utf8(d).unwrap_or_default();
        }
    }
    let i = r.below(n as u64) as usize;
    d[i] = b'0' + ((d[i] - b'0' + 1 + r.below(8) as u8) % 10);
    String::from_utf8(d).unwrap_or_default()
}

/// The customer's name as an unknown bank account's holder shows it.
pub fn name_variant(r: &mut Rng, name: &str) -> String {
    let base = name.trim_end_matches(" SA DE CV");
    let form = *r.pick(&[
        " S.A. DE C.V.",
        " SA DE CV",
        " S A DE C V",
        " SA. DE CV.",
        ", S.A. de C.V.",
    ]);
    let mut s = format!("{base}{form}");
    if r.chance(0.5) {
        s = strip_accents(&s);
    }
    if r.chance(0.3) {
        s = s
            .split_whitespace()
            .map(|w| {
                let mut c = w.chars();
                match c.next() {
                    Some(f) => f.to_string() + &c.as_str().to_lowercase(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    truncate40(&s)
}
