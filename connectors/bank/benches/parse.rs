//! Throughput benchmark: generates large camt.053, MT940 and OFX statements and times `parse_statement` on each
//! (one core, release build). Usage:
//!
//! ```text
//! cargo bench -p cuadra-bank --bench parse -- [TRANSACTIONS] [--out DIR] [--only FORMAT]
//! ```
//!
//! `TRANSACTIONS` defaults to 200000; `--only camt053|mt940|ofx` runs one format (handy under
//! `valgrind --tool=callgrind --toggle-collect='*parse_statement*'`); `--out DIR` also writes `bench.camt053.xml`, `bench.sta` and `bench.ofx`
//! there (for `benches/compare_python.py`). Prints MB/s and transactions/s per format.

use cuadra_bank::{parse_statement, Format, ParseOptions};
use std::fmt::Write as _;
use std::time::Instant;

fn camt053(n: usize) -> String {
    let mut s = String::with_capacity(n * 900);
    s.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">\n\
         <BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2024-11-08T20:00:00</CreDtTm></GrpHdr>\n<Stmt><Id>S1</Id>\
         <Acct><Id><Othr><Id>646180157000000004</Id></Othr></Id></Acct>\n",
    );
    for i in 0..n {
        let day = 1 + (i / 5000) % 28;
        let credit = i % 7 != 0;
        let _ = write!(
            s,
            "<Ntry>\n  <Amt Ccy=\"MXN\">{}.{:02}</Amt>\n  <CdtDbtInd>{}</CdtDbtInd>\n  <Sts><Cd>BOOK</Cd></Sts>\n  \
             <BookgDt><Dt>2024-11-{day:02}</Dt></BookgDt>\n  <ValDt><Dt>2024-11-{day:02}</Dt></ValDt>\n  \
             <AcctSvcrRef>REF{i:010}</AcctSvcrRef>\n  <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>\n  \
             <NtryDtls><TxDtls>\n    <Refs><EndToEndId>E2E{i}</EndToEndId><ClrSysRef>MBAN0100241108{i:010}</ClrSysRef></Refs>\n    \
             <RltdPties><Dbtr><Pty><Nm>Cliente Ejemplo {i} SA de CV</Nm></Pty></Dbtr>\n    \
             <DbtrAcct><Id><Othr><Id>072691004495711499</Id></Othr></Id></DbtrAcct></RltdPties>\n    \
             <RmtInf><Ustrd>PAGO FACTURA A-{i} REF NUM {}</Ustrd></RmtInf>\n  </TxDtls></NtryDtls>\n</Ntry>\n",
            100 + i % 90000,
            i % 100,
            if credit { "CRDT" } else { "DBIT" },
            i % 9_999_999 + 1,
        );
    }
    s.push_str("</Stmt></BkToCstmrStmt></Document>\n");
    s
}

fn mt940(n: usize) -> String {
    let mut s = String::with_capacity(n * 260);
    let per = 1000;
    for (k, chunk) in (0..n).collect::<Vec<_>>().chunks(per).enumerate() {
        let day = 1 + k % 28;
        let _ = write!(
            s,
            ":20:STMT{k}\r\n:25:072691004495711499\r\n:28C:{k}/1\r\n:60F:C2411{day:02}MXN0,00\r\n"
        );
        for &i in chunk {
            let mark = if i % 7 == 0 { 'D' } else { 'C' };
            let _ = write!(
                s,
                ":61:2411{day:02}11{day:02}{mark}N{},{:02}NTRFREF{i}//B{i}\r\n:86:166?00SPEI RECIBIDO?20PAGO FACTURA A-{i} CLAVE?21 DE RASTREO MBAN{i:012}?30BBVAMXMM?31072691004495711499?32CLIENTE EJEMPLO {i}\r\n",
                100 + i % 90000,
                i % 100
            );
        }
        let _ = write!(s, ":62F:C2411{day:02}MXN0,00\r\n-\r\n");
    }
    s
}

