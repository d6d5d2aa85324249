//! Every check-in says "I am alive"; writing that row by row would make the database's commit
//! rate the fleet's limit. Beats go into a queue and one writer commits whatever has gathered
//! while the previous batch was being written (group commit): one transaction under light
//! load, hundreds per transaction under a national fleet.
//!
//! A beat is not accepted data: a crash loses at most the batch in flight, and the PC's next
//! check-in, five minutes later, says the same again.

use crate::store::Store;
use crate::store::history::Beat;
use tokio::sync::mpsc;

// Bounds how long one batch holds the write turn (SQLite: other writers wait for it).
const MAX_BATCH: usize = 512;

#[derive(Debug, Clone)]
pub struct Heartbeats {
    tx: mpsc::UnboundedSender<Beat>,
}

impl Heartbeats {
    /// Starts the writer; it ends (after writing what is queued) when every sender is gone.
    pub fn start(store: Store) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Beat>();
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                if let Err(e) = store.record_beats(&batch).await {
                    // The next check-in repeats it; say so once per failed batch.
                    tracing::warn!(beats = batch.len(), error = %e, "could not record check-ins");
                    metrics::counter!("borgerpc_heartbeat_write_errors_total").increment(1);
                } else {
                    metrics::counter!("borgerpc_heartbeats_written_total")
                        .increment(batch.len() as u64);
                }
                batch.clear();
            }
        });
        (Self { tx }, task)
    }

    pub fn beat(&self, beat: Beat) {
        // Fails only after shutdown began; the beat is then moot.
        let _ = self.tx.send(beat);
    }
}
