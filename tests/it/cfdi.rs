//! CFDI ingestion through the binary, on every backend: `cuadra import cfdi` over a folder of generated CFDI 4.0
//! (invoice, credit note 01, REP Pagos 2.0, USD invoice paid in MXN, sustitución 04), a SAT metadata file that
//! cancels one, and a `.zip` package; the printed summary; `report invoices` against amounts computed by hand;
//! idempotent re-import; UUID conflicts; malformed files and zip entries. When `../shared/fixtures/sat` is present,
//! every CFDI and package there is imported, one flow per ledger, and checked against values read from the documents.
//!
//! Longer than our ~600 lines on purpose: one capability's suite, whose cases share the fixtures built here.

use super::helpers::{backends, config_path, cuadra, fresh_db, test_settings, Backend, TestDb};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(super) const COMPANY: &str = "EKU9003173C9";
pub(super) const CUSTOMER: &str = "KIJ0906199R1";

const INV_A: &str = "11111111-0000-4000-8000-00000000000a";
const NC_B: &str = "11111111-0000-4000-8000-00000000000b";
const REP_C: &str = "11111111-0000-4000-8000-00000000000c";
const INV_D: &str = "11111111-0000-4000-8000-00000000000d";
const REP_F: &str = "11111111-0000-4000-8000-00000000000f";
const INV_G: &str = "11111111-0000-4000-8000-000000000010";
const INV_H: &str = "11111111-0000-4000-8000-000000000011";
const INV_K: &str = "11111111-0000-4000-8000-000000000020";
const INV_L: &str = "11111111-0000-4000-8000-000000000021";

/// The parts of a CFDI 4.0 that vary between the documents of these tests.
pub(super) struct Doc<'a> {
    pub(super) tipo: &'a str,
    pub(super) uuid: &'a str,
    pub(super) serie: &'a str,
    pub(super) folio: &'a str,
    pub(super) fecha: &'a str,
    /// `Moneda` (and `TipoCambio` when not MXN).
    pub(super) moneda: &'a str,
    pub(super) tipo_cambio: Option<&'a str>,
    pub(super) subtotal: &'a str,
    pub(super) total: &'a str,
    /// `(TipoRelacion, UUIDs)`.
    pub(super) relations: Vec<(&'a str, Vec<&'a str>)>,
    /// Extra complement XML (Pagos) before the TimbreFiscalDigital.
    pub(super) complement: String,
}

impl Doc<'_> {
    pub(super) fn xml(&self) -> String {
        let rels: String = self
            .relations
            .iter()
            .map(|(t, us)| {
                let inner: String = us
                    .iter()
                    .map(|u| format!("<cfdi:CfdiRelacionado UUID=\"{u}\"/>"))
                    .collect();
                format!("  <cfdi:CfdiRelacionados TipoRelacion=\"{t}\">{inner}</cfdi:CfdiRelacionados>\n")
            })
            .collect();
        let tc = self
            .tipo_cambio
            .map(|t| format!(" TipoCambio=\"{t}\""))
            .unwrap_or_default();
        let metodo = match self.tipo {
            "I" => " MetodoPago=\"PPD\" FormaPago=\"99\"",
            "E" => " MetodoPago=\"PUE\" FormaPago=\"17\"",
            _ => "",
        };
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<cfdi:Comprobante xmlns:cfdi="http://www.sat.gob.mx/cfd/4" xmlns:tfd="http://www.sat.gob.mx/TimbreFiscalDigital" xmlns:pago20="http://www.sat.gob.mx/Pagos20" Version="4.0" Serie="{serie}" Folio="{folio}" Fecha="{fecha}" Sello="" NoCertificado="30001000000500003416" Certificado="" SubTotal="{sub}" Moneda="{moneda}"{tc} Total="{total}" TipoDeComprobante="{tipo}" Exportacion="01"{metodo} LugarExpedicion="06600">
{rels}  <cfdi:Emisor Rfc="{COMPANY}" Nombre="ESCUELA KEMPER URGATE" RegimenFiscal="601"/>
  <cfdi:Receptor Rfc="{CUSTOMER}" Nombre="KIJ, S.A DE C.V." DomicilioFiscalReceptor="59820" RegimenFiscalReceptor="601" UsoCFDI="G03"/>
  <cfdi:Conceptos><cfdi:Concepto ClaveProdServ="84111506" Cantidad="1" ClaveUnidad="E48" Descripcion="Servicio" ValorUnitario="{sub}" Importe="{sub}" ObjetoImp="01"/></cfdi:Conceptos>
  <cfdi:Complemento>{complement}
    <tfd:TimbreFiscalDigital Version="1.1" UUID="{uuid}" FechaTimbrado="{fecha}" RfcProvCertif="SAT970701NN3" SelloCFD="" NoCertificadoSAT="30001000000400002311" SelloSAT=""/>
  </cfdi:Complemento>
</cfdi:Comprobante>
"#,
            serie = self.serie,
            folio = self.folio,
            fecha = self.fecha,
            sub = self.subtotal,
            moneda = self.moneda,
            total = self.total,
            tipo = self.tipo,
            complement = self.complement,
            uuid = self.uuid,
        )
    }
}

