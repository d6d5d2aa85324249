//! SF2900 (KOMBIT's Fordelingskomponent on Serviceplatformen) and the Serviceplatformen SFTP
//! service, as a typed message model with exact XML encoding and lenient decoding.
//!
//! This crate is pure: no IO, no async runtime, no network. Both the Fordeler (the client) and
//! kombit-sim (the simulated platform) use it, so it is also the one place where the protocol's
//! names and spellings live.
//!
//! - [`types`]: simple types (CVR, KLE, facet, UUID, URN, dates), valid by construction.
//! - [`model`]: the v2 payload: distribution context, JOURNALPOST/DOKUMENT/FORMULAR, receipts.
//! - [`messages`]: the v3 operations, the v2 anvender callback, contexts and faults.
//! - [`soap`]: SOAP 1.1 envelopes, faults, operations and request dispatch.
//! - [`sftp`]: the `.trigger` file and the `.sftpreceipt` technical receipt.
//! - [`codec`], [`xml`]: how values become XML and back.
//!
//! Encoding follows the official XSDs exactly (namespaces, element order, no multi-refs);
//! decoding matches elements by local name, ignores unknown elements, tolerates the deviations of
//! the real service (`01.01.*` KLE, missing `SystemMyndighed`) and never panics.

#![warn(missing_docs)]

pub mod codec;
pub mod messages;
pub mod model;
pub mod ns;
pub mod sftp;
pub mod soap;
pub mod types;
pub mod xml;

pub use codec::{DecodeError, Message, ValueError};
pub use messages::*;
pub use model::*;
pub use types::*;
pub mod examples;

#[cfg(test)]
mod arb;
#[cfg(test)]
mod tests;
