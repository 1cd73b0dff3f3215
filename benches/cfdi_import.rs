//! End-to-end CFDI import throughput: generates one SAT-style `.zip` package of N realistic CFDI (about 2 KB
//! each; 60 % I, 10 % E related (01) to an earlier invoice, 30 % P paying an earlier invoice; 3/4 CFDI 4.0 with
//! Pagos 2.0, 1/4 CFDI 3.3 with Pagos 1.0; 1 in 5 invoices in USD), then imports it the way `cuadra import cfdi`
//! does (`cuadra::import::import_paths` with the CFDI importer, document links included) into a fresh SQLite
//! file and a fresh PostgreSQL database, and reports CFDI/s and the peak RSS of the process (`VmHWM`).
//!
//! `cargo bench --bench cfdi_import -- [N] [--sqlite-only] [--random-certificates]` (N defaults to 20000; every
//! CFDI carries the one issuer's certificate, as real ones do, unless `--random-certificates`). PostgreSQL is taken from
//! `CUADRA_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`); a database is created for the
//! run and dropped after it. Targets (issue 3): ≥ 20,000 CFDI/s into SQLite; peak RSS < 150 MB whatever N.

use cuadra::store::Store;
use cuadra_sdk::{FileImporter, ImportOptions, Rfc};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The allocator the `cuadra` binary uses, so the figures are those of `cuadra import cfdi`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn b64(&mut self, len: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..len)
            .map(|_| A[self.below(64) as usize] as char)
            .collect()
    }
    fn uuid(&mut self) -> String {
        let h = format!("{:016x}{:016x}", self.next(), self.next());
        format!(
            "{}-{}-4{}-8{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }
}

fn cents(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

/// An earlier invoice a credit note or a REP can refer to.
#[derive(Clone)]
struct Issued {
    uuid: String,
    total: u64,
    usd: bool,
}

/// The generator keeps the last invoices so that E and P documents relate to real ones.
struct Gen {
    r: Rng,
    recent: Vec<Issued>,
    /// The issuer's certificate (base64), the same in every CFDI it stamps, as in real ones; `None` with
    /// `--random-certificates`: a different one in every CFDI (the worst case for the raw inbox's compression).
    certificate: Option<String>,
}

impl Gen {
    fn doc(&mut self, i: u64) -> String {
        let r = &mut self.r;
        let v4 = r.below(4) != 0;
        let (ns, ver) = if v4 { ("4", "4.0") } else { ("3", "3.3") };
        let target = if self.recent.is_empty() {
            None
        } else {
            Some(self.recent[r.below(self.recent.len() as u64) as usize].clone())
        };
        let kind = match (r.below(10), &target) {
            (_, None) | (0..=5, _) => 'I',
            (6, _) => 'E',
            _ => 'P',
        };
        let usd = kind == 'I' && r.below(5) == 0;
        let sub = 100 + r.below(500_000);
        let (sub, total) = match (kind, &target) {
            ('E', Some(t)) => ((t.total / 10) * 100 / 116, t.total / 10),
            _ => (sub, sub * 116 / 100),
        };
        let uuid = r.uuid();
        let mut s = String::with_capacity(2400);
        let pago_ns = if v4 {
            "xmlns:pago20=\"http://www.sat.gob.mx/Pagos20\""
        } else {
            "xmlns:pago10=\"http://www.sat.gob.mx/Pagos\""
        };
        let _ = write!(
            s,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cfdi:Comprobante xmlns:cfdi=\"http://www.sat.gob.mx/cfd/{ns}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:tfd=\"http://www.sat.gob.mx/TimbreFiscalDigital\" {pago_ns} Version=\"{ver}\" Serie=\"A\" Folio=\"{i}\" Fecha=\"2024-0{}-1{}T1{}:2{}:00\" Sello=\"{}\" NoCertificado=\"30001000000500003416\" Certificado=\"{}\" ",
            1 + r.below(9), r.below(10), r.below(10), r.below(10), r.b64(344),
            match &self.certificate { Some(c) => c.clone(), None => r.b64(560) }
        );
        if kind == 'P' {
            s.push_str("SubTotal=\"0\" Moneda=\"XXX\" Total=\"0\" TipoDeComprobante=\"P\"");
        } else {
            let cur_usd = usd || (kind == 'E' && target.as_ref().is_some_and(|t| t.usd));
            let _ = write!(
                s,
                "SubTotal=\"{}\" Moneda=\"{}\"{} Total=\"{}\" TipoDeComprobante=\"{kind}\" MetodoPago=\"{}\" FormaPago=\"{}\"",
                cents(sub),
                if cur_usd { "USD" } else { "MXN" },
                if cur_usd { " TipoCambio=\"17.1234\"" } else { "" },
                cents(total),
                if kind == 'E' { "PUE" } else { "PPD" },
                if kind == 'E' { "17" } else { "99" }
            );
        }
        if v4 {
            s.push_str(" Exportacion=\"01\"");
        }
        s.push_str(" LugarExpedicion=\"06600\">\n");
        if let ('E', Some(t)) = (kind, &target) {
            let _ = write!(s, "  <cfdi:CfdiRelacionados TipoRelacion=\"01\">\n    <cfdi:CfdiRelacionado UUID=\"{}\"/>\n  </cfdi:CfdiRelacionados>\n", t.uuid);
        }
        s.push_str("  <cfdi:Emisor Rfc=\"EKU9003173C9\" Nombre=\"ESCUELA KEMPER URGATE\" RegimenFiscal=\"601\"/>\n");
        let _ = writeln!(
            s,
            "  <cfdi:Receptor Rfc=\"KIJ0906199R1\" Nombre=\"KIJ, S.A DE C.V.\"{} UsoCFDI=\"{}\"/>",
            if v4 {
                " DomicilioFiscalReceptor=\"59820\" RegimenFiscalReceptor=\"601\""
            } else {
                ""
            },
            match (kind, v4) {
                ('P', true) => "CP01",
                ('P', false) => "P01",
                _ => "G03",
            }
        );
        s.push_str("  <cfdi:Conceptos>\n");
        if kind == 'P' {
            s.push_str("    <cfdi:Concepto ClaveProdServ=\"84111506\" Cantidad=\"1\" ClaveUnidad=\"ACT\" Descripcion=\"Pago\" ValorUnitario=\"0\" Importe=\"0\" ObjetoImp=\"01\"/>\n  </cfdi:Conceptos>\n");
        } else {
            let iva = total - sub;
            let _ = write!(s, "    <cfdi:Concepto ClaveProdServ=\"81112100\" NoIdentificacion=\"SKU-{}\" Cantidad=\"1\" ClaveUnidad=\"E48\" Unidad=\"Servicio\" Descripcion=\"Servicio de procesamiento de datos, mes corriente\" ValorUnitario=\"{}\" Importe=\"{}\" ObjetoImp=\"02\">\n      <cfdi:Impuestos><cfdi:Traslados><cfdi:Traslado Base=\"{}\" Impuesto=\"002\" TipoFactor=\"Tasa\" TasaOCuota=\"0.160000\" Importe=\"{}\"/></cfdi:Traslados></cfdi:Impuestos>\n    </cfdi:Concepto>\n  </cfdi:Conceptos>\n  <cfdi:Impuestos TotalImpuestosTrasladados=\"{}\"><cfdi:Traslados><cfdi:Traslado Base=\"{}\" Impuesto=\"002\" TipoFactor=\"Tasa\" TasaOCuota=\"0.160000\" Importe=\"{}\"/></cfdi:Traslados></cfdi:Impuestos>\n",
                r.below(99999), cents(sub), cents(sub), cents(sub), cents(iva), cents(iva), cents(sub), cents(iva));
        }
        s.push_str("  <cfdi:Complemento>\n");
        if let ('P', Some(t)) = (kind, &target) {
            let p = if v4 { "pago20" } else { "pago10" };
            let paid = t.total / 2;
            // A USD invoice paid in MXN at 17.00 (Pagos 2.0 EquivalenciaDR); Pagos 1.0 pays in the invoice currency.
            let (moneda_p, monto, moneda_dr, eq) = match (t.usd, v4) {
                (true, true) => ("MXN", paid * 17, "USD", "EquivalenciaDR=\"0.0588235294\""),
                (true, false) => ("USD", paid, "USD", "MetodoDePagoDR=\"PPD\""),
                (false, true) => ("MXN", paid, "MXN", "EquivalenciaDR=\"1\""),
                (false, false) => ("MXN", paid, "MXN", "MetodoDePagoDR=\"PPD\""),
            };
            let _ = writeln!(
                s,
                "    <{p}:Pagos Version=\"{}\">",
                if v4 { "2.0" } else { "1.0" }
            );
            if v4 {
                let _ = writeln!(
                    s,
                    "      <{p}:Totales MontoTotalPagos=\"{}\"/>",
                    cents(monto)
                );
            }
            let _ = writeln!(s, "      <{p}:Pago FechaPago=\"2024-04-10T12:00:00\" FormaDePagoP=\"03\" MonedaP=\"{moneda_p}\" TipoCambioP=\"1\" Monto=\"{}\" NumOperacion=\"{}\">", cents(monto), r.below(1_000_000));
            let _ = writeln!(
                s,
                "        <{p}:DoctoRelacionado IdDocumento=\"{}\" Serie=\"A\" Folio=\"{}\" MonedaDR=\"{moneda_dr}\" {eq} NumParcialidad=\"1\" ImpSaldoAnt=\"{}\" ImpPagado=\"{}\" ImpSaldoInsoluto=\"{}\"{}/>",
                t.uuid, r.below(10000), cents(t.total), cents(paid), cents(t.total - paid),
                if v4 { " ObjetoImpDR=\"01\"" } else { "" }
            );
            let _ = write!(s, "      </{p}:Pago>\n    </{p}:Pagos>\n");
        }
        let _ = write!(s, "    <tfd:TimbreFiscalDigital Version=\"1.1\" UUID=\"{uuid}\" FechaTimbrado=\"2024-04-10T13:00:04\" RfcProvCertif=\"SAT970701NN3\" SelloCFD=\"{}\" NoCertificadoSAT=\"30001000000400002311\" SelloSAT=\"{}\"/>\n  </cfdi:Complemento>\n</cfdi:Comprobante>\n", r.b64(120), r.b64(120));
        if kind == 'I' {
            let issued = Issued { uuid, total, usd };
            if self.recent.len() < 1000 {
                self.recent.push(issued);
            } else {
                let k = self.r.below(1000) as usize;
                self.recent[k] = issued;
            }
        }
        s
    }
}

fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    !data.iter().fold(!0u32, |c, b| {
        t[((c ^ u32::from(*b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Entries per package (zip32 without zip64 records holds at most 65535).
const PER_PACKAGE: u64 = 50_000;

/// Writes one package of CFDI `from..to` entry by entry (stored), streaming to disk. Returns its size.
fn write_package(path: &Path, g: &mut Gen, from: u64, to: u64) -> std::io::Result<u64> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut central = Vec::new();
    let mut off: u64 = 0;
    for i in from..to {
        let doc = g.doc(i);
        let name = format!("{i:08}.xml");
        let (crc, len) = (crc32(doc.as_bytes()), doc.len() as u32);
        let mut common = Vec::with_capacity(26);
        common.extend_from_slice(&20u16.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        common.extend_from_slice(&0u32.to_le_bytes());
        common.extend_from_slice(&crc.to_le_bytes());
        common.extend_from_slice(&len.to_le_bytes());
        common.extend_from_slice(&len.to_le_bytes());
        common.extend_from_slice(&(name.len() as u16).to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        f.write_all(&0x0403_4b50u32.to_le_bytes())?;
        f.write_all(&common)?;
        f.write_all(name.as_bytes())?;
        f.write_all(doc.as_bytes())?;
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&common);
        central.extend_from_slice(&[0; 6]);
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&(off as u32).to_le_bytes());
        central.extend_from_slice(name.as_bytes());
        off += 30 + name.len() as u64 + doc.len() as u64;
    }
    assert!(off < u32::MAX as u64, "package too large for zip32");
    let count = (to - from) as u16;
    f.write_all(&central)?;
    f.write_all(&0x0605_4b50u32.to_le_bytes())?;
    f.write_all(&[0; 4])?;
    f.write_all(&count.to_le_bytes())?;
    f.write_all(&count.to_le_bytes())?;
    f.write_all(&(central.len() as u32).to_le_bytes())?;
    f.write_all(&(off as u32).to_le_bytes())?;
    f.write_all(&0u16.to_le_bytes())?;
    f.flush()?;
    Ok(off + central.len() as u64 + 22)
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn run(label: &str, url: &str, package: &Path, n: u64) -> anyhow::Result<()> {
    let store = Store::open(url, 4).await?;
    let importer: Arc<dyn FileImporter> =
        Arc::new(cuadra_cfdi::CfdiImporter::new(vec![Rfc::parse(
            "EKU9003173C9",
        )?]));
    let started = Instant::now();
    let summary = cuadra::import::import_paths(
        &store,
        importer,
        &[package.to_path_buf()],
        &ImportOptions::default(),
        "bench",
    )
    .await?;
    let secs = started.elapsed().as_secs_f64();
    let new = summary.total("new");
    anyhow::ensure!(
        summary.errors.is_empty(),
        "import errors: {:?}",
        &summary.errors[..summary.errors.len().min(3)]
    );
    anyhow::ensure!(
        new == n,
        "expected {n} new CFDI, got {new}: {:?}",
        summary.counts
    );
    let count = |t: &'static str| {
        let store = &store;
        async move { store.count(t).await.unwrap_or(0) }
    };
    println!(
        "{label:<10} {n} CFDI in {secs:.2} s = {:.0} CFDI/s  (invoices {}, payments {}, allocations {}; peak RSS so far {} MB)",
        n as f64 / secs,
        count("invoices").await,
        count("payments").await,
        count("allocations").await,
        vm_hwm_kb() / 1024
    );
    store.pool().close().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let n: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(20_000);
    let sqlite_only = args.iter().any(|a| a == "--sqlite-only");
    let random_certificates = args.iter().any(|a| a == "--random-certificates");
    // `CUADRA_LOG=cuadra=debug` shows the import's phases.
    cuadra::telemetry::init("text", "warn");
    let dir = tempfile::tempdir()?;
    // A folder of SAT-style packages, as a download of N CFDI would leave it.
    let package: PathBuf = dir.path().join("packages");
    std::fs::create_dir_all(&package)?;
    let t = Instant::now();
    let mut g = Gen {
        r: Rng(0x9E37_79B9_7F4A_7C15),
        recent: Vec::new(),
        certificate: (!random_certificates).then(|| Rng(0x2545_F491_4F6C_DD1D).b64(560)),
    };
    let mut bytes = 0;
    let mut from = 0;
    while from < n {
        let to = (from + PER_PACKAGE).min(n);
        let name = format!("BENCH-{:04}_01.zip", from / PER_PACKAGE);
        bytes += write_package(&package.join(name), &mut g, from, to)?;
        from = to;
    }
    println!(
        "packages: {n} CFDI, {:.1} MB, generated in {:.1} s (peak RSS {} MB)",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        vm_hwm_kb() / 1024
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        run("SQLite", &sqlite, &package, n).await?;
        if sqlite_only {
            return Ok(());
        }
        let admin = std::env::var("CUADRA_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        use sqlx::{Connection, Executor};
        let mut c = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => {
                println!("PostgreSQL skipped: {e}");
                return Ok(());
            }
        };
        let name = format!("cuadra_bench_{}", std::process::id());
        c.execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap_or(admin.clone());
        let res = run("PostgreSQL", &format!("{base}/{name}"), &package, n).await;
        c.execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
            .await?;
        res
    })?;
    println!("peak RSS (VmHWM): {} MB", vm_hwm_kb() / 1024);
    Ok(())
}