pub(super) fn invoice<'a>(
    uuid: &'a str,
    folio: &'a str,
    fecha: &'a str,
    sub: &'a str,
    total: &'a str,
) -> Doc<'a> {
    Doc {
        tipo: "I",
        uuid,
        serie: "A",
        folio,
        fecha,
        moneda: "MXN",
        tipo_cambio: None,
        subtotal: sub,
        total,
        relations: vec![],
        complement: String::new(),
    }
}

/// A Pagos 2.0 complement with one `Pago` and one `DoctoRelacionado`.
#[allow(clippy::too_many_arguments)]
fn pagos20(
    fecha: &str,
    moneda_p: &str,
    monto: &str,
    id: &str,
    moneda_dr: &str,
    equivalencia: &str,
    parcialidad: u32,
    saldo_ant: &str,
    pagado: &str,
    insoluto: &str,
) -> String {
    format!(
        r#"
    <pago20:Pagos Version="2.0"><pago20:Totales MontoTotalPagos="{monto}"/>
      <pago20:Pago FechaPago="{fecha}" FormaDePagoP="03" MonedaP="{moneda_p}" TipoCambioP="1" Monto="{monto}" NumOperacion="SPEI-{parcialidad}">
        <pago20:DoctoRelacionado IdDocumento="{id}" MonedaDR="{moneda_dr}" EquivalenciaDR="{equivalencia}" NumParcialidad="{parcialidad}" ImpSaldoAnt="{saldo_ant}" ImpPagado="{pagado}" ImpSaldoInsoluto="{insoluto}" ObjetoImpDR="01"/>
      </pago20:Pago>
    </pago20:Pagos>"#
    )
}

pub(super) fn rep<'a>(
    uuid: &'a str,
    folio: &'a str,
    fecha: &'a str,
    complement: String,
) -> Doc<'a> {
    Doc {
        tipo: "P",
        uuid,
        serie: "P",
        folio,
        fecha,
        moneda: "XXX",
        tipo_cambio: None,
        subtotal: "0",
        total: "0",
        relations: vec![],
        complement,
    }
}

/// A SAT metadata file (CRLF, no terminator after the last row, as the SAT sends it).
fn metadata(rows: &[(&str, &str, &str, &str, &str)]) -> String {
    let mut lines = vec!["Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision~FechaCertificacionSat~Monto~EfectoComprobante~Estatus~FechaCancelacion".to_string()];
    for (uuid, fecha, monto, estatus, cancel) in rows {
        lines.push(format!(
            "{}~{COMPANY}~ESCUELA KEMPER URGATE~{CUSTOMER}~KIJ, S.A DE C.V.~SAT970701NN3~{fecha}~{fecha}~{monto}~I~{estatus}~{cancel}",
            uuid.to_uppercase()
        ));
    }
    lines.join("\r\n")
}

