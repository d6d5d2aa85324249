//! The typed values the schema keeps as text: a delivery's state, step, error class and
//! distribution type, a file's state, and the platform's receipt codes. Each type has one spelling, used to write it,
//! read it back and show it (API, CLI, timeline); text this version does not know is an error
//! naming its column ([`StoreError::UnknownText`]), never a default.
//!
//! SQL binds these spellings too (`.bind(State::Pending.as_str())`), so none is written out in
//! a statement of `store/`. The literals that remain are in `migrations/`: a shipped migration
//! is never edited, and it spells the values as they were when it ran. No index has a
//! predicate on these columns, so no statement needs a literal to match one.

use super::StoreError;
use crate::config::DistributionType;
use sf2900::{ForretningsValideringsKode, Kvitteringstype};

/// A value stored as text: its one spelling both ways.
pub trait Text: Sized + Copy {
    fn as_str(self) -> &'static str;
    fn parse(s: &str) -> Option<Self>;

    /// The value in column `column`, or the error that names the column.
    fn from_column(s: &str, column: &'static str) -> Result<Self, StoreError> {
        Self::parse(s).ok_or_else(|| StoreError::UnknownText {
            column,
            text: s.to_owned(),
        })
    }

    /// [`Text::from_column`] for a column that may be NULL.
    fn from_nullable(s: Option<&str>, column: &'static str) -> Result<Option<Self>, StoreError> {
        s.map(|s| Self::from_column(s, column)).transpose()
    }
}

/// Declares a value the Fordeler itself names: the enum, its spelling, and JSON as that spelling.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$( $name::$variant ),+];

            pub fn as_str(self) -> &'static str {
                match self { $( Self::$variant => $text, )+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $( $text => Some(Self::$variant), )+ _ => None }
            }
        }

        impl Text for $name {
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
            fn parse(s: &str) -> Option<Self> {
                $name::parse(s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // `pad`, so the CLI's `{:<9}` lines up as it did with text.
                f.pad(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// Where a delivery is. `Pending` deliveries are worked on by the outbox; `Waiting` ones wait
    /// for asynchronous receipts; the rest are final until an operator acts.
    pub enum State {
        Pending = "pending",
        Waiting = "waiting",
        Delivered = "delivered",
        Failed = "failed",
        Resolved = "resolved",
    }
}

text_enum! {
    /// The next thing to do for a pending delivery.
    pub enum Step {
        /// Render the template, build and validate the message, name the files.
        Build = "build",
        /// Upload files and triggers to `/OUT/`.
        Upload = "upload",
        /// Wait for `/IN/<file>.sftpreceipt`.
        SftpReceipt = "sftp_receipt",
        /// Call FordelingsobjektAfsend.
        Afsend = "afsend",
        /// Wait for the asynchronous receipts.
        Receipts = "receipts",
        Done = "done",
    }
}

text_enum! {
    /// Why a delivery's last attempt failed, for metrics, the log and the operator's list.
    pub enum ErrorClass {
        /// The configuration (tenant, route, certificate, account) does not allow it.
        Config = "config",
        /// The message could not be built, or what was built and stored is gone.
        Build = "build",
        /// A SOAP call failed.
        Soap = "soap",
        /// An SFTP transfer failed.
        Sftp = "sftp",
        /// The platform refused the object (FordelingsobjektAfsend, or a receipt: AFVIST/FEJLET).
        Rejected = "rejected",
        /// An SFTP receipt said a file was not taken.
        SftpRejected = "sftp_rejected",
        /// An SFTP receipt did not come within `delivery.receipt_timeout_minutes`.
        SftpReceiptTimeout = "sftp_receipt_timeout",
        /// The asynchronous receipts did not come within `delivery.receipt_timeout_minutes`.
        ReceiptTimeout = "receipt_timeout",
        /// Pending at a step where nothing sends it.
        Internal = "internal",
        /// Given up retrying: older than `delivery.max_age_hours`.
        MaxAge = "max_age",
    }
}

text_enum! {
    /// How far one file of a delivery has come on SFTP.
    pub enum FileState {
        Pending = "pending",
        /// Uploaded with its trigger; its SFTP receipt is awaited.
        Triggered = "triggered",
        /// Its SFTP receipt said SUCCESS.
        Delivered = "delivered",
        /// Its SFTP receipt said it was not taken.
        Rejected = "rejected",
    }
}

/// The platform's codes, spelled as SF2900 spells them (one spelling: `sf2900`'s).
impl Text for ForretningsValideringsKode {
    fn as_str(self) -> &'static str {
        ForretningsValideringsKode::as_str(&self)
    }
    fn parse(s: &str) -> Option<Self> {
        ForretningsValideringsKode::parse(s).ok()
    }
}

impl Text for Kvitteringstype {
    fn as_str(self) -> &'static str {
        Kvitteringstype::as_str(&self)
    }
    fn parse(s: &str) -> Option<Self> {
        Kvitteringstype::parse(s).ok()
    }
}

/// Spelled as the configuration and the protocol spell it (one spelling: the enum's own).
impl Text for DistributionType {
    fn as_str(self) -> &'static str {
        DistributionType::as_str(self)
    }
    fn parse(s: &str) -> Option<Self> {
        DistributionType::parse(s)
    }
}

/// A receipt code as the CLI and the timeline show it: `-` when there is none (yet).
pub fn kode_or_dash(k: Option<ForretningsValideringsKode>) -> &'static str {
    k.map_or("-", |k| k.as_str())
}

/// A receipt code in JSON: as the protocol spells it, or null.
pub(crate) fn kode_json<S: serde::Serializer>(
    k: &Option<ForretningsValideringsKode>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match k {
        Some(k) => s.serialize_str(k.as_str()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Text + PartialEq + std::fmt::Debug>(all: &[T]) {
        for &v in all {
            assert_eq!(T::from_column(v.as_str(), "c").unwrap(), v);
        }
    }

    #[test]
    fn every_value_reads_back_as_written_and_unknown_text_names_its_column() {
        round_trip(State::ALL);
        round_trip(Step::ALL);
        round_trip(ErrorClass::ALL);
        round_trip(FileState::ALL);
        round_trip(DistributionType::ALL);
        round_trip(ForretningsValideringsKode::ALL);
        round_trip(Kvitteringstype::ALL);
        let e = State::from_column("Pending", "deliveries.state").unwrap_err();
        assert!(matches!(
            e,
            StoreError::UnknownText {
                column: "deliveries.state",
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "deliveries.state: `Pending` is not a value this version knows"
        );
    }
}
