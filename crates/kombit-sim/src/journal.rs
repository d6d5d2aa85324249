//! The journal: everything the simulated platform saw and did, in order.
//!
//! Tests and the demo assert on it through the inspection API (`GET /sim/journal`), so it records
//! facts as the platform would know them: calls, files, triggers, receipts and duplicates. It is
//! in memory only; a restart of the simulator starts a new journal.

use serde::Serialize;
use std::sync::{Arc, Mutex};

/// One thing the platform saw or did.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A SOAP call to `/service/SP/Distribution/3`, with the outcome the caller got.
    Call {
        operation: String,
        /// CVR from the AuthorityContext, when the request had one.
        cvr: Option<String>,
        anvender_transaktions_id: Option<String>,
        distribution_transaktions_id: Option<String>,
        /// "ok", "fault:<code>" or the ForretningsValideringsKode answered.
        outcome: String,
        duplicate: bool,
    },
    /// A file written to an SFTP user's `/OUT/` (closed after writing).
    File {
        user: String,
        name: String,
        size: u64,
    },
    /// A `.trigger` processed, with the result written to `/IN/<f>.sftpreceipt`.
    Trigger {
        user: String,
        file_name: String,
        transaction_id: Option<String>,
        outcome: String,
    },
    /// A `.sftpreceipt` written to `/IN/`.
    SftpReceipt {
        user: String,
        name: String,
        success: bool,
    },
    /// An asynchronous FordelingskvitteringModtagAnvender call to the anvender's receipt URL.
    Receipt {
        anvender_transaktions_id: String,
        distribution_transaktions_id: String,
        kvitteringstype: String,
        kode: String,
        /// "delivered", "http:<status>", "error:<reason>"
        outcome: String,
    },
    /// A repeated AnvenderTransaktionsID, answered idempotently. `same_payload` is false when
    /// the resend carried a different object: an anvender bug the platform would not forgive.
    Duplicate {
        anvender_transaktions_id: String,
        same_payload: bool,
    },
}

/// A journal entry: sequence number, time and event.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    #[serde(flatten)]
    pub event: Event,
}

/// Shared, append-only journal. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    inner: Arc<Mutex<Vec<Entry>>>,
}

impl Journal {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record(&self, event: Event) {
        let mut entries = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let seq = entries.len() as u64 + 1;
        entries.push(Entry {
            seq,
            at: chrono::Utc::now(),
            event,
        });
    }

    /// Entries with `seq > since`.
    pub fn since(&self, since: u64) -> Vec<Entry> {
        let entries = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        entries.iter().filter(|e| e.seq > since).cloned().collect()
    }

    pub fn snapshot(&self) -> Vec<Entry> {
        self.since(0)
    }
}
