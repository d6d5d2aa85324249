//! Serviceplatformen's SFTP service ("Fælleskommunal filudveksling"): the `.trigger` file an
//! anvender uploads after a file, and the `.sftpreceipt` the platform writes back to `/IN/`
//! (`SFTPTypes.xsd`, `SFTPDynamicRoutingInfo.xsd`).
//!
//! That schema has no `elementFormDefault`, so only the root element is namespaced; every
//! child, including `SFTPDynamicRoutingInfo`, is unqualified.

use crate::codec::{
    DecodeError, Message, Path, ValueError, XmlValue, read_many, read_one, read_opt,
};
use crate::ns::SFTP;
use crate::types::{CvrUrn, DateTime, Uuid, check_max_len};
use crate::xml::{Element, Ns, Writer};
use crate::xml_struct;

/// Children are unqualified.
const UNQ: Option<Ns> = None;
const SFTP_ONLY: &[Ns] = &[SFTP];

xml_struct! {
    /// `TriggerType`: announces an uploaded file and how to route it.
    pub struct Trigger in UNQ {
        /// The file: its name, size, sender and recipients.
        one "FileDescriptor" => file_descriptor: FileDescriptor,
        /// How to route it: dynamic routing information (what the Fordeler
        /// sends), foreign elements, or nothing.
        one "FileContentDescriptor" => file_content_descriptor: FileContentDescriptor,
    }
}

impl Message for Trigger {
    const NS: Ns = SFTP;
    const ROOT: &'static str = "Trigger";
    fn namespaces() -> &'static [Ns] {
        SFTP_ONLY
    }
}

/// `FileDescriptorType`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileDescriptor {
    /// The file's name in `/OUT/` (the trigger is this name plus `.trigger`).
    pub file_name: String,
    /// The file's size, which the platform checks.
    pub size_in_bytes: u64,
    /// The sending system, as the service agreement names it.
    pub sender: String,
    /// The sender's own id of the file, echoed in the receipt.
    pub senders_file_id: Option<String>,
    /// At least one; [`crate::ns::SFTP_DYNAMIC_ROUTING`] asks for dynamic routing.
    pub recipients: Vec<String>,
}

impl FileDescriptor {
    /// Checks the XSD's length limits and that there is a recipient. Errors name the field.
    pub fn new(
        file_name: String,
        size_in_bytes: u64,
        sender: String,
        senders_file_id: Option<String>,
        recipients: Vec<String>,
    ) -> Result<Self, ValueError> {
        let fd = Self {
            file_name,
            size_in_bytes,
            sender,
            senders_file_id,
            recipients,
        };
        fd.check()?;
        Ok(fd)
    }

    fn check(&self) -> Result<(), ValueError> {
        check_max_len("FileName", &self.file_name, 255)?;
        if self.file_name.is_empty() || self.file_name.contains(['/', '\\']) {
            return Err(ValueError::new(
                "FileName",
                "must be a plain, non-empty file name without / or \\",
            ));
        }
        check_max_len("Sender", &self.sender, 255)?;
        if let Some(id) = &self.senders_file_id {
            check_max_len("SendersFileId", id, 255)?;
        }
        if self.recipients.is_empty() {
            return Err(ValueError::new(
                "Recipients",
                "at least one recipient is required",
            ));
        }
        for r in &self.recipients {
            check_max_len("Recipients", r, 255)?;
        }
        Ok(())
    }
}

impl XmlValue for FileDescriptor {
    fn write_xml(&self, w: &mut Writer, ns: Option<Ns>, name: &str) {
        w.open(ns, name);
        w.leaf(UNQ, "FileName", &self.file_name);
        self.size_in_bytes.write_xml(w, UNQ, "SizeInBytes");
        w.leaf(UNQ, "Sender", &self.sender);
        if let Some(id) = &self.senders_file_id {
            w.leaf(UNQ, "SendersFileId", id);
        }
        for r in &self.recipients {
            w.leaf(UNQ, "Recipients", r);
        }
        w.close(ns, name);
    }

