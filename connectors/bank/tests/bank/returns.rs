//! Return and reversal marks in every format: the entry that undoes an earlier credit gets the status `reversal`
//! (camt `RvslInd` and `RtrInf`, MT940 `RC`/`RD`, a debit whose text says `DEVOLUCION`/`RTRN` in CSV and OFX),
//! keeps the clave de rastreo it carries, and an ordinary debit or credit is left alone.

use crate::formats::d;
use cuadra_bank::{parse_statement, Format, ParseOptions, Parsed};

fn parse(format: Format, text: &str) -> Parsed {
    let p = parse_statement(format, text.as_bytes(), &ParseOptions::default())
        .unwrap_or_else(|e| panic!("{format:?}: {e}"));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    p
}

fn statuses(p: &Parsed) -> Vec<(String, Option<String>)> {
    p.entries
        .iter()
        .map(|e| {
            (
                e.record.amount.amount().to_string(),
                e.record.status.clone(),
            )
        })
        .collect()
}

const CAMT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>R-1</MsgId><CreDtTm>2026-03-10T20:00:00-06:00</CreDtTm></GrpHdr>
<Stmt><Id>R-1</Id><Acct><Id><Othr><Id>646180157000000004</Id></Othr></Id><Ccy>MXN</Ccy></Acct>
<Ntry><Amt Ccy="MXN">1160.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
 <BookgDt><Dt>2026-03-02</Dt></BookgDt><AcctSvcrRef>R-0001</AcctSvcrRef>
 <NtryDtls><TxDtls><Refs><ClrSysRef>MBAN01002603020000000001</ClrSysRef></Refs>
 <RmtInf><Ustrd>PAGO A-1008</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="MXN">1160.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd><Sts><Cd>BOOK</Cd></Sts>
 <BookgDt><Dt>2026-03-05</Dt></BookgDt><AcctSvcrRef>R-0002</AcctSvcrRef>
 <NtryDtls><TxDtls><Refs><ClrSysRef>MBAN01002603020000000001</ClrSysRef></Refs></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="MXN">500.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
 <BookgDt><Dt>2026-03-06</Dt></BookgDt><AcctSvcrRef>R-0003</AcctSvcrRef>
 <NtryDtls><TxDtls><Refs><ClrSysRef>BNET01002603040000000009</ClrSysRef></Refs>
 <RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="MXN">75.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
 <BookgDt><Dt>2026-03-06</Dt></BookgDt><AcctSvcrRef>R-0004</AcctSvcrRef>
 <AddtlNtryInf>COMISION SPEI</AddtlNtryInf></Ntry>
</Stmt></BkToCstmrStmt></Document>"#;

#[test]
fn camt_reversal_indicator_and_return_information_mark_a_reversal() {
    let p = parse(Format::Camt053, CAMT);
    let s = statuses(&p);
    assert_eq!(s.len(), 4, "{s:?}");
    assert_eq!(s[0].1.as_deref(), Some("booked"), "the credit");
    assert_eq!(s[1].1.as_deref(), Some("reversal"), "RvslInd=true");
    assert_eq!(s[2].1.as_deref(), Some("reversal"), "RtrInf/Rsn/Cd");
    assert_eq!(s[3].1.as_deref(), Some("booked"), "a fee is no return");
    let ret = &p.entries[1].record;
    assert_eq!(ret.amount.amount(), d("-1160.00"));
    assert_eq!(
        ret.clave_rastreo.as_deref(),
        Some("MBAN01002603020000000001"),
        "the return carries the credit's clave de rastreo"
    );
    assert!(p.entries[2]
        .record
        .concepto
        .as_deref()
        .is_some_and(|c| c.contains("AC04")));
}

