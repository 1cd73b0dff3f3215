//! Stand-in for the fuzz targets: random and mutated inputs through the same entry points; none may panic.

use super::fixture;
use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    [
        "invoice-40-ppd.xml",
        "invoice-33-usd.xml",
        "egreso-40-rel01.xml",
        "pago-20-equivalencia.xml",
        "pago-10.xml",
        "malformed.xml",
        "doctype-attack.xml",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        cuadra_cfdi::fuzz::cfdi_parse(&data);
        cuadra_cfdi::fuzz::sat_metadata(&data);
        cuadra_cfdi::fuzz::sat_package(&data);
    }

    #[test]
    fn mutated_documents_never_panic(
        which in 0usize..7,
        edits in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..12),
    ) {
        let mut doc = seeds()[which].clone();
        for (pos, byte, op) in edits {
            if doc.is_empty() { break; }
            let i = pos as usize % doc.len();
            match op {
                0 => doc[i] = byte,
                1 => { doc.remove(i); }
                _ => doc.insert(i, byte),
            }
        }
        cuadra_cfdi::fuzz::cfdi_parse(&doc);
        let mut meta = b"Uuid~RfcEmisor~Monto~Estatus\r\n".to_vec();
        meta.extend_from_slice(&doc[..doc.len().min(300)]);
        cuadra_cfdi::fuzz::sat_metadata(&meta);
    }

    #[test]
    fn mutated_packages_never_panic(edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8)) {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for (i, s) in seeds().iter().enumerate().take(3) {
            w.start_file(format!("{i}.xml"), opts).unwrap();
            std::io::Write::write_all(&mut w, s).unwrap();
        }
        let mut z = w.finish().unwrap().into_inner();
        for (pos, byte) in edits {
            let i = pos as usize % z.len();
            z[i] = byte;
        }
        cuadra_cfdi::fuzz::sat_package(&z);
    }
}
