//! Trigger processing: check a `.trigger` against the file it describes and write the
//! `sftp:TechnicalReceipt` to `/IN/`. The codes are listed in the module doc of [`crate::sftp`].

use super::Shared;
use crate::faults::{Action, Hook, Subject};
use crate::journal::Event;
use sf2900::Message as _;
use sf2900::sftp::{
    ErrorMessage, FileContentDescriptor, ReceiptOutcome, TechnicalReceipt, Trigger, receipt_name,
};
use sf2900::xml::Element;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The simulator's ErrorCode values in `sftp:ErrorMessage` (the real ones are not published).
pub mod codes {
    /// The trigger is not UTF-8, not well-formed XML, or not a valid `sftp:Trigger`.
    pub const INVALID_TRIGGER: i32 = 1001;
    /// The trigger file is not named `<FileName>.trigger`.
    pub const TRIGGER_NAME_MISMATCH: i32 = 1002;
    /// `/OUT/<FileName>` does not exist under exactly that name, or is not a plain file.
    pub const FILE_NOT_FOUND: i32 = 2001;
    /// `/OUT/<FileName>` does not have exactly `SizeInBytes` bytes.
    pub const FILE_SIZE_MISMATCH: i32 = 2002;
    /// `Sender` is not the SFTP user who uploaded the trigger.
    pub const SENDER_MISMATCH: i32 = 3001;
    /// Injected by a `trigger_error` fault.
    pub const SIMULATED_ERROR: i32 = 9001;
}

/// Triggers are small; anything bigger than this is not a trigger and is not read into memory.
const MAX_TRIGGER_LEN: u64 = 1024 * 1024;

const SUFFIX: &str = ".trigger";

/// Processes `/OUT/<trigger_name>` of `user` in the background.
pub(super) fn spawn(shared: Arc<Shared>, user: String, trigger_name: String) {
    tokio::spawn(async move {
        let stop = shared.clone();
        tokio::select! {
            () = process(&shared, &user, &trigger_name) => {}
            // A receipt due after shutdown is never written, as on a platform that went down.
            () = stop.stopped() => {}
        }
    });
}

fn error(code: i32, code_description: &str, description: String) -> ErrorMessage {
    ErrorMessage {
        error_code: code,
        error_code_description: code_description.to_owned(),
        error_description: description,
    }
}

/// Child elements of the schema's sequences, in order (SFTPTypes.xsd, SFTPDynamicRoutingInfo.xsd).
const TRIGGER_SEQ: &[&str] = &["FileDescriptor", "FileContentDescriptor"];
const FILE_DESCRIPTOR_SEQ: &[&str] = &[
    "FileName",
    "SizeInBytes",
    "Sender",
    "SendersFileId",
    "Recipients",
];
const ROUTING_SEQ: &[&str] = &[
    "InfRef",
    "SenderIt-system",
    "SenderAuthority",
    "TransactionId",
    "SenderTimestamp",
    "RecipientIt-system",
    "RecipientAuthority",
    "RouteParameterList",
];
/// Elements of the SFTP schema's UUIDType, which allows lower-case hex digits only.
const LOWER_CASE_UUIDS: &[&str] = &["SenderIt-system", "TransactionId", "RecipientIt-system"];

/// Checks that the children of `el` are unqualified and follow `seq` (repeats allowed; which
/// ones are required is the decoder's job).
fn sequence(el: &Element, seq: &[&str], path: &str) -> Result<(), String> {
    let mut at = 0;
    for child in el.elements() {
        if child.ns.is_some() {
            return Err(format!(
                "{path}/{}: must be unqualified (no namespace)",
                child.name
            ));
        }
        match seq[at..].iter().position(|n| *n == child.name) {
            Some(i) => at += i,
            None => {
                return Err(format!(
                    "{path}: unexpected element {} (the sequence is {})",
                    child.name,
                    seq.join(", ")
                ));
            }
        }
        if LOWER_CASE_UUIDS.contains(&child.name.as_str())
            && child.text().chars().any(|c| c.is_ascii_uppercase())
        {
            return Err(format!("{path}/{}: UUID must be lower case", child.name));
        }
    }
    Ok(())
}

