//! Conformance over the shared SAT corpus (`../../../shared/fixtures/sat`): every CFDI file parses or fails with
//! a clear reason, and totals, currencies, relations and payment allocations of a sample match values read from
//! the documents by hand. Skipped (passes with a note) when the corpus is absent.

use super::{company, dec};
use cuadra_cfdi::{parse, Cfdi, ErrorKind, PagosVersion, Tipo};
use cuadra_sdk::{CfdiState, Currency, Delivery, InputError, Record};
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/sat");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: shared SAT corpus not found at {}", p.display());
        None
    }
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut v: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    for p in v {
        if p.is_dir() {
            xml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "xml") {
            out.push(p);
        }
    }
}

#[test]
fn every_cfdi_file_parses_or_fails_with_a_reason() {
    let Some(root) = corpus() else { return };
    let mut files = Vec::new();
    xml_files(&root.join("cfdi"), &mut files);
    xml_files(&root.join("synthetic/cfdi"), &mut files);
    files.push(root.join("packages/cfdi.xml"));
    assert!(files.len() >= 50, "{}", files.len());
    let mut parsed = 0;
    for f in &files {
        let raw = std::fs::read(f).unwrap();
        let name = f.strip_prefix(&root).unwrap().display().to_string();
        match parse(&raw) {
            Ok(c) => {
                parsed += 1;
                let recs = cuadra_cfdi::normalize(&c, &company());
                assert!(!recs.is_empty(), "{name}");
                eprintln!(
                    "ok   {name}: {} {} {} {} pagos={} rel={}",
                    c.version.as_str(),
                    c.tipo.as_str(),
                    c.total,
                    c.moneda,
                    c.pagos.len(),
                    c.relations.len()
                );
            }
            Err(e) => {
                eprintln!("FAIL {name}: {e:?}");
                assert!(!e.message.is_empty());
                let expected = name.contains("v32/")
                    || name.contains("retenciones/")
                    || name.starts_with("packages/cfdi.xml");
                assert!(expected, "{name} should parse: {e}");
                assert!(
                    matches!(e.kind, ErrorKind::Unsupported | ErrorKind::NotComprobante),
                    "{name}: {e}"
                );
            }
        }
    }
    assert!(parsed >= 45, "{parsed}");
}

fn doc(root: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn check<'a>(raw: &'a [u8]) -> Cfdi<'a> {
    parse(raw).unwrap()
}

