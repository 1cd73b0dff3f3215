//! Webhook intake with group commit: verified deliveries from concurrent requests are written together in one
//! transaction, and each request is answered only after the transaction holding its delivery committed. On
//! SQLite, where writers take turns, this turns N waiting commits into one.

use crate::store::{IngestOutcome, Store};
use cuadra_sdk::Delivery;
use tokio::sync::{mpsc, oneshot};

/// The most deliveries written in one transaction.
const MAX_GROUP: usize = 256;

type Reply = oneshot::Sender<Result<IngestOutcome, String>>;

#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<(String, Delivery, Reply)>,
}

impl Intake {
    /// Starts the writer task; it ends when every `Intake` clone is dropped.
    pub fn start(store: Store) -> Intake {
        let (tx, rx) = mpsc::channel(MAX_GROUP * 4);
        tokio::spawn(writer(store, rx));
        Intake { tx }
    }

    /// Stores one delivery durably; returns once it is committed.
    pub async fn submit(&self, source: &str, delivery: Delivery) -> Result<IngestOutcome, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((source.to_string(), delivery, reply))
            .await
            .map_err(|_| "the intake writer stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the intake writer stopped".to_string())?
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<(String, Delivery, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let items: Vec<(&str, &Delivery)> = group.iter().map(|(s, d, _)| (s.as_str(), d)).collect();
        match store.ingest_from(&items).await {
            Ok(outcomes) => {
                for ((_, _, reply), o) in group.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(o));
                }
            }
            Err(_) if group.len() > 1 => {
                // One bad delivery must not fail the others: store them one by one.
                for (source, d, reply) in group {
                    let r = store
                        .ingest(&source, std::slice::from_ref(&d), None)
                        .await
                        .map(|o| o.first().copied().unwrap_or(IngestOutcome::Unchanged))
                        .map_err(|e| format!("{e:#}"));
                    let _ = reply.send(r);
                }
            }
            Err(e) => {
                let msg = format!("{e:#}");
                for (_, _, reply) in group {
                    let _ = reply.send(Err(msg.clone()));
                }
            }
        }
    }
}
