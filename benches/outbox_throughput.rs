//! Outbox throughput to a local fast receiver: N invoices are ingested into a fresh SQLite ledger with an `http`
//! sink configured, change capture (`publish_changes`) turns them into N `invoice.updated` messages, then
//! `deliver_once` runs in a loop until the outbox is empty. The receiver is `cuadra_testkit::erp::Receiver` on
//! 127.0.0.1:0 (verifies every Standard Webhooks signature, answers 204).
//!
//! `cargo bench --bench outbox_throughput -- [N] [concurrency...]` (defaults: 20000, concurrency 4 8 16 32).
//! Target (issue 7): ≥ 2,000 messages/s on SQLite.

use chrono::{TimeZone, Utc};
use cuadra_sdk::*;
use std::time::Instant;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn invoice(n: u64) -> Delivery {
    let uuid = format!("{:08x}-0000-4000-8000-{:012x}", n, n * 7919);
    Delivery {
        kind: "cfdi".into(),
        external_id: uuid.clone(),
        raw: format!("<cfdi uuid='{uuid}'/>").into_bytes(),
        records: vec![Record::Invoice(InvoiceRecord {
            uuid: Some(CfdiUuid::parse(&uuid).unwrap()),
            serie: Some("A".into()),
            folio: Some(n.to_string()),
            issuer_rfc: Some(Rfc::parse("EKU9003173C9").unwrap()),
            customer_rfc: Some(Rfc::parse("AAA010101AAA").unwrap()),
            customer_name: Some("Acme".into()),
            issued_at: Utc.with_ymd_and_hms(2026, 1, 10, 18, 0, 0).unwrap(),
            due_at: None,
            total: Money::parse(&format!("{}.00", 100 + n % 9000), Currency::MXN).unwrap(),
            subtotal: None,
            exchange_rate: None,
            payment_method: Some(PaymentMethod::Ppd),
            payment_form: Some("99".into()),
            replaces: vec![],
            erp_id: None,
            erp_residual: None,
            version: "4.0".into(),
        })],
    }
}

async fn one(n: u64, concurrency: u32) -> anyhow::Result<()> {
    let receiver = cuadra_testkit::erp::Receiver::start(SECRET).await?;
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("cuadra.toml");
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[inbox]\npath = \"{}\"\n[outbox]\nconcurrency = {concurrency}\n\
             [connectors.erp]\nkind = \"http\"\nevents_url = \"{}\"\nsigning_secret = \"{SECRET}\"\n",
            dir.path().join("cuadra.db").display(),
            dir.path().join("inbox").display(),
            receiver.url()
        ),
    )?;
    let settings =
        cuadra::config::Settings::load_with_env(Some(&cfg), Vec::<(String, String)>::new())?;
    let app = cuadra::app::App::build(settings).await?;
    let all: Vec<Delivery> = (1..=n).map(invoice).collect();
    for chunk in all.chunks(1000) {
        app.store.ingest("bench", chunk, None).await?;
    }
    let t = Instant::now();
    let published = app.store.publish_changes(&["erp".to_string()]).await?;
    let publish_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(published == n, "published {published}, expected {n}");
    let state = cuadra::outbox::Delivery::default();
    let t = Instant::now();
    let mut passes = 0;
    loop {
        let attempted = cuadra::outbox::deliver_once(&app, &state).await?;
        passes += 1;
        if attempted == 0 {
            break;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let got = receiver.received().len() as u64;
    let dead = app.store.outbox_list(Some("dead")).await?.len();
    anyhow::ensure!(got >= n && dead == 0, "received {got} of {n}, {dead} dead");
    println!(
        "{n:>7} {concurrency:>11} {publish_s:>10.2} {secs:>10.2} {:>12.0} {passes:>7}",
        n as f64 / secs
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(20_000);
    let levels: Vec<u32> = if args.len() > 1 {
        args[1..].iter().map(|c| *c as u32).collect()
    } else {
        vec![4, 8, 16, 32]
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "messages concurrency publish_s deliver_s   messages/s  passes  (SQLite, local receiver)"
    );
    for c in levels {
        rt.block_on(one(n, c))?;
    }
    Ok(())
}