fn ofx(n: usize) -> String {
    let mut s = String::with_capacity(n * 220);
    s.push_str(
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\nCHARSET:1252\nCOMPRESSION:NONE\n\
         OLDFILEUID:NONE\nNEWFILEUID:NONE\n\n<OFX>\n<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0\n<SEVERITY>INFO\n</STATUS>\
         <DTSERVER>20241108\n<LANGUAGE>SPA\n</SONRS></SIGNONMSGSRSV1>\n<BANKMSGSRSV1><STMTTRNRS><TRNUID>1\n<STATUS><CODE>0\n\
         <SEVERITY>INFO\n</STATUS><STMTRS><CURDEF>MXN\n<BANKACCTFROM><BANKID>012\n<ACCTID>0123456789\n<ACCTTYPE>CHECKING\n\
         </BANKACCTFROM>\n<BANKTRANLIST><DTSTART>20241101\n<DTEND>20241130\n",
    );
    for i in 0..n {
        let day = 1 + (i / 5000) % 28;
        let sign = if i % 7 == 0 { "-" } else { "" };
        let _ = write!(
            s,
            "<STMTTRN>\n<TRNTYPE>CREDIT\n<DTPOSTED>202411{day:02}120000.000[-6:CST]\n<TRNAMT>{sign}{}.{:02}\n<FITID>F{i:010}\n\
             <NAME>CLIENTE EJEMPLO {i}\n<MEMO>PAGO FACTURA A-{i} CLAVE DE RASTREO MBAN{i:012}\n</STMTTRN>\n",
            100 + i % 90000,
            i % 100
        );
    }
    s.push_str("</BANKTRANLIST><LEDGERBAL><BALAMT>0\n<DTASOF>20241130\n</LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n");
    s
}

/// CPU time of this thread in nanoseconds (Linux `/proc/thread-self/schedstat`), if available.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// A format, the file name for `--out`, and the generator of a statement with N transactions.
type Generator = (Format, &'static str, fn(usize) -> String);

/// User and system CPU time of this thread in seconds (`/proc/thread-self/stat`, clock ticks of 10 ms): the
/// system part is mostly the kernel zeroing fresh pages for the result, which a busy machine makes slower.
fn thread_user_sys() -> Option<(f64, f64)> {
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let mut it = s.get(s.rfind(')')? + 2..)?.split_whitespace().skip(11);
    let user: f64 = it.next()?.parse().ok()?;
    let sys: f64 = it.next()?.parse().ok()?;
    Some((user / 100.0, sys / 100.0))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut n = 200_000usize;
    let mut out: Option<String> = None;
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--out" {
            out = it.next().cloned();
        } else if a == "--only" {
            only = it.next().cloned();
        } else if let Ok(v) = a.replace(['_', ','], "").parse() {
            n = v;
        }
    }
    println!("generating {n} transactions per format");
    let gens: [Generator; 3] = [
        (Format::Camt053, "bench.camt053.xml", camt053),
        (Format::Mt940, "bench.sta", mt940),
        (Format::Ofx, "bench.ofx", ofx),
    ];
    let files: Vec<(Format, &str, String)> = gens
        .iter()
        .filter(|(f, _, _)| only.is_none() || only.as_deref() == Some(f.as_str()))
        .map(|(f, name, g)| (*f, *name, g(n)))
        .collect();
    for (format, name, data) in &files {
        if let Some(dir) = &out {
            let path = std::path::Path::new(dir).join(name);
            if let Err(e) = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, data)) {
                eprintln!("cannot write {}: {e}", path.display());
            }
        }
        let bytes = data.as_bytes();
        let us0 = thread_user_sys();
        let cpu0 = thread_cpu_ns();
        let start = Instant::now();
        let parsed = match parse_statement(*format, bytes, &ParseOptions::default()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{format}: {e}");
                continue;
            }
        };
        let wall = start.elapsed().as_secs_f64();
        // On a shared machine wall time includes waiting for a core; the thread's CPU time is the fair figure.
        let secs = match (cpu0, thread_cpu_ns()) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
            _ => wall,
        };
        let split = match (us0, thread_user_sys()) {
            (Some((u0, s0)), Some((u1, s1))) => {
                format!("  [{:.2} s user, {:.2} s sys]", u1 - u0, s1 - s0)
            }
            _ => String::new(),
        };
        let mb = bytes.len() as f64 / 1_000_000.0;
        println!(
            "{:<8} {:>8.1} MB  {:>9} tx  {:>7.3} s cpu ({:.3} s wall)  {:>7.1} MB/s  {:>10.0} tx/s  ({} problems){split}",
            format.as_str(),
            mb,
            parsed.entries.len(),
            secs,
            wall,
            mb / secs,
            parsed.entries.len() as f64 / secs,
            parsed.problems.len()
        );
    }
}
