//! Parse throughput: generates realistic CFDI (mixed I/E/P, 3.3 and 4.0, about 2 KB each), parses them with
//! `cuadra_cfdi::parse` and compares with a bare quick-xml event scan of the same bytes.
//!
//! `cargo bench -p cuadra-cfdi --bench parse -- [N] [--write-dir DIR]`: N parses (default 200000) over a pool of
//! 10000 distinct documents; `--write-dir` also writes N documents as `DIR/000000.xml`… for
//! `benches/satcfdi_bench.py`; `--only scan|parse|normalize` runs one measurement only (for instruction counts
//! under `valgrind --tool=cachegrind` or `perf stat`).

use std::fmt::Write as _;
use std::time::Instant;

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
        let h = format!("{:016X}{:016X}", self.next(), self.next());
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

fn money(r: &mut Rng) -> (u64, u64) {
    let sub = 100 + r.below(500_000);
    (sub, sub * 116 / 100)
}

fn cents(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

fn generate(i: u64, r: &mut Rng) -> String {
    let v4 = r.below(4) != 0;
    let (ns, ver) = if v4 { ("4", "4.0") } else { ("3", "3.3") };
    let kind = match r.below(10) {
        0..=5 => 'I',
        6 => 'E',
        _ => 'P',
    };
    let (sub, total) = money(r);
    let uuid = r.uuid();
    let mut s = String::with_capacity(2300);
    let pago_ns = if v4 {
        "xmlns:pago20=\"http://www.sat.gob.mx/Pagos20\""
    } else {
        "xmlns:pago10=\"http://www.sat.gob.mx/Pagos\""
    };
    let _ = write!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cfdi:Comprobante xmlns:cfdi=\"http://www.sat.gob.mx/cfd/{ns}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:tfd=\"http://www.sat.gob.mx/TimbreFiscalDigital\" {pago_ns} Version=\"{ver}\" Serie=\"A\" Folio=\"{i}\" Fecha=\"2024-0{}-1{}T1{}:2{}:00\" Sello=\"{}\" NoCertificado=\"30001000000500003416\" Certificado=\"{}\" ",
        1 + r.below(9), r.below(10), r.below(10), r.below(10), r.b64(344), r.b64(560)
    );
    if kind == 'P' {
        s.push_str("SubTotal=\"0\" Moneda=\"XXX\" Total=\"0\" TipoDeComprobante=\"P\"");
    } else {
        let usd = r.below(5) == 0;
        let _ = write!(
            s,
            "SubTotal=\"{}\" Moneda=\"{}\"{} Total=\"{}\" TipoDeComprobante=\"{kind}\" MetodoPago=\"{}\" FormaPago=\"{}\"",
            cents(sub),
            if usd { "USD" } else { "MXN" },
            if usd { " TipoCambio=\"17.1234\"" } else { "" },
            cents(total),
            if kind == 'E' || r.below(2) == 0 { "PUE" } else { "PPD" },
            if kind == 'E' { "17" } else { "99" }
        );
    }
    if v4 {
        s.push_str(" Exportacion=\"01\"");
    }
    s.push_str(" LugarExpedicion=\"06600\">\n");
    if kind == 'E' {
        let _ = write!(s, "  <cfdi:CfdiRelacionados TipoRelacion=\"01\">\n    <cfdi:CfdiRelacionado UUID=\"{}\"/>\n  </cfdi:CfdiRelacionados>\n", r.uuid());
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
        if kind == 'P' {
            if v4 {
                "CP01"
            } else {
                "P01"
            }
        } else {
            "G03"
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
    if kind == 'P' {
        let p = if v4 { "pago20" } else { "pago10" };
        let _ = writeln!(
            s,
            "    <{p}:Pagos Version=\"{}\">",
            if v4 { "2.0" } else { "1.0" }
        );
        if v4 {
            let _ = writeln!(
                s,
                "      <{p}:Totales MontoTotalPagos=\"{}\"/>",
                cents(total)
            );
        }
        let _ = writeln!(s, "      <{p}:Pago FechaPago=\"2024-04-10T12:00:00\" FormaDePagoP=\"03\" MonedaP=\"MXN\" TipoCambioP=\"1\" Monto=\"{}\" NumOperacion=\"{}\">", cents(total), r.below(1_000_000));
        let _ = writeln!(
            s,
            "        <{p}:DoctoRelacionado IdDocumento=\"{}\" Serie=\"A\" Folio=\"{}\" MonedaDR=\"MXN\" {} NumParcialidad=\"1\" ImpSaldoAnt=\"{}\" ImpPagado=\"{}\" ImpSaldoInsoluto=\"0.00\"{}/>",
            r.uuid(), r.below(10000),
            if v4 { "EquivalenciaDR=\"1\"" } else { "MetodoDePagoDR=\"PPD\"" },
            cents(total), cents(total),
            if v4 { " ObjetoImpDR=\"01\"" } else { "" }
        );
        let _ = write!(s, "      </{p}:Pago>\n    </{p}:Pagos>\n");
    }
    let _ = write!(s, "    <tfd:TimbreFiscalDigital Version=\"1.1\" UUID=\"{uuid}\" FechaTimbrado=\"2024-04-10T13:00:04\" RfcProvCertif=\"SAT970701NN3\" SelloCFD=\"{}\" NoCertificadoSAT=\"30001000000400002311\" SelloSAT=\"{}\"/>\n  </cfdi:Complemento>\n</cfdi:Comprobante>\n", r.b64(120), r.b64(120));
    s
}

fn bare_scan(doc: &[u8]) -> usize {
    let mut r = quick_xml::Reader::from_reader(doc);
    let mut n = 0;
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) | Err(_) => return n,
            Ok(_) => n += 1,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut n: u64 = 200_000;
    let mut write_dir = None;
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--write-dir" {
            write_dir = it.next().cloned();
        } else if a == "--only" {
            only = it.next().cloned();
        } else if let Ok(v) = a.parse() {
            n = v;
        }
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let pool_size = n.min(10_000);
    let pool: Vec<Vec<u8>> = (0..pool_size)
        .map(|i| generate(i, &mut rng).into_bytes())
        .collect();
    if let Some(dir) = write_dir {
        std::fs::create_dir_all(&dir).expect("create --write-dir");
        for i in 0..n {
            let doc = &pool[(i % pool_size) as usize];
            std::fs::write(format!("{dir}/{i:06}.xml"), doc).expect("write a generated CFDI");
        }
        println!("wrote {n} CFDI to {dir}");
    }
    let bytes: u64 = (0..n)
        .map(|i| pool[(i % pool_size) as usize].len() as u64)
        .sum();
    println!("{n} CFDI, {:.0} bytes average", bytes as f64 / n as f64);
    let company = vec![cuadra_sdk::Rfc::parse("EKU9003173C9").expect("valid RFC")];

    let report = |name: &str, secs: f64| {
        println!(
            "{name:<28} {:>10.0} CFDI/s {:>8.1} MB/s  ({secs:.3} s)",
            n as f64 / secs,
            bytes as f64 / secs / 1e6
        );
    };
    let run = |what: &str| only.is_none() || only.as_deref() == Some(what);
    let mut events = 0usize;
    if run("scan") {
        let t = Instant::now();
        for i in 0..n {
            events += bare_scan(&pool[(i % pool_size) as usize]);
        }
        report("quick-xml bare event scan", t.elapsed().as_secs_f64());
    }
    let mut ok = 0usize;
    if run("parse") {
        let t = Instant::now();
        for i in 0..n {
            if cuadra_cfdi::parse(&pool[(i % pool_size) as usize]).is_ok() {
                ok += 1;
            }
        }
        report("cuadra_cfdi::parse", t.elapsed().as_secs_f64());
        assert_eq!(ok as u64, n, "every generated CFDI parses");
    }
    let mut recs = 0usize;
    if run("normalize") {
        let t = Instant::now();
        for i in 0..n {
            if let Ok(c) = cuadra_cfdi::parse(&pool[(i % pool_size) as usize]) {
                recs += cuadra_cfdi::normalize(&c, &company).len();
            }
        }
        report("parse + normalize", t.elapsed().as_secs_f64());
    }
    println!("({events} events, {ok} parsed, {recs} records)");
}