#[test]
fn mt940_rc_mark_and_return_text_mark_a_reversal() {
    let sta = "{1:F01BANKMXMMAXXX0000000000}{2:O940BANKMXMMXXXXN}{3:}{4:
:20:STMT-R
:25:072691004495711499MXN
:28C:7/1
:60F:C260301MXN1000,00
:61:2603020302CN1160,00NTRFNONREF//BANK101
:86:SPEI RECIBIDO PAGO A-1008 CLAVE DE RASTREO MBAN01002603020000000001
:61:2603050305RC1160,00NTRFNONREF//BANK102
:86:DEV SPEI CLAVE DE RASTREO MBAN01002603020000000001
:61:2603060306D500,00NTRFNONREF//BANK103
:86:DEVOLUCION SPEI CLAVE DE RASTREO BNET01002603040000000009
:61:2603060306D7,50NMSCNONREF//BANK104
:86:COMISION SPEI
:62F:C260306MXN492,50
-}";
    let p = parse(Format::Mt940, sta);
    let s = statuses(&p);
    assert_eq!(s.len(), 4, "{s:?}");
    assert_eq!(s[0], ("1160.00".into(), None));
    assert_eq!(s[1], ("-1160.00".into(), Some("reversal".into())), "RC");
    assert_eq!(s[2], ("-500.00".into(), Some("reversal".into())), "text");
    assert_eq!(s[3], ("-7.50".into(), None));
    assert_eq!(
        p.entries[1].record.clave_rastreo.as_deref(),
        Some("MBAN01002603020000000001")
    );
}

#[test]
fn csv_debit_rows_saying_devolucion_are_reversals() {
    let csv = "CUENTA,FECHA,DESCRIPCIÓN,CONCEPTO,REFERENCIA,REFERENCIA BANCARIA,BENEFICIARIO,CARGO,ABONO,SALDO
012180001234567895,02/03/2026,SPEI RECIBIDO CLAVE DE RASTREO MBAN01002603020000000001,PAGO FACTURA A-1008,1234567,BB101,COMERCIALIZADORA EJEMPLO,,\"1,160.00\",\"2,160.00\"
012180001234567895,05/03/2026,DEVOLUCION SPEI CLAVE DE RASTREO MBAN01002603020000000001,CUENTA INEXISTENTE,,BB102,COMERCIALIZADORA EJEMPLO,\"1,160.00\",,\"1,000.00\"
012180001234567895,05/03/2026,COMISION SPEI,,,BB103,,7.50,,992.50
012180001234567895,06/03/2026,DEVOLUCION DE ABONO,,,BB104,,,20.00,\"1,012.50\"
";
    let p = parse(Format::Csv, csv);
    let s = statuses(&p);
    assert_eq!(s.len(), 4, "{s:?}");
    assert_eq!(s[0].1, None);
    assert_eq!(s[1].1.as_deref(), Some("reversal"));
    assert_eq!(s[2].1, None, "a fee");
    assert_eq!(s[3].1, None, "a credit is never a return of ours");
    assert_eq!(
        p.entries[1].record.clave_rastreo.as_deref(),
        Some("MBAN01002603020000000001")
    );
}

#[test]
fn ofx_debit_with_return_memo_is_a_reversal() {
    let ofx = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<?OFX OFXHEADER="200" VERSION="211" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>
<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>0</TRNUID><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>
<STMTRS><CURDEF>MXN</CURDEF>
<BANKACCTFROM><BANKID>012</BANKID><ACCTID>0123456789</ACCTID><ACCTTYPE>CHECKING</ACCTTYPE></BANKACCTFROM>
<BANKTRANLIST><DTSTART>20260301</DTSTART><DTEND>20260331</DTEND>
<STMTTRN><TRNTYPE>CREDIT</TRNTYPE><DTPOSTED>20260302</DTPOSTED><TRNAMT>1160.00</TRNAMT><FITID>F-1</FITID><NAME>COMERCIALIZADORA EJEMPLO</NAME><MEMO>PAGO A-1008</MEMO></STMTTRN>
<STMTTRN><TRNTYPE>DEBIT</TRNTYPE><DTPOSTED>20260305</DTPOSTED><TRNAMT>-1160.00</TRNAMT><FITID>F-2</FITID><NAME>COMERCIALIZADORA EJEMPLO</NAME><MEMO>DEVOLUCION SPEI F-1</MEMO></STMTTRN>
<STMTTRN><TRNTYPE>DEBIT</TRNTYPE><DTPOSTED>20260306</DTPOSTED><TRNAMT>-7.50</TRNAMT><FITID>F-3</FITID><MEMO>COMISION</MEMO></STMTTRN>
</BANKTRANLIST>
</STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>"#;
    let p = parse(Format::Ofx, ofx);
    let s = statuses(&p);
    assert_eq!(s.len(), 3, "{s:?}");
    assert_eq!(s[0].1.as_deref(), Some("credit"));
    assert_eq!(s[1].1.as_deref(), Some("reversal"));
    assert_eq!(s[2].1.as_deref(), Some("debit"));
}