#[test]
fn sample_values_match_the_documents() {
    let Some(root) = corpus() else { return };
    // Invoice with an escaped ampersand in the RFC, PPD, MXN.
    let raw = doc(
        &root,
        "cfdi/flow-he-40/01-invoice-I-PPD-stamped-rfc-ampersand.xml",
    );
    let c = check(&raw);
    assert_eq!(c.emisor.rfc, "H&E951128469");
    assert_eq!(c.emisor.nombre.as_deref(), Some("HERRERIA & ELECTRICOS"));
    assert_eq!((c.total, c.subtotal), (dec("17852.75"), dec("15390.30")));
    assert_eq!(c.metodo_pago.as_deref(), Some("PPD"));
    assert_eq!(
        c.uuid.as_ref().unwrap().as_str(),
        "6d7434a6-e3f2-47ad-9e4c-08849946afa0"
    );
    let he = vec![cuadra_sdk::Rfc::parse("H&E951128469").unwrap()];
    let recs = cuadra_cfdi::normalize(&c, &he);
    let [Record::Invoice(inv)] = recs.as_slice() else {
        panic!("{recs:?}")
    };
    assert_eq!(inv.total.to_string(), "17852.75 MXN");

    // 3.3 with one CfdiRelacionados (01), upper-case UUIDs lower-cased.
    let raw = doc(&root, "cfdi/v33/cfdiutils-cfdi33-valid.xml");
    let c = check(&raw);
    assert_eq!(c.relations.len(), 1);
    assert_eq!(c.relations[0].tipo, "01");
    assert_eq!(
        c.relations[0].uuids[0].as_str(),
        "a39da66b-52ca-49e3-879b-5c05185b0ef7"
    );
    assert_eq!(
        c.uuid.as_ref().unwrap().as_str(),
        "9fb6ed1a-5f37-4fef-980a-7f8c83b51894"
    );
    assert_eq!(c.fecha_timbrado.unwrap().to_string(), "2017-06-05 09:09:37");

    // USD invoices.
    for f in [
        "cfdi/v33/cfdiutils-created-with-discounts-33-usd.xml",
        "cfdi/v40/cfdiutils-created-with-discounts-40-usd.xml",
    ] {
        let raw = doc(&root, f);
        let c = check(&raw);
        assert_eq!(c.moneda, Currency::USD, "{f}");
        assert_eq!(c.tipo_cambio, Some(dec("18.9008")), "{f}");
        assert_eq!(c.total, dec("3248.00"), "{f}");
        assert!(c.uuid.is_none(), "{f} is unstamped");
    }

    // Substitution (04) and credit note (01), anticipo application (07).
    let raw = doc(&root, "synthetic/cfdi/02b-ingreso-sustitucion-rel04.xml");
    let recs = cuadra_cfdi::normalize(&check(&raw), &company());
    let [Record::Invoice(inv)] = recs.as_slice() else {
        panic!("{recs:?}")
    };
    assert_eq!(
        inv.replaces[0].as_str(),
        "aaaaaaaa-0000-4000-8000-000000000010"
    );
    assert_eq!(inv.total.to_string(), "11600.00 MXN");
    let raw = doc(&root, "synthetic/cfdi/01-egreso-nota-credito-rel01.xml");
    let xiqb = vec![cuadra_sdk::Rfc::parse("XIQB891116QE4").unwrap()];
    let recs = cuadra_cfdi::normalize(&check(&raw), &xiqb);
    let [Record::Credit(cr)] = recs.as_slice() else {
        panic!("{recs:?}")
    };
    assert_eq!(cr.total.to_string(), "953.33 MXN");
    assert_eq!(cr.relation_type.as_deref(), Some("01"));
    assert_eq!(
        cr.applies_to[0].as_str(),
        "6d7434a6-e3f2-47ad-9e4c-08849946afa0"
    );
    let raw = doc(
        &root,
        "synthetic/cfdi/03c-egreso-aplicacion-anticipo-rel07.xml",
    );
    let recs = cuadra_cfdi::normalize(&check(&raw), &company());
    let [Record::Credit(cr)] = recs.as_slice() else {
        panic!("{recs:?}")
    };
    assert_eq!(cr.relation_type.as_deref(), Some("07"));
    assert_eq!(
        cr.applies_to[0].as_str(),
        "aaaaaaaa-0000-4000-8000-000000000021"
    );

    // Nómina is seen, not a receivable.
    let raw = doc(&root, "cfdi/v40/nodecfdi-cfdi40-nomina-valid.xml");
    let c = check(&raw);
    assert_eq!(c.tipo, Tipo::N);
}

