//! What the SAT scenarios share: a test FIEL (made with openssl, or the SAT's test FIEL from the shared corpus), CFDI
//! 4.0 invoices and SAT packages built in the test, the connector's TOML, and a harness that drives the daemon's
//! `run_source_once` with an injected clock shared with the fake SAT.

use crate::helpers::{build_app, fresh_db, Backend, TestDb};
use chrono::{DateTime, Duration, Utc};
use cuadra::app::App;
use cuadra::store::Store;
use cuadra_sat::checkpoint::{self, SatState};
use cuadra_sdk::Checkpoint;
use cuadra_testkit::sat::FakeSat;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The RFC of the generated FIEL (the same as the SAT's test FIEL, so both run the same scenarios).
pub const RFC: &str = "EKU9003173C9";
/// The customer of the generated invoices.
pub const CUSTOMER_RFC: &str = "KIJ0906199R1";
const GENERATED_PASSWORD: &str = "Cu4dra-t3st-pw";

/// FIEL files as a user configures them.
pub struct TestFiel {
    /// Keeps generated files alive.
    pub _dir: Option<tempfile::TempDir>,
    pub cer: PathBuf,
    pub key: PathBuf,
    pub password_file: PathBuf,
    pub password: String,
    pub rfc: String,
    /// The unencrypted private key (PKCS#8 DER) when generated: the bytes no log may show.
    pub plain_key_der: Option<Vec<u8>>,
}

impl TestFiel {
    pub fn certificate_der(&self) -> Vec<u8> {
        std::fs::read(&self.cer).expect("read .cer")
    }
}

/// A FIEL like the SAT issues (as connectors/sat's tests make it, `cuadra_testkit::fiel`), valid from now for
/// `days` days.
pub fn generated_fiel(days: u32) -> TestFiel {
    let g = cuadra_testkit::fiel::generate(RFC, "ESCUELA KEMPER URGATE", days, GENERATED_PASSWORD);
    TestFiel {
        cer: g.cer,
        key: g.key,
        password_file: g.password_file,
        password: GENERATED_PASSWORD.into(),
        rfc: RFC.into(),
        plain_key_der: Some(g.plain_key_der),
        _dir: Some(g.dir),
    }
}

/// The SAT's public test FIEL from `../shared/fixtures/sat/fiel`, or `None` (with a printed reason) without it.
pub fn corpus_fiel() -> Option<TestFiel> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/sat/fiel"
    ));
    if !dir.is_dir() {
        eprintln!(
            "SKIP the SAT test FIEL scenario: {} is absent",
            dir.display()
        );
        return None;
    }
    let password_file = dir.join("EKU9003173C9-password.txt");
    let password = std::fs::read_to_string(&password_file).expect("corpus password");
    Some(TestFiel {
        _dir: None,
        cer: dir.join("EKU9003173C9.cer"),
        key: dir.join("EKU9003173C9.key"),
        password: password.trim_end().to_string(),
        password_file,
        rfc: RFC.into(),
        plain_key_der: None,
    })
}

/// `[company]` and `[connectors.sat]` for a FIEL and a fake SAT, plus `extra` lines in the connector table.
pub fn sat_toml(fiel: &TestFiel, fake_base: &str, extra: &str) -> String {
    format!(
        "[company]\nrfcs = [\"{}\"]\n\n[connectors.sat]\nkind = \"sat\"\ncertificate_path = \"{}\"\nkey_path = \"{}\"\n\
         password_file = \"{}\"\nrequest_base_url = \"{fake_base}\"\ndownload_base_url = \"{fake_base}\"\n{extra}\n",
        fiel.rfc,
        fiel.cer.display(),
        fiel.key.display(),
        fiel.password_file.display(),
    )
}

