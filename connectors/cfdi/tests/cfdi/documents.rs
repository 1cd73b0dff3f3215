//! Parser and normalization over the hand-written fixtures.

use super::{company, dec, fixture};
use cuadra_cfdi::{parse, CfdiVersion, ErrorKind, PagosVersion, Tipo};
use cuadra_sdk::{Currency, InvoiceRef, PaymentKind, PaymentMethod, Record};

#[test]
fn invoice_40_ppd_with_two_relation_groups() {
    let raw = fixture("invoice-40-ppd.xml");
    let c = parse(&raw).unwrap();
    assert_eq!(c.version, CfdiVersion::V40);
    assert_eq!(c.tipo, Tipo::I);
    assert_eq!(c.serie.as_deref(), Some("A"));
    assert_eq!(c.folio.as_deref(), Some("1001"));
    assert_eq!(c.total.to_string(), "1160.00", "decimals as written");
    assert_eq!(c.subtotal.to_string(), "1000.00");
    assert_eq!(c.tipo_cambio, Some(dec("1")));
    assert_eq!(c.moneda, Currency::MXN);
    assert_eq!(c.metodo_pago.as_deref(), Some("PPD"));
    assert_eq!(c.emisor.rfc, "EKU9003173C9");
    assert_eq!(
        c.receptor.nombre.as_deref(),
        Some("KIJ, S.A DE C.V. & ASOCIADOS")
    );
    assert_eq!(
        c.uuid.as_ref().unwrap().as_str(),
        "cccccccc-0000-4000-8000-000000000001"
    );
    assert_eq!(c.fecha_timbrado.unwrap().to_string(), "2024-03-01 09:30:07");
    assert_eq!(c.relations.len(), 2);
    assert_eq!(c.relations[0].tipo, "04");
    assert_eq!(
        c.relations[0].uuids[0].as_str(),
        "bbbbbbbb-0000-4000-8000-000000000001"
    );
    assert_eq!(c.relations[1].tipo, "07");
    assert!(c.pagos.is_empty(), "addenda content is not parsed");

    let recs = cuadra_cfdi::normalize(&c, &company());
    let [Record::Invoice(inv)] = recs.as_slice() else {
        panic!("{recs:?}")
    };
    assert_eq!(inv.replaces.len(), 1);
    assert_eq!(
        inv.replaces[0].as_str(),
        "bbbbbbbb-0000-4000-8000-000000000001"
    );
    assert_eq!(inv.payment_method, Some(PaymentMethod::Ppd));
    assert_eq!(inv.payment_form.as_deref(), Some("99"));
    assert_eq!(inv.total.display_amount(), "1160.00");
    // 09:30 in Mexico City (UTC-6 since 2022) is 15:30 UTC.
    assert_eq!(inv.issued_at.to_rfc3339(), "2024-03-01T15:30:00+00:00");
    assert_eq!(inv.version, "4.0");
    assert_eq!(inv.customer_rfc.as_ref().unwrap().as_str(), "KIJ0906199R1");
}

#[test]
fn invoice_33_usd_other_prefixes_and_dst_fold() {
    let raw = fixture("invoice-33-usd.xml");
    let c = parse(&raw).unwrap();
    assert_eq!(c.version, CfdiVersion::V33);
    assert_eq!(c.moneda, Currency::USD);
    assert_eq!(c.tipo_cambio, Some(dec("20.123456")));
    assert_eq!(c.total, dec("116.58"));
    assert_eq!(c.relations.len(), 1);
    assert_eq!(c.relations[0].tipo, "02");
    assert!(c.emisor.nombre.is_none());
    let recs = cuadra_cfdi::normalize(&c, &company());
    let [Record::Invoice(inv)] = recs.as_slice() else {
        panic!("{recs:?}")
    };
    assert!(inv.replaces.is_empty(), "02 is not a substitution");
    // 2021-11-07 01:30 was not ambiguous in Mexico City (DST ended 2021-10-31): CST, UTC-6.
    assert_eq!(inv.issued_at.to_rfc3339(), "2021-11-07T07:30:00+00:00");
    assert_eq!(inv.customer_rfc.as_ref().unwrap().as_str(), "XEXX010101000");
}

