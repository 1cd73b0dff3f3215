//! Metadata files, packages and the file importer over hand-made inputs.

use super::{company, fixture};
use cuadra_cfdi::{read_metadata, CfdiImporter, Limits, MetadataItem};
use cuadra_sdk::{CfdiState, Delivery, FileImporter, ImportOptions, InputError, Record};
use std::io::Write;

const META_CRLF: &str = "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision~FechaCertificacionSat~Monto~EfectoComprobante~Estatus~FechaCancelacion\r\n\
AAAAAAAA-0000-4000-8000-000000000010~EKU9003173C9~ESCUELA KEMPER URGATE~KIJ0906199R1~KIJ, S.A DE C.V.~SAT970701NN3~2024-02-01 10:00:00~2024-02-01 10:00:07~11600.00~I~0~2024-02-02 10:05:00\r\n\
AAAAAAAA-0000-4000-8000-000000000011~EKU9003173C9~ESCUELA KEMPER URGATE~KIJ0906199R1~KIJ, S.A\nDE C.V.~SAT970701NN3~2024-02-02 10:00:00~2024-02-02 10:00:06~11600.00~I~1~\r\n\
~EKU9003173C9~X~KIJ0906199R1~Y~SAT970701NN3~2024-02-02 10:00:00~2024-02-02 10:00:06~1.00~I~1~\r\n\
\r\n\
AAAAAAAA-0000-4000-8000-000000000031~EKU9003173C9~ESCUELA KEMPER URGATE~KIJ0906199R1~KIJ~SAT970701NN3~2024-04-10 13:00:00~2024-04-10 13:00:04~0.00~P~1~";

fn collect_meta(text: &[u8]) -> (Vec<MetadataItem>, Vec<cuadra_cfdi::RowProblem>) {
    let mut items = Vec::new();
    let mut problems = Vec::new();
    read_metadata(
        text,
        &mut |i| {
            items.push(i);
            Ok(())
        },
        &mut |p| problems.push(p),
    )
    .unwrap();
    (items, problems)
}

#[test]
fn metadata_with_cancelled_row_inner_lf_and_empty_uuid() {
    let (items, problems) = collect_meta(META_CRLF.as_bytes());
    assert_eq!(items.len(), 3, "{items:?}");
    let MetadataItem::Status(first) = &items[0] else {
        panic!()
    };
    assert_eq!(
        first.record.uuid.as_str(),
        "aaaaaaaa-0000-4000-8000-000000000010"
    );
    assert_eq!(first.record.state, CfdiState::Cancelado);
    // 10:05 Mexico City = 16:05 UTC.
    assert_eq!(
        first.record.cancelled_at.unwrap().to_rfc3339(),
        "2024-02-02T16:05:00+00:00"
    );
    assert_eq!(first.record.total.unwrap().to_string(), "11600.00");
    assert_eq!(first.record.tipo.as_deref(), Some("I"));
    assert_eq!(first.line, 2);
    let MetadataItem::Status(second) = &items[1] else {
        panic!()
    };
    assert_eq!(second.record.state, CfdiState::Vigente);
    assert_eq!(
        second.record.receiver_rfc.as_ref().unwrap().as_str(),
        "KIJ0906199R1"
    );
    assert!(second.raw.contains(&b'\n'), "raw keeps the inner LF");
    let MetadataItem::Status(third) = &items[2] else {
        panic!()
    };
    assert_eq!(third.line, 7);
    assert_eq!(third.record.tipo.as_deref(), Some("P"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].line, 5);
    assert!(problems[0].message.contains("empty Uuid"));
}