/// A zip archive with `entries` stored (no compression): enough for a SAT package in a test.
pub(super) fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for b in data {
            c ^= u32::from(*b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in entries {
        let (crc, len, off) = (crc32(data), data.len() as u32, out.len() as u32);
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&0u16.to_le_bytes()); // stored
            v.extend_from_slice(&0u32.to_le_bytes()); // time, date
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment len, disk, internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&off.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let (cd_off, cd_len, n) = (out.len() as u32, central.len() as u32, entries.len() as u16);
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The scenario folder: four invoices as files, the credit note and both REPs in a package, a metadata file
/// cancelling G, and a PDF that folder walks skip.
fn scenario(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let a = invoice(INV_A, "1", "2024-05-02T10:00:00", "10000.00", "11600.00");
    let mut d = invoice(INV_D, "2", "2024-05-03T10:00:00", "1000.00", "1160.00");
    d.moneda = "USD";
    d.tipo_cambio = Some("17.1234");
    let g = invoice(INV_G, "3", "2024-05-04T10:00:00", "5000.00", "5800.00");
    let mut h = invoice(INV_H, "4", "2024-05-22T10:00:00", "5000.00", "5800.00");
    h.relations = vec![("04", vec![INV_G])];
    let mut b = invoice(NC_B, "5", "2024-05-10T10:00:00", "1000.00", "1160.00");
    b.tipo = "E";
    b.serie = "NC";
    b.relations = vec![("01", vec![INV_A])];
    // After the credit note A owes 10440.00; this REP pays 5000.00 of it.
    let c = rep(
        REP_C,
        "1",
        "2024-05-15T12:00:00",
        pagos20(
            "2024-05-15T11:00:00",
            "MXN",
            "5000.00",
            INV_A,
            "MXN",
            "1",
            1,
            "10440.00",
            "5000.00",
            "5440.00",
        ),
    );
    // The USD invoice paid in MXN at 16.90: 1160.00 USD = 19604.00 MXN, EquivalenciaDR = 1/16.90.
    let f = rep(
        REP_F,
        "2",
        "2024-05-16T12:00:00",
        pagos20(
            "2024-05-16T11:00:00",
            "MXN",
            "19604.00",
            INV_D,
            "USD",
            "0.0591715976",
            1,
            "1160.00",
            "1160.00",
            "0.00",
        ),
    );
    for (name, doc) in [("a.xml", &a), ("d.xml", &d), ("g.xml", &g), ("h.xml", &h)] {
        std::fs::write(dir.join(name), doc.xml()).unwrap();
    }
    let (bx, cx, fx) = (b.xml(), c.xml(), f.xml());
    let zip = stored_zip(&[
        (&format!("{NC_B}.xml"), bx.as_bytes()),
        (&format!("{REP_C}.xml"), cx.as_bytes()),
        (&format!("{REP_F}.xml"), fx.as_bytes()),
    ]);
    std::fs::write(dir.join("package_01.zip"), zip).unwrap();
    let meta = metadata(&[
        (INV_A, "2024-05-02 10:00:00", "11600.00", "1", ""),
        (
            INV_G,
            "2024-05-04 10:00:00",
            "5800.00",
            "0",
            "2024-05-21 09:00:00",
        ),
    ]);
    std::fs::write(dir.join("METADATA_01.txt"), meta).unwrap();
    std::fs::write(dir.join("a.pdf"), b"%PDF-1.4 not a CFDI").unwrap();
}

/// Runs the binary with the test's config; returns (exit code, stdout, stderr).
pub(super) fn run(db: &TestDb, args: &[&str]) -> (i32, String, String) {
    let cfg = config_path(db);
    let mut all = vec!["--config", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = cuadra(db.dir.path(), &all);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub(super) fn import(db: &TestDb, paths: &[&Path]) -> (i32, Summary, String) {
    let mut args = vec!["import", "cfdi"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let (code, out, err) = run(db, &args);
    (code, summary(&out), err)
}

/// The printed summary: label → [new, unchanged, conflicting, failed].
pub(super) type Summary = BTreeMap<String, [u64; 4]>;

pub(super) fn summary(out: &str) -> Summary {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["kind", "new", "unchanged", "conflicting", "failed"],
        "{out}"
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5, "summary line {l:?}");
            let n = |i: usize| f[i].parse::<u64>().unwrap();
            (f[0].to_string(), [n(1), n(2), n(3), n(4)])
        })
        .collect()
}

fn expect(rows: &[(&str, [u64; 4])]) -> Summary {
    rows.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// `report NAME --format json` as raw text and as rows.
pub(super) fn report(db: &TestDb, name: &str) -> (String, Vec<BTreeMap<String, String>>) {
    let (code, out, err) = run(db, &["report", name, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let rows = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    (out, rows)
}

/// One invoice's `[currency, total, credited, paid, balance, status]`.
pub(super) fn invoice_line(rows: &[BTreeMap<String, String>], uuid: &str) -> [String; 6] {
    let r = rows
        .iter()
        .find(|r| r["uuid"].eq_ignore_ascii_case(uuid))
        .unwrap_or_else(|| panic!("invoice {uuid} not in the report: {rows:#?}"));
    ["currency", "total", "credited", "paid", "balance", "status"].map(|k| r[k].clone())
}

pub(super) fn line(v: [&str; 6]) -> [String; 6] {
    v.map(String::from)
}

pub(super) async fn ledger(b: Backend, rfcs: &[&str]) -> TestDb {
    let db = fresh_db(b).await;
    let list: Vec<String> = rfcs.iter().map(|r| format!("\"{r}\"")).collect();
    test_settings(&db, &format!("[company]\nrfcs = [{}]", list.join(", ")));
    db
}

/// A ledger with [`scenario`] imported from its folder: the database, the folder and the printed summary.
async fn imported_scenario(b: Backend) -> (TestDb, PathBuf, Summary) {
    let db = ledger(b, &[COMPANY]).await;
    let dir = db.dir.path().join("cfdi");
    scenario(&dir);
    let (code, s, err) = import(&db, &[&dir]);
    assert_eq!(code, 0, "{b:?}: {err}");
    (db, dir, s)
}

#[tokio::test]
async fn import_folder_summary_report_and_idempotence() {
    for b in backends().await {
        let (db, dir, s) = imported_scenario(b).await;
        assert_eq!(
            s,
            expect(&[
                ("E", [1, 0, 0, 0]),
                ("I", [4, 0, 0, 0]),
                ("P", [2, 0, 0, 0]),
                ("sat-metadata", [2, 0, 0, 0]),
            ]),
            "{b:?}"
        );
        let (first, rows) = report(&db, "invoices");
        assert_eq!(rows.len(), 4, "{b:?}: {first}");
        // A: 11600.00 − credit note 1160.00 − REP 5000.00 = 5440.00.
        assert_eq!(
            invoice_line(&rows, INV_A),
            line(["MXN", "11600.00", "1160.00", "5000.00", "5440.00", "partial"]),
            "{b:?}"
        );
        // D: 1160.00 USD paid by the MXN REP (ImpPagado is in the invoice's currency).
        assert_eq!(
            invoice_line(&rows, INV_D),
            line(["USD", "1160.00", "0.00", "1160.00", "0.00", "paid"]),
            "{b:?}"
        );
        // G: cancelled by the metadata (and replaced by H): out of receivables.
        assert_eq!(
            invoice_line(&rows, INV_G),
            line(["MXN", "5800.00", "0.00", "0.00", "0.00", "cancelled"]),
            "{b:?}"
        );
        assert_eq!(
            invoice_line(&rows, INV_H),
            line(["MXN", "5800.00", "0.00", "0.00", "5800.00", "open"]),
            "{b:?}"
        );
        let (_, allocs) = report(&db, "allocations");
        let mut got: Vec<(String, String, String, String)> = allocs
            .iter()
            .map(|r| {
                (
                    r["invoice_uuid"].clone(),
                    r["amount"].clone(),
                    r["currency"].clone(),
                    r["method"].clone(),
                )
            })
            .collect();
        got.sort();
        let want = |u: &str, a: &str, c: &str| (u.to_string(), a.into(), c.into(), "rep".into());
        assert_eq!(
            got,
            vec![want(INV_A, "5000.00", "MXN"), want(INV_D, "1160.00", "USD")],
            "{b:?}"
        );
        let (_, pays) = report(&db, "payments");
        let mut amounts: Vec<(String, String, String)> = pays
            .iter()
            .map(|r| {
                (
                    r["external_id"].clone(),
                    r["currency"].clone(),
                    r["amount"].clone(),
                )
            })
            .collect();
        amounts.sort();
        assert_eq!(
            amounts,
            vec![
                (format!("{REP_C}#0"), "MXN".into(), "5000.00".into()),
                (format!("{REP_F}#0"), "MXN".into(), "19604.00".into()),
            ],
            "{b:?}"
        );

        // The same folder again: nothing new, the report byte-identical.
        let (code, s, err) = import(&db, &[&dir]);
        assert_eq!(code, 0, "{b:?}: {err}");
        assert_eq!(
            s,
            expect(&[
                ("E", [0, 1, 0, 0]),
                ("I", [0, 4, 0, 0]),
                ("P", [0, 2, 0, 0]),
                ("sat-metadata", [0, 2, 0, 0]),
            ]),
            "{b:?}"
        );
        assert_eq!(report(&db, "invoices").0, first, "{b:?}");

        // The same UUID with other content: a conflict, the first version kept.
        let other = db.dir.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        let a2 = invoice(
            INV_A,
            "1-bis",
            "2024-05-02T10:00:00",
            "20000.00",
            "23200.00",
        );
        std::fs::write(other.join("a2.xml"), a2.xml()).unwrap();
        let (code, s, err) = import(&db, &[&other.join("a2.xml")]);
        assert_eq!(code, 0, "{b:?}: {err}");
        assert_eq!(s, expect(&[("I", [0, 0, 1, 0])]), "{b:?}");
        assert_eq!(report(&db, "invoices").0, first, "{b:?}");
    }
}

/// A package larger than one write transaction of a bulk import (several thousand documents each): every
/// document lands once, a second import changes nothing, and an edited copy of one is a conflict.
#[tokio::test]
async fn a_package_spanning_several_transactions() {
    const N: usize = 11_000;
    let uuid = |i: usize| format!("22222222-0000-4000-8000-{i:012x}");
    let docs: Vec<(String, String)> = (0..N)
        .map(|i| {
            let (u, folio) = (uuid(i), (i + 1).to_string());
            let xml = invoice(&u, &folio, "2024-03-01T10:00:00", "100.00", "116.00").xml();
            (format!("{u}.xml"), xml)
        })
        .collect();
    let entries: Vec<(&str, &[u8])> = docs
        .iter()
        .map(|(n, x)| (n.as_str(), x.as_bytes()))
        .collect();
    for b in backends().await {
        let db = ledger(b, &[COMPANY]).await;
        let dir = db.dir.path().join("big");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("package_01.zip"), stored_zip(&entries)).unwrap();
        let (code, s, err) = import(&db, &[&dir]);
        assert_eq!(code, 0, "{b:?}: {err}");
        assert_eq!(s, expect(&[("I", [N as u64, 0, 0, 0])]), "{b:?}");
        // Again, plus one document edited after stamping (same UUID, other bytes).
        let edited = docs[N - 7].1.replace("116.00", "117.00");
        let name = docs[N - 7].0.clone();
        std::fs::write(
            dir.join("package_02.zip"),
            stored_zip(&[(name.as_str(), edited.as_bytes())]),
        )
        .unwrap();
        let (code, s, err) = import(&db, &[&dir]);
        assert_eq!(code, 0, "{b:?}: {err}");
        assert_eq!(s, expect(&[("I", [0, N as u64, 1, 0])]), "{b:?}");
        let (_, rows) = report(&db, "invoices");
        assert_eq!(rows.len(), N, "{b:?}");
        assert!(
            rows.iter().all(|r| r["total"] == "116.00"),
            "{b:?}: the first version of every invoice stays"
        );
    }
}

#[tokio::test]
async fn malformed_files_and_entries_are_reported_and_the_rest_imports() {
    for b in backends().await {
        let db = ledger(b, &[COMPANY]).await;
        let dir = db.dir.path().join("bad");
        std::fs::create_dir_all(&dir).unwrap();
        let k = invoice(INV_K, "10", "2024-06-01T10:00:00", "100.00", "116.00").xml();
        let l = invoice(INV_L, "11", "2024-06-02T10:00:00", "200.00", "232.00").xml();
        // Line 4 of the document never closes its tag.
        let broken = |x: &str| {
            let mut lines: Vec<&str> = x.lines().collect();
            lines[3] = "  <cfdi:Emisor Rfc=\"EKU9003173C9\" <<";
            lines.join("\n")
        };
        std::fs::write(dir.join("broken.xml"), broken(&k)).unwrap();
        std::fs::write(dir.join("k.xml"), &k).unwrap();
        let bad_entry = broken(&l);
        let zip = stored_zip(&[("bad.xml", bad_entry.as_bytes()), ("l.xml", l.as_bytes())]);
        std::fs::write(dir.join("pkg.zip"), zip).unwrap();
        let (code, s, err) = import(&db, &[&dir]);
        assert_eq!(code, 2, "{b:?}: {err}");
        assert_eq!(
            s,
            expect(&[("I", [2, 0, 0, 0]), ("failed", [0, 0, 0, 2])]),
            "{b:?}"
        );
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 2, "{b:?}: {err}");
        assert!(
            errors[0].contains("broken.xml, line 4, column"),
            "{b:?}: {err}"
        );
        assert!(
            errors[1].contains("pkg.zip, entry bad.xml, line 4, column"),
            "{b:?}: {err}"
        );
        let (_, rows) = report(&db, "invoices");
        assert_eq!(
            invoice_line(&rows, INV_K),
            line(["MXN", "116.00", "0.00", "0.00", "116.00", "open"])
        );
        assert_eq!(
            invoice_line(&rows, INV_L),
            line(["MXN", "232.00", "0.00", "0.00", "232.00", "open"])
        );
        assert_eq!(rows.len(), 2, "{b:?}");
    }
}

fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/sat"
    ));
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIP shared SAT fixtures: {} is absent", p.display());
        None
    }
}

