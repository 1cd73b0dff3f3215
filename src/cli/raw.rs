//! `cuadra raw`: a delivery from the raw inbox exactly as it was delivered, or the list of those kept under a key.

use crate::app::App;

pub(super) async fn raw(
    app: &App,
    key: &str,
    kind: Option<&str>,
    list: bool,
) -> anyhow::Result<i32> {
    use std::io::Write as _;
    let mut found = app.store.raw_deliveries(key).await?;
    found.retain(|r| kind.is_none_or(|k| r.kind == k));
    // A CFDI's UUID also names its SAT metadata line: the document comes first.
    found.sort_by_key(|r| (r.kind != "cfdi", r.id));
    let Some(first) = found.first() else {
        let of = kind.map(|k| format!(" of kind {k}")).unwrap_or_default();
        eprintln!("error: nothing in the raw inbox{of} under {key:?} (a raw id or an external id)");
        return Ok(2);
    };
    if list {
        println!("id\tsource\tkind\texternal_id\tsha256\treceived_at\tbytes");
        for r in &found {
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                r.id,
                r.source,
                r.kind,
                r.external_id,
                r.sha256,
                r.received_at,
                r.body.len()
            );
        }
        return Ok(0);
    }
    if found.len() > 1 {
        let others: Vec<String> = found[1..]
            .iter()
            .map(|r| format!("{} ({})", r.id, r.kind))
            .collect();
        eprintln!(
            "{} deliveries under {key}; printing raw {} ({}, the first received); the others: {}",
            found.len(),
            first.id,
            first.kind,
            others.join(", ")
        );
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&first.body)?;
    out.flush()?;
    Ok(0)
}
