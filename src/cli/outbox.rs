//! `cuadra outbox list|retry|drop`: what is waiting to go to the ERP and other sinks.

use super::OutboxCommand;
use crate::app::App;
use crate::output;

pub(super) async fn outbox(app: &App, cmd: OutboxCommand) -> anyhow::Result<i32> {
    match cmd {
        OutboxCommand::List {
            state,
            format,
            output,
        } => {
            let rows = app.store.outbox_list(state.as_deref()).await?;
            let table = crate::store::Table {
                columns: crate::store::OUTBOX_COLUMNS.to_vec(),
                rows: rows
                    .into_iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.connector,
                            r.event_type,
                            r.ordering_key,
                            r.state,
                            r.attempts.to_string(),
                            r.next_attempt_at,
                            r.last_error.unwrap_or_default(),
                            r.created_at,
                        ]
                    })
                    .collect(),
            };
            output::write(&table, format, output.as_deref())?;
            Ok(0)
        }
        OutboxCommand::Retry { id } => {
            if app.store.outbox_retry(id).await? {
                println!("outbox message {id} queued again");
                Ok(0)
            } else {
                eprintln!("error: no dead or pending outbox message {id}");
                Ok(2)
            }
        }
        OutboxCommand::Drop { id } => {
            if app.store.outbox_drop(id).await? {
                println!("outbox message {id} dropped");
                Ok(0)
            } else {
                eprintln!("error: no dead or pending outbox message {id}");
                Ok(2)
            }
        }
    }
}