    fn read_xml(el: &Element, path: &Path<'_>) -> Result<Self, DecodeError> {
        let names = [
            "FileName",
            "SizeInBytes",
            "Sender",
            "SendersFileId",
            "Recipients",
        ];
        crate::codec::check_sequence(el, &names.map(|n| (n, None)), path)?;
        let fd = Self {
            file_name: read_one(el, "FileName", path)?,
            size_in_bytes: read_one(el, "SizeInBytes", path)?,
            sender: read_one(el, "Sender", path)?,
            senders_file_id: read_opt(el, "SendersFileId", path)?,
            recipients: read_many(el, "Recipients", 1, path)?,
        };
        fd.check().map_err(|e| path.invalid(e))?;
        Ok(fd)
    }
}

/// `FileContentDescriptorType`: dynamic routing info, foreign elements, or nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum FileContentDescriptor {
    /// Routing information of the SFTP service's own schema (what the Fordeler sends).
    DynamicRouting(Box<SftpDynamicRoutingInfo>),
    /// Elements of another namespace (`##other`), kept as trees.
    Other(Vec<Element>),
    /// No content description.
    Empty,
}

impl XmlValue for FileContentDescriptor {
    fn write_xml(&self, w: &mut Writer, ns: Option<Ns>, name: &str) {
        match self {
            Self::Empty => w.empty(ns, name),
            Self::DynamicRouting(info) => {
                w.open(ns, name);
                info.write_xml(w, UNQ, "SFTPDynamicRoutingInfo");
                w.close(ns, name);
            }
            Self::Other(els) => {
                w.open(ns, name);
                for e in els {
                    w.element_tree(e);
                }
                w.close(ns, name);
            }
        }
    }

    fn read_xml(el: &Element, path: &Path<'_>) -> Result<Self, DecodeError> {
        if let Some(info) = el.child("SFTPDynamicRoutingInfo") {
            let p = path.child("SFTPDynamicRoutingInfo");
            return Ok(Self::DynamicRouting(Box::new(
                SftpDynamicRoutingInfo::read_xml(info, &p)?,
            )));
        }
        let others: Vec<Element> = el.elements().cloned().collect();
        Ok(if others.is_empty() {
            Self::Empty
        } else {
            Self::Other(others)
        })
    }
}

xml_struct! {
    /// `SFTPDynamicRoutingInfoType` (element names with hyphens as the schema has them).
    pub struct SftpDynamicRoutingInfo in UNQ {
        /// The file specification ("Filspecifikation"), e.g. `HelbredstillægAnsøgningBilag_1`.
        one "InfRef" => inf_ref: String,
        /// Written in lower case, which the SFTP schema's UUIDType demands (SF2900's allows both).
        one "SenderIt-system" => sender_it_system: Uuid,
        /// The sending authority, as a CVR URN.
        one "SenderAuthority" => sender_authority: CvrUrn,
        /// The sender's transaction id for this file.
        one "TransactionId" => transaction_id: Uuid,
        /// When the sender sent it.
        one "SenderTimestamp" => sender_timestamp: DateTime,
        /// The receiving IT system, when the sender names one.
        opt "RecipientIt-system" => recipient_it_system: Uuid,
        /// The receiving authority, as a CVR URN.
        one "RecipientAuthority" => recipient_authority: CvrUrn,
        /// Further routing parameters, if any.
        opt "RouteParameterList" => route_parameter_list: RouteParameterList,
    }
}

xml_struct! {
    /// `RouteParameterList`.
    pub struct RouteParameterList in UNQ {
        /// Each parameter, at least one.
        many1 "RouteParameter" => route_parameter: RouteParameter,
    }
}

/// `RouteParameterType`: one element of any namespace, for example `RouteSelectionValueDate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteParameter(pub Element);

impl XmlValue for RouteParameter {
    fn write_xml(&self, w: &mut Writer, ns: Option<Ns>, name: &str) {
        w.open(ns, name);
        w.element_tree(&self.0);
        w.close(ns, name);
    }

    fn read_xml(el: &Element, path: &Path<'_>) -> Result<Self, DecodeError> {
        el.elements().next().cloned().map(Self).ok_or_else(|| {
            path.invalid(ValueError::new(
                "RouteParameter",
                "must contain one element",
            ))
        })
    }
}