/// A CFDI 4.0 invoice (PPD, MXN, 1,000 + 16% IVA) issued by `emisor` to [`CUSTOMER_RFC`].
pub fn invoice_xml(emisor: &str, uuid: &str, folio: &str, fecha: DateTime<Utc>) -> String {
    let fecha = (fecha - Duration::hours(6)).format("%Y-%m-%dT%H:%M:%S");
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<cfdi:Comprobante xmlns:cfdi="http://www.sat.gob.mx/cfd/4" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:tfd="http://www.sat.gob.mx/TimbreFiscalDigital" Version="4.0" Serie="SAT" Folio="{folio}" Fecha="{fecha}" Sello="" NoCertificado="30001000000500003416" Certificado="" SubTotal="1000.00" Moneda="MXN" Total="1160.00" TipoDeComprobante="I" Exportacion="01" MetodoPago="PPD" FormaPago="99" LugarExpedicion="06600">
  <cfdi:Emisor Rfc="{emisor}" Nombre="ESCUELA KEMPER URGATE" RegimenFiscal="601"/>
  <cfdi:Receptor Rfc="{CUSTOMER_RFC}" Nombre="KIJ, S.A DE C.V." DomicilioFiscalReceptor="59820" RegimenFiscalReceptor="601" UsoCFDI="G03"/>
  <cfdi:Conceptos>
    <cfdi:Concepto ClaveProdServ="84111506" Cantidad="1" ClaveUnidad="E48" Descripcion="Servicio" ValorUnitario="1000.00" Importe="1000.00" ObjetoImp="02">
      <cfdi:Impuestos><cfdi:Traslados><cfdi:Traslado Base="1000.00" Impuesto="002" TipoFactor="Tasa" TasaOCuota="0.160000" Importe="160.00"/></cfdi:Traslados></cfdi:Impuestos>
    </cfdi:Concepto>
  </cfdi:Conceptos>
  <cfdi:Impuestos TotalImpuestosTrasladados="160.00"><cfdi:Traslados><cfdi:Traslado Base="1000.00" Impuesto="002" TipoFactor="Tasa" TasaOCuota="0.160000" Importe="160.00"/></cfdi:Traslados></cfdi:Impuestos>
  <cfdi:Complemento>
    <tfd:TimbreFiscalDigital Version="1.1" UUID="{uuid}" FechaTimbrado="{fecha}" RfcProvCertif="SAT970701NN3" SelloCFD="" NoCertificadoSAT="30001000000400002311" SelloSAT=""/>
  </cfdi:Complemento>
</cfdi:Comprobante>
"#
    )
}

/// A SAT metadata file: one row per `(uuid, vigente)`; cancelled rows carry a cancellation date.
pub fn metadata_txt(emisor: &str, rows: &[(&str, bool)], fecha: DateTime<Utc>) -> String {
    let f = (fecha - Duration::hours(6)).format("%Y-%m-%d %H:%M:%S");
    let mut s = String::from(
        "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision~FechaCertificacionSat~Monto~EfectoComprobante~Estatus~FechaCancelacion\r\n",
    );
    for (uuid, vigente) in rows {
        let (estatus, cancelled) = if *vigente {
            ("1", String::new())
        } else {
            ("0", f.to_string())
        };
        s.push_str(&format!(
            "{uuid}~{emisor}~ESCUELA KEMPER URGATE~{CUSTOMER_RFC}~KIJ, S.A DE C.V.~SAT970701NN3~{f}~{f}~1160.00~I~{estatus}~{cancelled}\r\n"
        ));
    }
    s
}

pub use cuadra_testkit::package::stored_zip as zip;

/// Two invoices of the company and the packages that carry them.
pub struct Documents {
    pub uuids: [String; 2],
    /// A CFDI package with both invoices.
    pub cfdi_zip: Vec<u8>,
    /// A metadata package: the first invoice current, the second cancelled.
    pub metadata_zip: Vec<u8>,
}

pub fn documents(emisor: &str, issued: DateTime<Utc>) -> Documents {
    let uuids = [
        uuid::Uuid::now_v7().to_string().to_uppercase(),
        uuid::Uuid::now_v7().to_string().to_uppercase(),
    ];
    let a = invoice_xml(emisor, &uuids[0], "101", issued);
    let b = invoice_xml(emisor, &uuids[1], "102", issued);
    let meta = metadata_txt(emisor, &[(&uuids[0], true), (&uuids[1], false)], issued);
    Documents {
        cfdi_zip: zip(&[
            (&format!("{}.xml", uuids[0]), a.as_bytes()),
            (&format!("{}.xml", uuids[1]), b.as_bytes()),
        ]),
        metadata_zip: zip(&[("metadata.txt", meta.as_bytes())]),
        uuids,
    }
}

