//! Group commit for event ingest: one writer task stores the events of many concurrent
//! requests in one transaction (up to [`MAX_BATCH`]), and answers each request only after its
//! batch has committed. A commit costs about the same for one row as for hundreds, so this is
//! what lets SQLite's single writer keep up with a burst of webhooks.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{EventRow, Store, StoreError, StoreResult};

/// The most events one transaction takes.
pub const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<StoreResult<(String, bool)>>;

/// The handle requests submit their event through.
#[derive(Clone)]
pub struct IngestBatcher {
    jobs: mpsc::Sender<(EventRow, Reply)>,
}

impl IngestBatcher {
    /// Starts the writer task (within the Tokio runtime).
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_batches(store, queue));
        IngestBatcher { jobs }
    }

    /// Stores the event once per dedupe key, as [`Store::ingest_event`]; answers after the
    /// commit: the stored id and whether it was already there.
    pub async fn ingest(&self, event: EventRow) -> StoreResult<(String, bool)> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Database(sqlx::Error::PoolClosed);
        self.jobs.send((event, reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn write_batches(store: Arc<dyn Store>, mut queue: mpsc::Receiver<(EventRow, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (events, replies): (Vec<EventRow>, Vec<Reply>) = batch.drain(..).unzip();
        match store.ingest_events(&events).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            // One bad row must not fail its neighbours: store them one by one instead.
            Err(error) => {
                tracing::warn!(%error, size = events.len(), "batched ingest failed; storing one by one");
                for (event, reply) in events.iter().zip(replies) {
                    let _ = reply.send(store.ingest_event(event).await);
                }
            }
        }
    }
}