#[test]
fn egreso_rel01_is_a_credit() {
    let raw = fixture("egreso-40-rel01.xml");
    let c = parse(&raw).unwrap();
    let recs = cuadra_cfdi::normalize(&c, &company());
    let [Record::Credit(cr)] = recs.as_slice() else {
        panic!("{recs:?}")
    };
    assert_eq!(cr.relation_type.as_deref(), Some("01"));
    assert_eq!(cr.applies_to.len(), 2);
    assert_eq!(
        cr.applies_to[1].as_str(),
        "cccccccc-0000-4000-8000-000000000009"
    );
    assert_eq!(cr.total.display_amount(), "1160.00");
    assert_eq!(cr.uuid.as_str(), "cccccccc-0000-4000-8000-000000000003");
}

#[test]
fn pagos20_with_equivalencia_and_two_pagos() {
    let raw = fixture("pago-20-equivalencia.xml");
    let c = parse(&raw).unwrap();
    assert_eq!(c.tipo, Tipo::P);
    assert_eq!(c.moneda.as_str(), "XXX");
    assert_eq!(c.pagos_version, Some(PagosVersion::V20));
    assert_eq!(c.pagos.len(), 2);
    let p = &c.pagos[0];
    assert_eq!(p.monto.to_string(), "20764.00");
    assert_eq!(p.doctos.len(), 2);
    assert_eq!(p.doctos[0].equivalencia, Some(dec("0.0591715976")));
    assert_eq!(p.doctos[0].moneda, Currency::USD);
    let recs = cuadra_cfdi::normalize(&c, &company());
    assert_eq!(recs.len(), 2);
    let Record::Payment(pay) = &recs[0] else {
        panic!("{recs:?}")
    };
    assert_eq!(pay.kind, PaymentKind::Rep);
    assert_eq!(pay.external_id, "cccccccc-0000-4000-8000-000000000004#0");
    assert_eq!(pay.amount.display_amount(), "20764.00");
    assert_eq!(pay.amount.currency(), Currency::MXN);
    assert_eq!(pay.operation_number.as_deref(), Some("SPEI-0001"));
    assert_eq!(pay.payer_account.as_deref(), Some("032180000118359719"));
    assert_eq!(pay.own_account.as_deref(), Some("646180157000000004"));
    assert_eq!(pay.payer_rfc.as_deref(), Some("KIJ0906199R1"));
    assert_eq!(pay.booked_on.to_string(), "2024-04-10");
    let l = &pay.remittance[0];
    assert_eq!(
        l.invoice,
        InvoiceRef::Uuid(
            cuadra_sdk::CfdiUuid::parse("aaaaaaaa-0000-4000-8000-000000000030").unwrap()
        )
    );
    assert_eq!(l.amount.unwrap().to_string(), "1160.00 USD");
    assert_eq!(l.equivalence, Some(dec("0.0591715976")));
    assert_eq!(l.installment, Some(1));
    assert_eq!(l.balance_before, Some(dec("1160.00")));
    assert_eq!(l.balance_after, Some(dec("0.00")));
    let Record::Payment(pay2) = &recs[1] else {
        panic!()
    };
    assert_eq!(pay2.external_id, "cccccccc-0000-4000-8000-000000000004#1");
    assert_eq!(pay2.amount.to_string(), "100.50 USD");
    assert_eq!(
        pay2.remittance[0].invoice,
        InvoiceRef::SerieFolio {
            serie: None,
            folio: "F-9".into()
        },
        "a non-UUID IdDocumento falls back to the folio"
    );
}