/// The daemon with the SAT connector configured against a fake SAT, both on one injected clock.
pub struct SatHarness {
    pub fake: FakeSat,
    pub app: App,
    /// Keep the database folder and the FIEL files alive as long as the harness.
    #[allow(dead_code)]
    pub db: TestDb,
    #[allow(dead_code)]
    pub fiel: TestFiel,
    pub docs: Documents,
    clock: Arc<Mutex<DateTime<Utc>>>,
}

pub async fn harness(backend: Backend, fiel: TestFiel, extra: &str) -> SatHarness {
    let fake = FakeSat::start(&fiel.certificate_der())
        .await
        .expect("fake SAT starts");
    // A minute ahead of the real clock: inside a generated FIEL's validity, which starts now.
    let start = Utc::now() + Duration::minutes(1);
    fake.set_now(start);
    let clock = Arc::new(Mutex::new(start));
    let c = clock.clone();
    let db = fresh_db(backend).await;
    let app = build_app(&db, &sat_toml(&fiel, &fake.base_url(), extra))
        .await
        .with_clock(Arc::new(move || *c.lock().expect("clock")));
    let docs = documents(&fiel.rfc, start - Duration::days(1));
    let cfdi = docs.cfdi_zip.clone();
    fake.script(|s| s.package = cfdi);
    SatHarness {
        fake,
        app,
        db,
        fiel,
        docs,
        clock,
    }
}

impl SatHarness {
    pub fn advance(&self, d: Duration) {
        let mut g = self.clock.lock().expect("clock");
        *g += d;
        self.fake.set_now(*g);
    }

    /// One `run_source_once` of the `sat` connector, as the scheduler or `cuadra sync sat` does it.
    /// Returns (deliveries, new).
    pub async fn run(&self) -> anyhow::Result<(u64, u64)> {
        let conn = self.app.connector("sat").expect("sat connector").clone();
        let r = cuadra::daemon::run_source_once(&self.app, &conn).await?;
        Ok((r.deliveries, r.new))
    }

    pub async fn state(&self) -> SatState {
        state(&self.app.store).await
    }

    /// Runs, lets ten minutes pass, and again, until every request is finished (or `rounds` run out).
    pub async fn drive(&self, rounds: usize) -> u64 {
        let mut deliveries = 0;
        for _ in 0..rounds {
            deliveries += self.run().await.expect("run succeeds").0;
            let st = self.state().await;
            if !st.requests.is_empty() && st.requests.iter().all(|r| r.state.is_terminal()) {
                break;
            }
            self.advance(Duration::minutes(10));
        }
        deliveries
    }

    /// `report invoices` rows as (uuid, status).
    pub async fn invoices(&self) -> Vec<(String, String)> {
        invoices(&self.app.store).await
    }

    pub fn calls(&self, operation: &str) -> usize {
        self.fake.calls_of(operation).len()
    }
}

/// The connector state stored in the ledger.
pub async fn state(store: &Store) -> SatState {
    let cp = store.checkpoint("sat").await.expect("checkpoint read");
    checkpoint::load(cp.map(Checkpoint).as_ref()).expect("checkpoint readable")
}

/// `report invoices` rows as (uuid, status).
pub async fn invoices(store: &Store) -> Vec<(String, String)> {
    let t = store.report_invoices().await.expect("report");
    let uuid = t
        .columns
        .iter()
        .position(|c| *c == "uuid")
        .expect("uuid column");
    let status = t
        .columns
        .iter()
        .position(|c| *c == "status")
        .expect("status column");
    let mut rows: Vec<(String, String)> = t
        .rows
        .iter()
        .map(|r| (r[uuid].to_uppercase(), r[status].clone()))
        .collect();
    rows.sort();
    rows
}

/// Lets `d` pass for the connector's own timers (next poll, next retry) by moving them back in the stored state:
/// what the binary, which runs on the real clock, would see after waiting.
pub async fn let_time_pass(store: &Store, d: Duration) {
    let mut st = state(store).await;
    for r in &mut st.requests {
        r.next_action_at = r.next_action_at.map(|t| t - d);
        for p in &mut r.packages {
            p.next_try_at = p.next_try_at.map(|t| t - d);
        }
    }
    store
        .ingest("sat", &[], Some(("sat", &checkpoint::store(&st).0)))
        .await
        .expect("store checkpoint");
}

/// Standard base64 with padding (to look for key bytes in logs).
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