/// `TechnicalReceiptType`: the platform's answer to a trigger, in `/IN/<file>.sftpreceipt`.
#[derive(Debug, Clone, PartialEq)]
pub struct TechnicalReceipt {
    /// The platform's id of this transfer.
    pub file_transfer_uuid: String,
    /// The sender's id of the file, from its trigger.
    pub senders_file_id: Option<String>,
    /// Success, or the errors.
    pub outcome: ReceiptOutcome,
}

/// The choice inside a technical receipt.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiptOutcome {
    /// `Receipt/Message`; the platform writes `SUCCESS`.
    Success {
        /// The text; [`TechnicalReceipt::SUCCESS`] from the platform.
        message: String,
    },
    /// One or more `ErrorMessage`s.
    Errors(Vec<ErrorMessage>),
}

xml_struct! {
    /// `ErrorMessage`.
    pub struct ErrorMessage in UNQ {
        /// The platform's numeric error code.
        one "ErrorCode" => error_code: i32,
        /// What the code means.
        one "ErrorCodeDescription" => error_code_description: String,
        /// What went wrong with this file.
        one "ErrorDescription" => error_description: String,
    }
}

impl TechnicalReceipt {
    /// The message the platform writes on success.
    pub const SUCCESS: &'static str = "SUCCESS";

    /// The receipt of a transfer that succeeded, as the platform writes it.
    pub fn success(file_transfer_uuid: String, senders_file_id: Option<String>) -> Self {
        Self {
            file_transfer_uuid,
            senders_file_id,
            outcome: ReceiptOutcome::Success {
                message: Self::SUCCESS.into(),
            },
        }
    }

    /// True only for `Receipt/Message == SUCCESS`.
    pub fn is_success(&self) -> bool {
        matches!(&self.outcome, ReceiptOutcome::Success { message } if message.trim() == Self::SUCCESS)
    }
}

impl XmlValue for TechnicalReceipt {
    fn write_xml(&self, w: &mut Writer, ns: Option<Ns>, name: &str) {
        w.open(ns, name);
        w.leaf(UNQ, "FileTransferUUID", &self.file_transfer_uuid);
        if let Some(id) = &self.senders_file_id {
            w.leaf(UNQ, "SendersFileId", id);
        }
        match &self.outcome {
            ReceiptOutcome::Success { message } => {
                w.open(UNQ, "Receipt");
                w.leaf(UNQ, "Message", message);
                w.close(UNQ, "Receipt");
            }
            ReceiptOutcome::Errors(errors) => {
                for e in errors {
                    e.write_xml(w, UNQ, "ErrorMessage");
                }
            }
        }
        w.close(ns, name);
    }

    fn read_xml(el: &Element, path: &Path<'_>) -> Result<Self, DecodeError> {
        let names = [
            "FileTransferUUID",
            "SendersFileId",
            "Receipt",
            "ErrorMessage",
        ];
        crate::codec::check_sequence(el, &names.map(|n| (n, None)), path)?;
        let outcome = match el.child("Receipt") {
            Some(r) => ReceiptOutcome::Success {
                message: read_one(r, "Message", &path.child("Receipt"))?,
            },
            None => {
                let errors: Vec<ErrorMessage> = read_many(el, "ErrorMessage", 0, path)?;
                if errors.is_empty() {
                    return Err(DecodeError::NoChoice {
                        path: path.to_string(),
                        expected: "Receipt ErrorMessage",
                    });
                }
                ReceiptOutcome::Errors(errors)
            }
        };
        Ok(Self {
            file_transfer_uuid: read_one(el, "FileTransferUUID", path)?,
            senders_file_id: read_opt(el, "SendersFileId", path)?,
            outcome,
        })
    }
}

impl Message for TechnicalReceipt {
    const NS: Ns = SFTP;
    const ROOT: &'static str = "TechnicalReceipt";
    fn namespaces() -> &'static [Ns] {
        SFTP_ONLY
    }
}

/// The name of the trigger file for an uploaded file.
pub fn trigger_name(file_name: &str) -> String {
    format!("{file_name}.trigger")
}

/// The name of the receipt file the platform writes to `/IN/` for an uploaded file.
pub fn receipt_name(file_name: &str) -> String {
    format!("{file_name}.sftpreceipt")
}