/// Finds the row whose `key` equals `value`.
fn row<'a>(
    rows: &'a [BTreeMap<String, String>],
    key: &str,
    value: &str,
) -> &'a BTreeMap<String, String> {
    rows.iter()
        .find(|r| r[key].eq_ignore_ascii_case(value))
        .unwrap_or_else(|| panic!("no row with {key} = {value}: {rows:#?}"))
}

/// The synthetic SAT scenarios (company EKU9003173C9): sustitución of a cancelled invoice, anticipo (07), a USD
/// invoice paid in MXN. The package holds the same documents with a different comment line: conflicts.
#[tokio::test]
async fn shared_synthetic_scenarios() {
    let Some(sat) = shared() else { return };
    for b in backends().await {
        let db = ledger(b, &[COMPANY]).await;
        let (code, s, err) = import(
            &db,
            &[&sat.join("synthetic/cfdi"), &sat.join("synthetic/packages")],
        );
        assert_eq!(code, 0, "{b:?}: {err}");
        // 8 files, then the 8 package entries (same UUIDs, other bytes), then the metadata twice (.txt and .zip).
        // 01-egreso is issued by XIQB891116QE4: seen only.
        assert_eq!(
            s,
            expect(&[
                ("E", [2, 0, 2, 0]),
                ("I", [5, 0, 5, 0]),
                ("P", [1, 0, 1, 0]),
                ("sat-metadata", [7, 7, 0, 0]),
            ]),
            "{b:?}"
        );
        let (_, rows) = report(&db, "invoices");
        assert_eq!(rows.len(), 5, "{b:?}");
        let u = |n: u32| format!("aaaaaaaa-0000-4000-8000-0000000000{n:02}");
        // 02a: Estatus 0 in the metadata; 02b replaces it (04).
        assert_eq!(
            invoice_line(&rows, &u(10)),
            line(["MXN", "11600.00", "0.00", "0.00", "0.00", "cancelled"])
        );
        assert_eq!(
            invoice_line(&rows, &u(11)),
            line(["MXN", "11600.00", "0.00", "0.00", "11600.00", "open"])
        );
        // 03a anticipo (PUE, no REP); 03b final invoice; 03c egreso 07 applies the anticipo 1160.00 to 03b.
        assert_eq!(
            invoice_line(&rows, &u(20)),
            line(["MXN", "1160.00", "0.00", "0.00", "1160.00", "open"])
        );
        assert_eq!(
            invoice_line(&rows, &u(21)),
            line(["MXN", "11600.00", "1160.00", "0.00", "10440.00", "partial"])
        );
        // 04a USD 1160.00 at TipoCambio 17.1234; 04b pays it in MXN 19604.00 with EquivalenciaDR 0.0591715976.
        assert_eq!(
            invoice_line(&rows, &u(30)),
            line(["USD", "1160.00", "0.00", "1160.00", "0.00", "paid"])
        );
        let (_, pays) = report(&db, "payments");
        assert_eq!(pays.len(), 1, "{b:?}");
        let p = row(&pays, "external_id", &format!("{}#0", u(31)));
        assert_eq!(
            (p["currency"].as_str(), p["amount"].as_str()),
            ("MXN", "19604.00")
        );
        assert_eq!(p["payer_rfc"], CUSTOMER);
        let (_, allocs) = report(&db, "allocations");
        assert_eq!(allocs.len(), 1, "{b:?}");
        let a = row(&allocs, "invoice_uuid", &u(30));
        assert_eq!(
            (
                a["amount"].as_str(),
                a["currency"].as_str(),
                a["method"].as_str()
            ),
            ("1160.00", "USD", "rep")
        );
    }
}