/// The structural rules of SFTPTypes.xsd that the sf2900 decoder is lenient about, because the
/// platform validates triggers against the schema: a namespaced root, unqualified children in
/// schema order, no unknown elements, lower-case UUIDs.
fn schema_shape(root: &Element) -> Result<(), String> {
    if root.ns.as_deref() != Some(sf2900::ns::SFTP.uri) || root.name != "Trigger" {
        return Err(format!(
            "the root element must be Trigger in namespace {}",
            sf2900::ns::SFTP.uri
        ));
    }
    sequence(root, TRIGGER_SEQ, "Trigger")?;
    if let Some(fd) = root.child("FileDescriptor") {
        sequence(fd, FILE_DESCRIPTOR_SEQ, "Trigger/FileDescriptor")?;
    }
    let Some(fcd) = root.child("FileContentDescriptor") else {
        return Ok(());
    };
    let path = "Trigger/FileContentDescriptor";
    match fcd.child("SFTPDynamicRoutingInfo") {
        Some(info) => {
            sequence(fcd, &["SFTPDynamicRoutingInfo"], path)?;
            if fcd.elements().count() > 1 {
                return Err(format!("{path}: only one SFTPDynamicRoutingInfo"));
            }
            sequence(info, ROUTING_SEQ, &format!("{path}/SFTPDynamicRoutingInfo"))?;
            if let Some(list) = info.child("RouteParameterList") {
                sequence(list, &["RouteParameter"], "RouteParameterList")?;
            }
        }
        None => {
            // `<any namespace="##other">`: elements of some other namespace, not unqualified.
            for el in fcd.elements() {
                if el.ns.is_none() || el.ns.as_deref() == Some(sf2900::ns::SFTP.uri) {
                    return Err(format!("{path}: unexpected element {}", el.name));
                }
            }
        }
    }
    Ok(())
}