#[test]
fn payment_allocations_match_the_documents() {
    let Some(root) = corpus() else { return };
    // Synthetic: MXN payment of a USD invoice.
    let raw = doc(
        &root,
        "synthetic/cfdi/04b-pago20-mxn-paying-usd-invoice.xml",
    );
    let recs = cuadra_cfdi::normalize(&check(&raw), &company());
    let [Record::Payment(p)] = recs.as_slice() else {
        panic!("{recs:?}")
    };
    assert_eq!(p.external_id, "aaaaaaaa-0000-4000-8000-000000000031#0");
    assert_eq!(p.amount.to_string(), "19604.00 MXN");
    assert_eq!(p.operation_number.as_deref(), Some("SPEI-0001"));
    assert_eq!(p.booked_on.to_string(), "2024-04-10");
    let l = &p.remittance[0];
    assert_eq!(l.amount.unwrap().to_string(), "1160.00 USD");
    assert_eq!(l.equivalence, Some(dec("0.0591715976")));
    assert_eq!(
        (l.balance_before, l.balance_after),
        (Some(dec("1160.00")), Some(dec("0.00")))
    );

    // Pagos 2.0, two Pagos (MXN with four documents, USD paying an MXN document).
    let raw = doc(&root, "cfdi/pagos20/cfdiutils-pagos20-calculator-001.xml");
    let c = check(&raw);
    assert_eq!(c.pagos_version, Some(PagosVersion::V20));
    assert_eq!(c.pagos.len(), 2);
    assert_eq!(c.pagos[0].monto, dec("1840"));
    let paid: Vec<_> = c.pagos[0]
        .doctos
        .iter()
        .map(|d| d.imp_pagado.unwrap())
        .collect();
    assert_eq!(paid, vec![dec("850"), dec("478"), dec("150"), dec("362")]);
    assert_eq!(
        c.pagos[0].doctos[0].id_documento.as_deref(),
        Some("6DE9442D-ED57-5320-B2BA-F73E15079FA3")
    );
    assert_eq!(c.pagos[0].doctos[3].num_parcialidad, Some(5));
    assert_eq!(c.pagos[1].moneda, Currency::USD);
    assert_eq!(c.pagos[1].tipo_cambio, Some(dec("17.3608")));
    assert_eq!(c.pagos[1].doctos[0].equivalencia, Some(dec("17.36075")));
    assert_eq!(c.pagos[1].doctos[0].moneda, Currency::MXN);
    assert_eq!(
        c.pagos[1].doctos[0].imp_saldo_insoluto,
        Some(dec("2122.57"))
    );

    // Three USD Pagos.
    let raw = doc(&root, "cfdi/pagos20/cfdiutils-pagos20-calculator-006.xml");
    let c = check(&raw);
    let montos: Vec<_> = c.pagos.iter().map(|p| (p.monto, p.moneda)).collect();
    assert_eq!(
        montos,
        vec![
            (dec("123.45"), Currency::USD),
            (dec("3.75"), Currency::USD),
            (dec("0.23"), Currency::USD)
        ]
    );

    // Anonymised: no IdDocumento → the lines cannot be matched and are dropped, the payment stays.
    let raw = doc(&root, "cfdi/pagos20/cfdiutils-pagos20-calculator-004.xml");
    let c = check(&raw);
    assert_eq!(c.pagos[0].doctos.len(), 43);
    assert!(c.pagos[0].doctos.iter().all(|d| d.id_documento.is_none()));
    assert_eq!(c.pagos[0].monto, dec("1263997.83"));

    // Duplicated DoctoRelacionado is kept as written (the reconciler flags it).
    let raw = doc(&root, "cfdi/flow-xiqb-40/04-payment-P-duplicated-docto.xml");
    let c = check(&raw);
    assert_eq!(c.pagos[0].monto, dec("29344.16"));
    assert_eq!(c.pagos[0].doctos.len(), 2);
    assert!(c.uuid.is_none(), "flow payments are unstamped");

    // Pagos 1.0 partial payment.
    let raw = doc(&root, "cfdi/flow-xiqb-33/03-payment-P-pagos10-partial.xml");
    let c = check(&raw);
    assert_eq!(c.pagos_version, Some(PagosVersion::V10));
    let d = &c.pagos[0].doctos[0];
    assert_eq!(c.pagos[0].monto, dec("3245.12"));
    assert_eq!(d.metodo_pago.as_deref(), Some("PPD"));
    assert_eq!(
        (d.imp_saldo_ant, d.imp_pagado, d.imp_saldo_insoluto),
        (
            Some(dec("5000.43")),
            Some(dec("3245.12")),
            Some(dec("1755.31"))
        )
    );
    assert_eq!(d.num_parcialidad, Some(2));

    // Pagos 1.0 namespace declared at the root.
    let raw = doc(
        &root,
        "cfdi/pagos10/cfdiutils-created-pago-with-ns-at-root-33.xml",
    );
    let c = check(&raw);
    assert_eq!(c.pagos_version, Some(PagosVersion::V10));
    assert!(!c.pagos.is_empty() && !c.pagos[0].doctos.is_empty());
}