/// The satcfdi flows, one per ledger (they share an invoice UUID), the company being each flow's Emisor. Their
/// payment documents are unstamped: seen, no payment.
#[tokio::test]
async fn shared_flows_one_per_ledger() {
    let Some(sat) = shared() else { return };
    let inv = "6d7434a6-e3f2-47ad-9e4c-08849946afa0";
    for b in backends().await {
        // flow-xiqb-40 with the synthetic credit note 01 (953.33) against its invoice.
        let db = ledger(b, &["XIQB891116QE4"]).await;
        let (code, s, err) = import(
            &db,
            &[
                &sat.join("cfdi/flow-xiqb-40"),
                &sat.join("synthetic/cfdi/01-egreso-nota-credito-rel01.xml"),
            ],
        );
        assert_eq!(code, 0, "{b:?}: {err}");
        assert_eq!(
            s,
            expect(&[
                ("E", [1, 0, 0, 0]),
                ("I", [1, 0, 0, 0]),
                ("P", [3, 0, 0, 0])
            ]),
            "{b:?}"
        );
        let (_, rows) = report(&db, "invoices");
        assert_eq!(
            invoice_line(&rows, inv),
            line(["MXN", "14672.08", "953.33", "0.00", "13718.75", "partial"])
        );
        assert_eq!(report(&db, "payments").1.len(), 0);

        // flow-he-40: an RFC with `&`; a PPD and a PUE invoice of 17852.75.
        let db = ledger(b, &["H&E951128469"]).await;
        let (code, s, err) = import(&db, &[&sat.join("cfdi/flow-he-40")]);
        assert_eq!(code, 0, "{b:?}: {err}");
        assert_eq!(
            s,
            expect(&[("I", [2, 0, 0, 0]), ("P", [1, 0, 0, 0])]),
            "{b:?}"
        );
        let (_, rows) = report(&db, "invoices");
        assert_eq!(rows.len(), 2);
        for u in [inv, "6e546729-960a-4505-8e81-2d2952145bd9"] {
            assert_eq!(
                invoice_line(&rows, u),
                line(["MXN", "17852.75", "0.00", "0.00", "17852.75", "open"])
            );
        }
        assert_eq!(row(&rows, "uuid", inv)["customer_rfc"], CUSTOMER);

        // flow-xiqb-33: CFDI 3.3 and Pagos 1.0.
        let db = ledger(b, &["XIQB891116QE4"]).await;
        let (code, s, err) = import(&db, &[&sat.join("cfdi/flow-xiqb-33")]);
        assert_eq!(code, 0, "{b:?}: {err}");
        assert_eq!(
            s,
            expect(&[("I", [1, 0, 0, 0]), ("P", [2, 0, 0, 0])]),
            "{b:?}"
        );
        let (_, rows) = report(&db, "invoices");
        assert_eq!(
            invoice_line(&rows, inv),
            line(["MXN", "14672.08", "0.00", "0.00", "14672.08", "open"])
        );
    }
}