#[test]
fn pagos10_tipo_cambio_dr_and_missing_imp_pagado() {
    let raw = fixture("pago-10.xml");
    let c = parse(&raw).unwrap();
    assert_eq!(c.pagos_version, Some(PagosVersion::V10));
    assert_eq!(c.pagos.len(), 2);
    assert_eq!(c.pagos[0].doctos[0].imp_pagado, None);
    assert_eq!(c.pagos[0].doctos[0].metodo_pago.as_deref(), Some("PPD"));
    assert_eq!(c.pagos[1].doctos[0].equivalencia, Some(dec("1.114700")));
    assert_eq!(c.pagos[1].tipo_cambio, Some(dec("21.50")));
    let recs = cuadra_cfdi::normalize(&c, &company());
    let Record::Payment(p0) = &recs[0] else {
        panic!("{recs:?}")
    };
    assert_eq!(
        p0.remittance[0].amount.unwrap().to_string(),
        "5000.00 MXN",
        "ImpPagado defaults to Monto for a single document"
    );
    let Record::Payment(p1) = &recs[1] else {
        panic!()
    };
    assert_eq!(p1.amount.to_string(), "100.00 EUR");
    assert_eq!(p1.remittance[0].amount.unwrap().to_string(), "111.47 USD");
    assert_eq!(p1.remittance[0].installment, Some(3));
}

#[test]
fn received_and_unstamped_are_seen() {
    let raw = fixture("invoice-40-ppd.xml");
    let c = parse(&raw).unwrap();
    let other = vec![cuadra_sdk::Rfc::parse("KIJ0906199R1").unwrap()];
    let recs = cuadra_cfdi::normalize(&c, &other);
    let [Record::Seen(s)] = recs.as_slice() else {
        panic!("{recs:?}")
    };
    assert!(s.reason.contains("received"), "{}", s.reason);
    let raw = String::from_utf8(fixture("egreso-40-rel01.xml")).unwrap();
    let start = raw.find("<cfdi:Complemento>").unwrap();
    let end = raw.find("</cfdi:Complemento>").unwrap() + "</cfdi:Complemento>".len();
    let unstamped = format!("{}{}", &raw[..start], &raw[end..]);
    let c = parse(unstamped.as_bytes()).unwrap();
    assert!(c.uuid.is_none());
    let recs = cuadra_cfdi::normalize(&c, &company());
    let [Record::Seen(s)] = recs.as_slice() else {
        panic!("{recs:?}")
    };
    assert!(s.reason.contains("not stamped"));
}

#[test]
fn malformed_xml_has_line_and_column() {
    let e = parse(&fixture("malformed.xml")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Malformed, "{e}");
    assert_eq!(e.line, 4, "{e}");
    assert!(e.to_string().contains("line 4"), "{e}");
}

#[test]
fn doctype_is_refused() {
    let e = parse(&fixture("doctype-attack.xml")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Forbidden, "{e}");
    assert_eq!((e.line, e.column), (2, 1));
}