fn read_pkg(root: &Path, rel: &str) -> (Vec<Delivery>, Vec<InputError>) {
    let bytes = doc(root, rel);
    let mut got = Vec::new();
    let mut bad = Vec::new();
    cuadra_cfdi::read_package_bytes(
        &bytes,
        Some(rel),
        &company(),
        &Default::default(),
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
fn sat_packages_and_metadata() {
    let Some(root) = corpus() else { return };
    // The 3.2 CFDI inside is refused with a reason, decoys are reported, nothing is delivered.
    let (got, bad) = read_pkg(&root, "packages/cfdi.zip");
    assert!(got.is_empty());
    let msgs: Vec<String> = bad.iter().map(|e| e.to_string()).collect();
    assert!(
        msgs.iter().any(|m| m.contains("3.2 is not supported")),
        "{msgs:#?}"
    );
    assert!(msgs.iter().any(|m| m.contains("__MACOSX")), "{msgs:#?}");
    assert!(
        msgs.iter()
            .any(|m| m.contains("00000000-0000-0000-0000-000000000000.xml")),
        "{msgs:#?}"
    );

    let (got, bad) = read_pkg(&root, "synthetic/packages/cfdi-package.zip");
    assert_eq!(got.len(), 8, "{bad:?}");
    assert!(bad.is_empty(), "{bad:?}");
    assert!(got.iter().all(|d| d.kind == "cfdi"));

    // metadata.txt against metadata.json (the expected parse).
    let expected: serde_json::Value =
        serde_json::from_slice(&doc(&root, "packages/metadata.json")).unwrap();
    let mut items = Vec::new();
    cuadra_cfdi::read_metadata(
        &doc(&root, "packages/metadata.txt")[..],
        &mut |i| {
            items.push(i);
            Ok(())
        },
        &mut |p| panic!("{p:?}"),
    )
    .unwrap();
    assert_eq!(items.len(), expected.as_object().unwrap().len());
    for it in &items {
        let cuadra_cfdi::MetadataItem::Status(row) = it else {
            panic!()
        };
        let key = row.record.uuid.as_str().to_uppercase();
        let e = &expected[&key];
        assert_eq!(
            row.record.issuer_rfc.as_ref().unwrap().as_str(),
            e["rfcEmisor"].as_str().unwrap()
        );
        assert_eq!(
            row.record.receiver_rfc.as_ref().unwrap().as_str(),
            e["rfcReceptor"].as_str().unwrap()
        );
        assert_eq!(
            row.record.total.unwrap().to_string(),
            e["monto"].as_str().unwrap()
        );
        assert_eq!(row.record.tipo.as_deref(), e["efectoComprobante"].as_str());
        assert_eq!(row.record.state == CfdiState::Vigente, e["estatus"] == "1");
    }

    // The same rows in the CRLF package (with decoys), and the terceros package.
    let (got, _) = read_pkg(&root, "packages/metadata.zip");
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|d| d.kind == "sat-metadata"));
    let (got, bad) = read_pkg(&root, "packages/metadata-terceros.zip");
    assert!(!got.is_empty(), "{bad:?}");

    // Synthetic metadata: one cancelled row with its date, one name broken by an inner LF.
    let (got, bad) = read_pkg(&root, "synthetic/packages/metadata-package.zip");
    assert!(bad.is_empty(), "{bad:?}");
    let statuses: Vec<_> = got
        .iter()
        .map(|d| match &d.records[0] {
            Record::CfdiStatus(s) => s.clone(),
            r => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(statuses.len(), 7);
    let cancelled: Vec<_> = statuses
        .iter()
        .filter(|s| s.state == CfdiState::Cancelado)
        .collect();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(
        cancelled[0].uuid.as_str(),
        "aaaaaaaa-0000-4000-8000-000000000010"
    );
    assert_eq!(
        cancelled[0].cancelled_at.unwrap().to_rfc3339(),
        "2024-02-02T16:05:00+00:00"
    );

    // Third-party files: the empty-UUID row is reported with its line, the others read.
    let mut problems = Vec::new();
    let mut n = 0;
    cuadra_cfdi::read_metadata(
        &doc(&root, "packages/metadata-empty-uuid.txt")[..],
        &mut |_| {
            n += 1;
            Ok(())
        },
        &mut |p| problems.push(p),
    )
    .unwrap();
    assert_eq!((n, problems.len()), (0, 1));
    assert_eq!(problems[0].line, 2);
    let mut n = 0;
    cuadra_cfdi::read_metadata(
        &doc(&root, "packages/metadata-extractor.txt")[..],
        &mut |_| {
            n += 1;
            Ok(())
        },
        &mut |p| panic!("{p:?}"),
    )
    .unwrap();
    assert_eq!(n, 3);

    // empty.zip is not a zip.
    let e = cuadra_cfdi::read_package_bytes(
        &doc(&root, "packages/empty.zip"),
        None,
        &company(),
        &Default::default(),
        &mut |_| Ok(()),
        &mut |_| {},
    );
    assert!(e.is_err());
}