/// Everything else in one ledger, issued by EKU9003173C9 and AAA010101AAA: versions 3.3/4.0, Pagos 1.0/2.0,
/// nómina, retenciones and 3.2 (refused with a reason), SAT packages with decoy entries, metadata files.
#[tokio::test]
async fn shared_corpus_imports() {
    let Some(sat) = shared() else { return };
    for b in backends().await {
        let db = ledger(b, &[COMPANY, "AAA010101AAA"]).await;
        let dirs = ["v33", "v40", "v32", "pagos10", "pagos20", "retenciones"];
        let mut paths: Vec<PathBuf> = dirs.iter().map(|d| sat.join("cfdi").join(d)).collect();
        paths.push(sat.join("packages"));
        // Named explicitly: inside a folder a file that does not look like a package (0 bytes) is skipped.
        paths.push(sat.join("packages/empty.zip"));
        let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
        let (code, _s, err) = import(&db, &refs);
        assert_eq!(code, 2, "{b:?}: {err}");
        // Refused with a reason: retenciones (2), CFDI 3.2 (v32 and packages/cfdi.xml), the decoys of cfdi.zip and
        // metadata.zip, empty.zip, the third-party metadata row with an empty Uuid.
        for needle in [
            "cfdiutils-retenciones20.xml, line 2, column 1: a CFDI de retenciones",
            "cfdiutils-cfdi32-real.xml, line 2, column 1, field Comprobante@version: CFDI 3.2 is not supported",
            "cfdi.zip, entry 00000000-0000-0000-0000-000000000000.xml, line 3, column 1",
            "empty.zip: not a readable zip package",
            "metadata-empty-uuid.txt, line 2, column 1, field Uuid: empty Uuid",
        ] {
            assert!(err.contains(needle), "{b:?}: missing {needle:?} in\n{err}");
        }
        assert!(!err.contains("metadata.json"), "{b:?}: {err}");
        // cfdiutils-cfdi33-valid (invoice) and nodecfdi-cfdi33-payment-valid (REP) carry the same TFD UUID
        // 9FB6ED1A-…: the invoice (v33, imported first) is kept, the REP is a conflict.
        let (_, rows) = report(&db, "invoices");
        let expected = [
            (
                "9fb6ed1a-5f37-4fef-980a-7f8c83b51894",
                "MXN",
                "2382870.00",
                "COSC8001137NA",
            ),
            (
                "6f35d3b5-3651-5370-bc2c-14cdbe384cd7",
                "MXN",
                "3327.01",
                "MCI7306249Y1",
            ),
            (
                "ea8152af-b116-4812-817a-3b4f9617c99c",
                "MXN",
                "1500.00",
                "BASJ600902KL9",
            ),
        ];
        for (u, cur, total, rfc) in expected {
            let r = row(&rows, "uuid", u);
            assert_eq!(
                (
                    r["currency"].as_str(),
                    r["total"].as_str(),
                    r["customer_rfc"].as_str()
                ),
                (cur, total, rfc),
                "{b:?} {u}"
            );
        }
        // Received or unstamped invoices (cfdi33-real, cfdi40-real, the USD drafts) are not receivables.
        assert_eq!(rows.len(), expected.len(), "{b:?}: {rows:#?}");
        // The corpus REPs are unstamped (no TFD: not valid CFDI, no payment) except calculator-008 (empty RFCs) and
        // the nodecfdi one, which lost its UUID to the invoice above.
        assert_eq!(report(&db, "payments").1.len(), 0, "{b:?}");

        // That REP alone (Emisor AAA010101AAA): Pagos 1.0, MonedaP MXN, Monto 4000.00, paying a USD invoice the
        // ledger does not have, so no allocation.
        let db = ledger(b, &["AAA010101AAA"]).await;
        let rep = sat.join("cfdi/pagos10/nodecfdi-cfdi33-payment-valid.xml");
        let (code, s, err) = import(&db, &[&rep]);
        assert_eq!(code, 0, "{b:?}: {err}");
        assert_eq!(s, expect(&[("P", [1, 0, 0, 0])]), "{b:?}");
        let (_, pays) = report(&db, "payments");
        assert_eq!(pays.len(), 1, "{b:?}");
        let p = row(
            &pays,
            "external_id",
            "9fb6ed1a-5f37-4fef-980a-7f8c83b51894#0",
        );
        assert_eq!(
            (
                p["currency"].as_str(),
                p["amount"].as_str(),
                p["payer_rfc"].as_str()
            ),
            ("MXN", "4000.00", "COSC8001137NA")
        );
        assert_eq!(p["unallocated"], "4000.00");
        assert_eq!(report(&db, "allocations").1.len(), 0, "{b:?}");
    }
}