#[test]
fn metadata_lf_third_party_and_not_metadata() {
    let lf = META_CRLF.replace("\r\n", "\n").replace("S.A\nDE", "S.A DE");
    let (items, _) = collect_meta(lf.as_bytes());
    assert_eq!(items.len(), 3);
    let tp = "Uuid~RfcACuentaTerceros~NombreACuentaTerceros\nAaaaaaaa-0000-4000-8000-000000000010~AAAA010101AAA~Registro 1";
    let (items, _) = collect_meta(tp.as_bytes());
    let [MetadataItem::ThirdParty(t)] = items.as_slice() else {
        panic!("{items:?}")
    };
    assert_eq!(t.rfc, "AAAA010101AAA");
    assert_eq!(t.uuid.as_str(), "aaaaaaaa-0000-4000-8000-000000000010");
    let e = read_metadata(&b"hello~world\n"[..], &mut |_| Ok(()), &mut |_| {});
    assert!(e.is_err());
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn run_package(bytes: &[u8], limits: &Limits) -> (Vec<Delivery>, Vec<InputError>) {
    let mut got = Vec::new();
    let mut bad = Vec::new();
    cuadra_cfdi::read_package_bytes(
        bytes,
        Some("pkg.zip"),
        &company(),
        limits,
        &mut |d| {
            got.push(d);
            Ok(())
        },
        &mut |e| bad.push(e),
    )
    .unwrap();
    (got, bad)
}

#[test]
fn package_with_bad_and_decoy_entries() {
    let inv = fixture("invoice-40-ppd.xml");
    let pay = fixture("pago-20-equivalencia.xml");
    let bytes = zip_of(&[
        ("cccccccc-0000-4000-8000-000000000001.xml", &inv),
        ("cccccccc-0000-4000-8000-000000000001.xml.xml", &inv),
        ("broken.xml", &fixture("malformed.xml")),
        ("__MACOSX/._x.xml", b"junk"),
        ("other.txt", b"hello"),
        ("empty-file", b""),
        ("pay.XML", &pay),
        ("meta_01.txt", META_CRLF.as_bytes()),
    ]);
    let (got, bad) = run_package(&bytes, &Limits::default());
    let kinds: Vec<_> = got
        .iter()
        .map(|d| (d.kind.as_str(), d.external_id.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("cfdi", "cccccccc-0000-4000-8000-000000000001"),
            ("cfdi", "cccccccc-0000-4000-8000-000000000004"),
            ("sat-metadata", "aaaaaaaa-0000-4000-8000-000000000010"),
            ("sat-metadata", "aaaaaaaa-0000-4000-8000-000000000011"),
            ("sat-metadata", "aaaaaaaa-0000-4000-8000-000000000031"),
        ]
    );
    assert_eq!(got[0].raw, inv, "raw bytes are exact");
    assert!(matches!(got[1].records[0], Record::Payment(_)));
    assert!(matches!(got[2].records[0], Record::CfdiStatus(_)));
    let bad_s: Vec<String> = bad.iter().map(|e| e.to_string()).collect();
    assert_eq!(bad.len(), 6, "{bad_s:#?}");
    let broken = bad
        .iter()
        .find(|e| e.location.entry.as_deref() == Some("broken.xml"))
        .unwrap();
    assert_eq!(broken.location.file.as_deref(), Some("pkg.zip"));
    assert_eq!(broken.location.line, Some(4));
    assert!(broken.location.column.is_some());
    assert!(bad_s.iter().any(|s| s.contains("same CFDI")), "{bad_s:#?}");
    assert!(
        bad_s
            .iter()
            .any(|s| s.contains("empty Uuid") && s.contains("line 5")),
        "{bad_s:#?}"
    );
}

#[test]
fn zip_bomb_and_not_a_zip() {
    let big = vec![b'<'; 3 * 1024 * 1024];
    let bytes = zip_of(&[("bomb.xml", &big), ("bomb.txt", &big)]);
    let (got, bad) = run_package(&bytes, &Limits::default());
    assert!(got.is_empty());
    assert_eq!(bad.len(), 2);
    assert!(
        bad.iter().all(|e| e.message.contains("zip bomb")),
        "{bad:?}"
    );
    let small = Limits {
        max_document_bytes: 1000,
        ..Limits::default()
    };
    let (_, bad) = run_package(
        &zip_of(&[("a.xml", &fixture("invoice-40-ppd.xml"))]),
        &small,
    );
    assert!(bad[0].message.contains("limit"), "{bad:?}");
    let e = cuadra_cfdi::read_package_bytes(
        b"",
        None,
        &company(),
        &Limits::default(),
        &mut |_| Ok(()),
        &mut |_| {},
    );
    assert!(e.unwrap_err().message.contains("zip"));
}

#[test]
fn importer_reads_files_packages_and_folders() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("2024");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("a.xml"), fixture("invoice-33-usd.xml")).unwrap();
    std::fs::write(sub.join("a.pdf"), b"%PDF").unwrap();
    std::fs::write(dir.path().join("bad.xml"), fixture("doctype-attack.xml")).unwrap();
    std::fs::write(dir.path().join("meta.txt"), META_CRLF).unwrap();
    std::fs::write(
        dir.path().join("pkg.zip"),
        zip_of(&[("x.xml", &fixture("egreso-40-rel01.xml"))]),
    )
    .unwrap();
    let imp = CfdiImporter::new(company());
    assert_eq!(imp.family(), "cfdi");
    assert!(imp.sniff("x.xml", &fixture("invoice-40-ppd.xml")[..300]));
    assert!(!imp.sniff(
        "camt.xml",
        b"<?xml version=\"1.0\"?><Document xmlns=\"urn:iso\">"
    ));
    assert!(imp.sniff("m.txt", META_CRLF.as_bytes()));
    assert!(imp.sniff("p.zip", b"PK\x03\x04"));
    let mut got = Vec::new();
    let mut bad = Vec::new();
    imp.read(
        dir.path(),
        &ImportOptions::default(),
        &mut |d| {
            got.push(d);
            Ok(())
        },
        &mut |e| bad.push(e),
    )
    .unwrap();
    let ids: Vec<_> = got
        .iter()
        .map(|d| (d.kind.as_str(), d.external_id.as_str()))
        .collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(ids[0], ("cfdi", "cccccccc-0000-4000-8000-000000000002"));
    assert_eq!(ids[4], ("cfdi", "cccccccc-0000-4000-8000-000000000003"));
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad
        .iter()
        .any(|e| e.message.contains("DOCTYPE") && e.location.line == Some(2)));
    // An error from `out` stops reading.
    let err = imp
        .read(
            dir.path(),
            &ImportOptions::default(),
            &mut |_| Err(InputError::new(Default::default(), "full")),
            &mut |_| {},
        )
        .unwrap_err();
    assert!(err.message.contains("full"));
    let err = imp.read(
        &dir.path().join("2024/a.pdf"),
        &ImportOptions::default(),
        &mut |_| Ok(()),
        &mut |_| {},
    );
    assert!(err.is_err());
}