#[test]
fn bad_values_point_at_the_attribute() {
    let raw = String::from_utf8(fixture("invoice-40-ppd.xml")).unwrap();
    let bad = raw.replace("Total=\"1160.00\"", "Total=\"1,160.00\"");
    let e = parse(bad.as_bytes()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert_eq!(e.field.as_deref(), Some("Comprobante@Total"));
    assert_eq!(e.line, 3);
    let col = bad.lines().nth(2).unwrap().find("1,160.00").unwrap() as u64 + 1;
    assert_eq!(e.column, col, "{e}");
    let missing = raw.replace(" Moneda=\"MXN\"", "");
    assert!(parse(missing.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("no Moneda"));
}

#[test]
fn size_cap_and_refusals() {
    let raw = fixture("invoice-40-ppd.xml");
    let opts = cuadra_cfdi::ParseOptions {
        max_document_bytes: 100,
    };
    assert_eq!(
        cuadra_cfdi::parse_with(&raw, &opts).unwrap_err().kind,
        ErrorKind::TooLarge
    );
    let v32 = br#"<cfdi:Comprobante xmlns:cfdi="http://www.sat.gob.mx/cfd/3" version="3.2"/>"#;
    assert_eq!(parse(v32).unwrap_err().kind, ErrorKind::Unsupported);
    let ret = br#"<r:Retenciones xmlns:r="http://www.sat.gob.mx/esquemas/retencionpago/2" Version="2.0"/>"#;
    let e = parse(ret).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotComprobante);
    assert!(e.message.contains("retenciones"));
    let other = br#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>"#;
    assert_eq!(parse(other).unwrap_err().kind, ErrorKind::NotComprobante);
    assert_eq!(parse(b"").unwrap_err().kind, ErrorKind::NotComprobante);
    // Prefix bound to the wrong namespace: not a Comprobante even though the prefix is `cfdi`.
    let wrong = br#"<cfdi:Comprobante xmlns:cfdi="urn:x" Version="4.0"/>"#;
    assert_eq!(parse(wrong).unwrap_err().kind, ErrorKind::NotComprobante);
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(&raw);
    assert!(parse(&bom).is_ok(), "a UTF-8 BOM is accepted");
    let two_tfd = String::from_utf8(raw.clone()).unwrap().replace(
        "</cfdi:Complemento>",
        "<tfd:TimbreFiscalDigital Version=\"1.1\" UUID=\"CCCCCCCC-0000-4000-8000-000000000099\"/></cfdi:Complemento>",
    );
    assert!(parse(two_tfd.as_bytes())
        .unwrap_err()
        .message
        .contains("more than one"));
}

#[test]
fn text_is_borrowed_from_the_input() {
    let raw = fixture("invoice-40-ppd.xml");
    let c = parse(&raw).unwrap();
    assert!(matches!(c.serie, Some(std::borrow::Cow::Borrowed(_))));
    assert!(matches!(c.emisor.rfc, std::borrow::Cow::Borrowed(_)));
    assert!(
        matches!(c.receptor.nombre, Some(std::borrow::Cow::Owned(_))),
        "unescaped &amp;"
    );
}

/// A REP line without `IdDocumento` is a warning at its own line (the document still normalizes, the line by
/// serie/folio when it has one, dropped when it has none); a foreign document's id with its folio is not.
#[test]
fn rep_lines_without_id_documento_are_warnings_with_their_line() {
    let raw = fixture("pago-20-equivalencia.xml");
    let opts = cuadra_cfdi::ParseOptions::default();
    let mut warnings = Vec::new();
    cuadra_cfdi::cfdi_delivery_reporting(raw.clone(), &company(), &opts, &mut |w| warnings.push(w))
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let text = String::from_utf8(raw).unwrap();
    let edited = text
        .replace("IdDocumento=\"cccccccc-0000-4000-8000-000000000001\" ", "")
        .replace("IdDocumento=\"123-45-678901234\" Folio=\"F-9\" ", "");
    let mut warnings = Vec::new();
    let d = cuadra_cfdi::cfdi_delivery_reporting(
        edited.clone().into_bytes(),
        &company(),
        &opts,
        &mut |w| warnings.push(w),
    )
    .unwrap();
    let line_of =
        |needle: &str| 1 + edited.lines().position(|l| l.contains(needle)).unwrap() as u64;
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings[0].line, line_of("NumParcialidad=\"2\""));
    assert_eq!(
        warnings[0].field.as_deref(),
        Some("DoctoRelacionado@IdDocumento")
    );
    assert!(
        warnings[0]
            .message
            .contains("Pago 1 DoctoRelacionado 2 has no IdDocumento")
            && warnings[0].message.contains("serie/folio A-1001"),
        "{warnings:?}"
    );
    assert_eq!(warnings[1].line, line_of("Monto=\"100.5\"") + 1);
    assert!(
        warnings[1].message.contains("was not imported"),
        "{warnings:?}"
    );
    // The rest of the REP: the first Pago keeps both lines (one by folio), the second keeps none.
    let pays: Vec<_> = d
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Payment(p) => Some(p.remittance.len()),
            _ => None,
        })
        .collect();
    assert_eq!(pays, vec![2, 0]);
}
