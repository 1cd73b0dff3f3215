//! The outbox worker: change capture to messages, delivery with the idempotency key, retries, dead letters,
//! per-invoice order and restart, on both backends. The sink here is an in-test receiver; the HTTP and Odoo sinks
//! are tested against their fake servers in their own modules.

use super::helpers::{backends, build_app, fresh_db};
use async_trait::async_trait;
use cuadra::registry::Connector;
use cuadra_sdk::{OutboundMessage, Receipt, Sink, SinkError};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<(String, String, String)>>,
    fail_next: Mutex<u32>,
    poison_type: Mutex<Option<String>>,
}

#[async_trait]
impl Sink for Recorder {
    async fn deliver(&self, msg: &OutboundMessage) -> Result<Receipt, SinkError> {
        if self.poison_type.lock().unwrap().as_deref() == Some(msg.event_type.as_str()) {
            return Err(SinkError::Permanent("receiver refuses this message".into()));
        }
        {
            let mut f = self.fail_next.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                return Err(SinkError::Retryable("503 from receiver".into()));
            }
        }
        self.got.lock().unwrap().push((
            msg.key.to_string(),
            msg.event_type.clone(),
            msg.ordering_key.clone(),
        ));
        Ok(Receipt::default())
    }
}

async fn app_with_sink(db: &super::helpers::TestDb, rec: Arc<Recorder>) -> cuadra::app::App {
    build_app(
        db,
        "[outbox]\nretry_schedule_secs = [1]\nmax_attempts = 3\n",
    )
    .await
    .with_connector(Connector {
        name: "erp".into(),
        kind: "test".into(),
        sink: Some(rec),
        ..Default::default()
    })
}

async fn seed(app: &cuadra::app::App) {
    let batch = vec![
        super::store::invoice("11111111-1111-4111-8111-111111111111", "1", "100.00"),
        super::store::invoice("22222222-2222-4222-8222-222222222222", "2", "200.00"),
    ];
    app.store.ingest("t", &batch, None).await.unwrap();
}

#[tokio::test]
async fn changes_are_delivered_once_with_retries_and_dead_letters() {
    for b in backends().await {
        let db = fresh_db(b).await;
        let rec = Arc::new(Recorder::default());
        let app = app_with_sink(&db, rec.clone()).await;
        seed(&app).await;
        let state = cuadra::outbox::Delivery::default();
        *rec.fail_next.lock().unwrap() = 1;
        cuadra::outbox::deliver_once(&app, &state).await.unwrap();
        // One failed (retry in ~1 s), one delivered.
        assert_eq!(rec.got.lock().unwrap().len(), 1, "{b:?}");
        let pending = app.store.outbox_list(Some("pending")).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].attempts, 1);
        tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
        cuadra::outbox::deliver_once(&app, &state).await.unwrap();
        let got = rec.got.lock().unwrap().clone();
        assert_eq!(got.len(), 2, "{b:?}");
        assert!(got.iter().all(|(_, t, _)| t == "invoice.updated"));
        // Nothing changed: nothing new to deliver; a restart (new app on the same database) delivers nothing twice.
        cuadra::outbox::deliver_once(&app, &state).await.unwrap();
        let app2 = app_with_sink(&db, rec.clone()).await;
        cuadra::outbox::deliver_once(&app2, &cuadra::outbox::Delivery::default())
            .await
            .unwrap();
        assert_eq!(
            rec.got.lock().unwrap().len(),
            2,
            "{b:?}: nothing delivered twice"
        );
        // A poison message goes to the dead letters and can be retried by hand.
        *rec.poison_type.lock().unwrap() = Some("invoice.updated".into());
        app.store
            .ingest(
                "t",
                &[super::store::invoice(
                    "33333333-3333-4333-8333-333333333333",
                    "3",
                    "1.00",
                )],
                None,
            )
            .await
            .unwrap();
        cuadra::outbox::deliver_once(&app, &state).await.unwrap();
        let dead = app.store.outbox_list(Some("dead")).await.unwrap();
        assert_eq!(dead.len(), 1, "{b:?}");
        *rec.poison_type.lock().unwrap() = None;
        assert!(app.store.outbox_retry(dead[0].id).await.unwrap());
        cuadra::outbox::deliver_once(&app, &state).await.unwrap();
        assert_eq!(rec.got.lock().unwrap().len(), 3, "{b:?}");
        assert!(app
            .store
            .outbox_list(Some("dead"))
            .await
            .unwrap()
            .is_empty());
    }
}