/// `cuadra raw` prints what was delivered, byte for byte, whether the document came as a file or inside a
/// package, by UUID (either case) or raw id; every version with `--list`; a clear error when there is none.
#[tokio::test]
async fn raw_prints_each_document_as_delivered() {
    for b in backends().await {
        let (db, dir, _) = imported_scenario(b).await;
        let a = std::fs::read(dir.join("a.xml")).unwrap();
        let o = raw_out(&db, &["raw", &INV_A.to_uppercase()]);
        assert!(
            o.status.success(),
            "{b:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.stdout, a, "{b:?}");
        // Inside the package: the entry's bytes.
        let bx = {
            let mut nc = invoice(NC_B, "5", "2024-05-10T10:00:00", "1000.00", "1160.00");
            nc.tipo = "E";
            nc.serie = "NC";
            nc.relations = vec![("01", vec![INV_A])];
            nc.xml()
        };
        let o = raw_out(&db, &["raw", NC_B]);
        assert_eq!(String::from_utf8_lossy(&o.stdout), bx, "{b:?}");
        // An edited copy is a second version: the first is printed, the list shows both.
        let edited = String::from_utf8(a.clone())
            .unwrap()
            .replace("11600.00", "11700.00");
        std::fs::write(dir.join("a.xml"), &edited).unwrap();
        let (code, _, err) = import(&db, &[&dir.join("a.xml")]);
        assert_eq!(code, 0, "{b:?}: {err}");
        let o = raw_out(&db, &["raw", INV_A]);
        assert_eq!(o.stdout, a, "{b:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("3 deliveries under"),
            "{b:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // The CFDI first (both versions), then the SAT metadata line that names the same UUID.
        let (code, list, _) = run(&db, &["raw", INV_A, "--list"]);
        assert_eq!(code, 0, "{b:?}");
        let lines: Vec<&str> = list.lines().collect();
        let kinds: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.split('\t').nth(2).unwrap())
            .collect();
        assert_eq!(kinds, ["cfdi", "cfdi", "sat-metadata"], "{b:?}: {list}");
        let second_id = lines[2].split('\t').next().unwrap();
        let o = raw_out(&db, &["raw", INV_A, "--kind", "sat-metadata"]);
        assert!(
            o.stdout.starts_with(INV_A.to_uppercase().as_bytes()),
            "{b:?}"
        );
        let o = raw_out(&db, &["raw", second_id]);
        assert_eq!(String::from_utf8_lossy(&o.stdout), edited, "{b:?}");
        let (code, _, err) = run(&db, &["raw", "99999999-0000-4000-8000-000000000000"]);
        assert_eq!(code, 2, "{b:?}");
        assert!(err.contains("nothing in the raw inbox"), "{b:?}: {err}");
    }
}

/// `cuadra ARGS` with the test's config; stdout kept as bytes.
fn raw_out(db: &TestDb, args: &[&str]) -> std::process::Output {
    let cfg = config_path(db);
    let mut all = vec!["--config", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    cuadra(db.dir.path(), &all)
}

/// Issue 18: one CFDI whose amount cannot be stored exactly (above the i64 micro-unit range, more than six
/// decimals), negative, or in a currency outside SAT's c_Moneda is reported with file, entry and field and
/// skipped; the other documents of the folder and of the package import and the exit code is 2.
#[tokio::test]
async fn one_unstorable_or_implausible_cfdi_is_skipped_and_the_rest_imports() {
    const BAD: [&str; 4] = [
        "11111111-0000-4000-8000-000000000030",
        "11111111-0000-4000-8000-000000000031",
        "11111111-0000-4000-8000-000000000032",
        "11111111-0000-4000-8000-000000000033",
    ];
    for b in backends().await {
        let db = ledger(b, &[COMPANY]).await;
        let dir = db.dir.path().join("values");
        std::fs::create_dir_all(&dir).unwrap();
        let k = invoice(INV_K, "10", "2024-06-01T10:00:00", "100.00", "116.00").xml();
        let l = invoice(INV_L, "11", "2024-06-02T10:00:00", "200.00", "232.00").xml();
        let huge = invoice(
            BAD[0],
            "12",
            "2024-06-03T10:00:00",
            "1.00",
            "99999999999999.99",
        )
        .xml();
        let fine = invoice(BAD[1], "13", "2024-06-03T10:00:00", "1.00", "1.0000001").xml();
        let negative = invoice(BAD[2], "14", "2024-06-03T10:00:00", "-1000.00", "-1160.00").xml();
        let mut xyz = invoice(BAD[3], "15", "2024-06-03T10:00:00", "100.00", "116.00");
        xyz.moneda = "XYZ";
        xyz.tipo_cambio = Some("1");
        std::fs::write(dir.join("k.xml"), &k).unwrap();
        std::fs::write(dir.join("huge.xml"), &huge).unwrap();
        std::fs::write(dir.join("negative.xml"), &negative).unwrap();
        std::fs::write(dir.join("xyz.xml"), xyz.xml()).unwrap();
        let zip = stored_zip(&[("fine.xml", fine.as_bytes()), ("l.xml", l.as_bytes())]);
        std::fs::write(dir.join("pkg.zip"), zip).unwrap();
        let (code, s, err) = import(&db, &[&dir]);
        assert_eq!(code, 2, "{b:?}: {err}");
        assert_eq!(
            s,
            expect(&[("I", [2, 0, 0, 0]), ("failed", [0, 0, 0, 4])]),
            "{b:?}: {err}"
        );
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 4, "{b:?}: {err}");
        let has =
            |file: &str, field: &str| errors.iter().any(|e| e.contains(file) && e.contains(field));
        assert!(has("huge.xml, line", "Comprobante@Total"), "{b:?}: {err}");
        assert!(
            has("negative.xml, line", "Comprobante@SubTotal"),
            "{b:?}: {err}"
        );
        assert!(has("xyz.xml, line", "Comprobante@Moneda"), "{b:?}: {err}");
        assert!(
            has("pkg.zip, entry fine.xml, line", "Comprobante@Total"),
            "{b:?}: {err}"
        );
        let (_, rows) = report(&db, "invoices");
        assert_eq!(rows.len(), 2, "{b:?}: {rows:#?}");
        assert_eq!(
            invoice_line(&rows, INV_L),
            line(["MXN", "232.00", "0.00", "0.00", "232.00", "open"])
        );
    }
}