/// The trigger, or why it could not be read. The decoder checks required elements, lengths, the
/// UUID and CVR-URN patterns and that there is a recipient; [`schema_shape`] the rest.
fn read_trigger(path: &Path) -> Result<Trigger, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the trigger: {e}"))?;
    if meta.len() > MAX_TRIGGER_LEN {
        return Err(format!(
            "the trigger has {} bytes, more than any trigger",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the trigger: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "the trigger is not UTF-8".to_owned())?;
    let root = Element::parse(&text).map_err(|e| format!("invalid trigger: {e}"))?;
    schema_shape(&root).map_err(|e| format!("invalid trigger: {e}"))?;
    Trigger::from_element(&root).map_err(|e| format!("invalid trigger: {e}"))
}

/// A `FileName` the platform can look up: one plain name, no directories.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// The checks of a valid trigger against the user's `/OUT/`.
fn check(trigger: &Trigger, trigger_name: &str, user: &str, out: &Path) -> Vec<ErrorMessage> {
    let fd = &trigger.file_descriptor;
    let mut errors = Vec::new();
    if trigger_name.strip_suffix(SUFFIX) != Some(fd.file_name.as_str()) {
        errors.push(error(
            codes::TRIGGER_NAME_MISMATCH,
            "TRIGGER_NAME_MISMATCH",
            format!(
                "trigger {trigger_name:?} must be named {:?}",
                format!("{}{SUFFIX}", fd.file_name)
            ),
        ));
    }
    if !plain_name(&fd.file_name) {
        errors.push(error(
            codes::FILE_NOT_FOUND,
            "FILE_NOT_FOUND",
            format!("FileName {:?} is not a file name in /OUT/", fd.file_name),
        ));
    } else {
        // Metadata only: the size is what the trigger promises, so the file is never read.
        match std::fs::metadata(out.join(&fd.file_name)) {
            Ok(meta) if meta.is_file() => {
                if meta.len() != fd.size_in_bytes {
                    errors.push(error(
                        codes::FILE_SIZE_MISMATCH,
                        "FILE_SIZE_MISMATCH",
                        format!(
                            "/OUT/{} has {} bytes, the trigger says SizeInBytes {}",
                            fd.file_name,
                            meta.len(),
                            fd.size_in_bytes
                        ),
                    ));
                }
            }
            _ => errors.push(error(
                codes::FILE_NOT_FOUND,
                "FILE_NOT_FOUND",
                format!("/OUT/{} not found", fd.file_name),
            )),
        }
    }
    if fd.sender != user {
        errors.push(error(
            codes::SENDER_MISMATCH,
            "SENDER_MISMATCH",
            format!("Sender {:?} is not the SFTP user {user:?}", fd.sender),
        ));
    }
    errors
}

async fn process(shared: &Shared, user: &str, trigger_name: &str) {
    let home = shared.home(user);
    let out = home.join("OUT");
    let stem = trigger_name.strip_suffix(SUFFIX).unwrap_or(trigger_name);

    // Parsed up front because the fault rules match on FileName and TransactionId.
    let parsed = read_trigger(&out.join(trigger_name));
    let (file_name, transaction_id, senders_file_id) = match &parsed {
        Ok(t) => {
            let tid = match &t.file_content_descriptor {
                FileContentDescriptor::DynamicRouting(info) => {
                    Some(info.transaction_id.to_string())
                }
                FileContentDescriptor::Other(_) | FileContentDescriptor::Empty => None,
            };
            (
                t.file_descriptor.file_name.clone(),
                tid,
                t.file_descriptor.senders_file_id.clone(),
            )
        }
        Err(_) => (stem.to_owned(), None, None),
    };

    let subject = Subject {
        file: Some(&file_name),
        transaction: transaction_id.as_deref(),
        ..Default::default()
    };
    let mut delay = shared.receipt_delay;
    let (mut simulated_error, mut receipt_missing) = (false, false);
    for fault in shared.faults.pick(Hook::SftpTrigger, &subject) {
        match fault.action {
            Action::Latency => delay += Duration::from_millis(fault.delay_ms),
            Action::TriggerError => simulated_error = true,
            Action::ReceiptMissing => receipt_missing = true,
            _ => {}
        }
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    // The file checks run now, when the platform gets to the trigger, not when it arrived.
    let mut errors = match &parsed {
        Ok(trigger) => check(trigger, trigger_name, user, &out),
        Err(why) => vec![error(
            codes::INVALID_TRIGGER,
            "INVALID_TRIGGER",
            why.clone(),
        )],
    };
    if simulated_error {
        errors.push(error(
            codes::SIMULATED_ERROR,
            "SIMULATED_ERROR",
            "simulated platform error (fault injection)".into(),
        ));
    }
    let outcome_text = if receipt_missing {
        "receipt_missing".to_owned()
    } else if errors.is_empty() {
        "success".to_owned()
    } else {
        let list: Vec<String> = errors.iter().map(|e| e.error_code.to_string()).collect();
        format!("error:{}", list.join(","))
    };
    tracing::info!(user, trigger = trigger_name, outcome = %outcome_text, "SFTP trigger processed");
    let trigger_event = Event::Trigger {
        user: user.to_owned(),
        file_name,
        transaction_id,
        outcome: outcome_text,
    };
    if receipt_missing {
        shared.journal.record(trigger_event);
        return;
    }

    let success = errors.is_empty();
    let receipt = TechnicalReceipt {
        file_transfer_uuid: uuid::Uuid::new_v4().to_string(),
        senders_file_id,
        outcome: if success {
            ReceiptOutcome::Success {
                message: TechnicalReceipt::SUCCESS.into(),
            }
        } else {
            ReceiptOutcome::Errors(errors)
        },
    };
    let receipt_name = receipt_name(stem);
    let tmp = shared
        .tmp_dir
        .join(format!("{}.sftpreceipt", uuid::Uuid::new_v4()));
    if let Err(e) = std::fs::write(&tmp, receipt.to_xml()) {
        tracing::error!(path = %tmp.display(), error = %e, "cannot write an SFTP receipt");
        shared.journal.record(trigger_event);
        return;
    }
    // Journal first, then publish: whoever sees the receipt in /IN/ finds it in the journal too.
    shared.journal.record(trigger_event);
    shared.journal.record(Event::SftpReceipt {
        user: user.to_owned(),
        name: receipt_name.clone(),
        success,
    });
    let target = home.join("IN").join(&receipt_name);
    if let Err(e) = std::fs::rename(&tmp, &target) {
        tracing::error!(path = %target.display(), error = %e, "cannot publish an SFTP receipt");
        let _ = std::fs::remove_file(&tmp);
    }
}
