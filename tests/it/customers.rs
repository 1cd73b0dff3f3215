//! Customer master import through the binary: bad rows by line, exit 2, idempotent re-import.

use super::helpers::{backends, config_path, cuadra, fresh_db, test_settings};
use cuadra_sdk::{clabe_check_digit, Rfc};

/// A valid RFC for row `i` (company form, check digit computed).
fn rfc(i: usize) -> String {
    let letters = ["ABC", "DEF", "GHI", "JKL", "MNO"][i % 5];
    let stem = format!(
        "{letters}{:02}0101{}{}",
        10 + i % 80,
        (b'A' + (i % 26) as u8) as char,
        i % 10
    );
    let mut s = format!("{stem}0");
    let digit = Rfc::parse(&s).unwrap().expected_check_digit();
    s.pop();
    s.push(digit);
    s
}

fn clabe(i: usize) -> String {
    let first: String = format!("01218000{:09}", i);
    let digits: Vec<u8> = first.bytes().map(|b| b - b'0').collect();
    format!("{first}{}", clabe_check_digit(&digits))
}

pub fn customer_csv(n: usize, bad: &[usize]) -> String {
    let mut s = String::from(
        "rfc,razon_social,correo,telefono,dias_credito,limite_credito,referencia,cuenta\n",
    );
    for i in 0..n {
        let line = if bad.first() == Some(&i) {
            format!("{}X,Bad RFC {i},a{i}@example.mx,,30,,,\n", &rfc(i)[..11])
        } else if bad.get(1) == Some(&i) {
            format!("{},Bad mail {i},not-an-email,,30,,,\n", rfc(i))
        } else if bad.get(2) == Some(&i) {
            let mut c = clabe(i);
            let last = c.pop().unwrap();
            c.push(if last == '9' {
                '0'
            } else {
                char::from(last as u8 + 1)
            });
            format!("{},Bad clabe {i},b{i}@example.mx,,30,,,{c}\n", rfc(i))
        } else {
            format!(
                "{},Cliente {i} SA de CV,c{i}@example.mx;d{i}@example.mx,55{:08},{},{}.50,{:07},{}\n",
                rfc(i), i, 15 + i % 45, 1000 * i, 1000000 + i, clabe(i)
            )
        };
        s.push_str(&line);
    }
    s
}

#[tokio::test]
async fn hundred_rows_three_bad() {
    for b in backends().await {
        let db = fresh_db(b).await;
        let _ = test_settings(&db, "");
        let file = db.dir.path().join("clientes.csv");
        std::fs::write(&file, customer_csv(100, &[10, 50, 90])).unwrap();
        let cfg = config_path(&db);
        let cfg = cfg.to_str().unwrap();
        let out = cuadra(
            db.dir.path(),
            &[
                "--config",
                cfg,
                "import",
                "customers",
                file.to_str().unwrap(),
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{b:?}: {stderr}");
        // Header is line 1, so customer i is on line i + 2.
        for line in [12, 52, 92] {
            assert!(
                stderr.contains(&format!("line {line}")),
                "{b:?}: missing line {line} in {stderr}"
            );
        }
        assert!(
            stderr.contains("field rfc")
                && stderr.contains("field email")
                && stderr.contains("field clabe"),
            "{stderr}"
        );
        let report = |fmt: &str| {
            let o = cuadra(
                db.dir.path(),
                &["--config", cfg, "report", "customers", "--format", fmt],
            );
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8(o.stdout).unwrap()
        };
        let first = report("csv");
        assert_eq!(first.lines().count(), 98, "{b:?}: header + 97 customers");
        assert!(first.starts_with("rfc,name,email,phone,credit_days,credit_limit,payment_reference,accounts,open_balance\n"));
        let again = cuadra(
            db.dir.path(),
            &[
                "--config",
                cfg,
                "import",
                "customers",
                file.to_str().unwrap(),
            ],
        );
        assert_eq!(again.status.code(), Some(2));
        assert_eq!(report("csv"), first, "{b:?}: re-import changes nothing");
        let json: serde_json::Value = serde_json::from_str(&report("json")).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 97);
        assert_eq!(json[0]["credit_limit"], "0.50");
    }
}

#[tokio::test]
async fn reimport_updates_in_place() {
    let db = fresh_db(super::helpers::Backend::Sqlite).await;
    let _ = test_settings(&db, "");
    let cfg = config_path(&db);
    let cfg = cfg.to_str().unwrap();
    let file = db.dir.path().join("c.csv");
    std::fs::write(&file, format!("rfc,name,credit_days\n{},Uno,30\n", rfc(1))).unwrap();
    assert_eq!(
        cuadra(
            db.dir.path(),
            &[
                "--config",
                cfg,
                "import",
                "customers",
                file.to_str().unwrap()
            ]
        )
        .status
        .code(),
        Some(0)
    );
    std::fs::write(
        &file,
        format!("rfc,name,credit_days\n{},Uno Renamed,45\n", rfc(1)),
    )
    .unwrap();
    assert_eq!(
        cuadra(
            db.dir.path(),
            &[
                "--config",
                cfg,
                "import",
                "customers",
                file.to_str().unwrap()
            ]
        )
        .status
        .code(),
        Some(0)
    );
    let o = cuadra(
        db.dir.path(),
        &["--config", cfg, "report", "customers", "--format", "csv"],
    );
    let s = String::from_utf8(o.stdout).unwrap();
    assert_eq!(s.lines().count(), 2, "{s}");
    assert!(s.contains("Uno Renamed") && s.contains(",45,"), "{s}");
}

#[tokio::test]
async fn xlsx_customers_import() {
    let db = fresh_db(super::helpers::Backend::Sqlite).await;
    let _ = test_settings(&db, "");
    let cfg = config_path(&db);
    let file = db.dir.path().join("clientes.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["RFC", "Nombre", "Dias_Credito", "Limite_Credito", "Cuenta"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, rfc(3)).unwrap();
    ws.write_string(1, 1, "Hoja SA").unwrap();
    ws.write_number(1, 2, 30.0).unwrap();
    ws.write_number(1, 3, 1500.5).unwrap();
    ws.write_string(1, 4, clabe(3)).unwrap();
    wb.save(&file).unwrap();
    let o = cuadra(
        db.dir.path(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "import",
            "customers",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = cuadra(
        db.dir.path(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "report",
            "customers",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["credit_days"], "30");
    assert_eq!(v[0]["credit_limit"], "1500.50");
    assert_eq!(v[0]["accounts"], clabe(3));
}
