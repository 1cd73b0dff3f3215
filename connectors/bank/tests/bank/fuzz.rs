//! Stand-in for the cargo-fuzz targets: the same entry points over random bytes and mutated fixtures.

use crate::support::own_fixture;
use cuadra_bank::fuzzing;
use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    [
        "camt053_mx_v08.xml",
        "camt053_v02_prefixed.xml",
        "mt940_quirks.sta",
        "ofx_v1_sgml.ofx",
        "ofx_v2_xml.ofx",
        "csv_mx_normalizado.csv",
        "cep_tipo1.xml",
    ]
    .iter()
    .map(|n| std::fs::read(own_fixture(n)).expect("fixture"))
    .collect()
}

fn all(data: &[u8]) {
    fuzzing::camt(data);
    fuzzing::mt940(data);
    fuzzing::ofx(data);
    fuzzing::csv_statement(data);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        all(&data);
    }

    #[test]
    fn mutated_fixtures_never_panic(seed in 0usize..7, edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..12)) {
        let mut data = seeds()[seed].clone();
        for (pos, byte, op) in edits {
            if data.is_empty() { break; }
            let i = pos % data.len();
            match op {
                0 => data[i] = byte,
                1 => { data.remove(i); }
                _ => data.truncate(i),
            }
        }
        all(&data);
    }
}

/// cargo-fuzz `mt940` crash: a `:25:` account ending in a multi-byte character was split inside it.
#[test]
fn mt940_account_ending_in_multibyte_char() {
    fuzzing::mt940(b":\n:23:\n:2\n:25:\n\xff\xff\xff\xff::[\xd6\x8a");
    fuzzing::mt940(":20:X\n:25:12345678\u{d6}\u{d6}\n".as_bytes());
}
