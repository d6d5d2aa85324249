//! Random valid values of every model type, for the property tests.
//!
//! The declaration macros implement [`ArbField`] for every struct, choice and enumeration;
//! this module supplies the simple types (each generated to satisfy its XSD pattern) and the
//! few hand-written types. Strings are drawn from characters XML 1.0 can carry, including
//! markup characters, Danish letters and whitespace that parsers like to normalise.

use crate::model::{DistributionObject, FormularXml, ObjektIndhold};
use crate::sftp::{
    FileContentDescriptor, FileDescriptor, ReceiptOutcome, RouteParameter, TechnicalReceipt,
};
use crate::types::*;
use crate::xml::{Attr, Element, Node};
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

pub(crate) trait ArbField: Sized + std::fmt::Debug {
    fn arb() -> BoxedStrategy<Self>;
}

/// Text that XML 1.0 can carry.
pub(crate) fn xml_text() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-zA-Z0-9 æøåÆØÅ]{0,12}",
        "[<>&\"' \t\r\nA-Za-z\u{e6}\u{f8}\u{e5}\u{1F600}]{0,12}",
        "[\u{20}-\u{d7ff}]{0,8}",
    ]
    .boxed()
}

impl ArbField for String {
    fn arb() -> BoxedStrategy<Self> {
        xml_text()
    }
}

impl ArbField for bool {
    fn arb() -> BoxedStrategy<Self> {
        any::<bool>().boxed()
    }
}

impl ArbField for i64 {
    fn arb() -> BoxedStrategy<Self> {
        any::<i64>().boxed()
    }
}

impl ArbField for i32 {
    fn arb() -> BoxedStrategy<Self> {
        any::<i32>().boxed()
    }
}

impl ArbField for u64 {
    fn arb() -> BoxedStrategy<Self> {
        any::<u64>().boxed()
    }
}

impl ArbField for Uuid {
    fn arb() -> BoxedStrategy<Self> {
        any::<u128>().prop_map(Uuid::from_u128).boxed()
    }
}

macro_rules! arb_pattern {
    ($ty:ty, $re:expr) => {
        impl ArbField for $ty {
            fn arb() -> BoxedStrategy<Self> {
                proptest::string::string_regex($re)
                    .expect("valid regex")
                    .prop_map(|s| <$ty>::new(s).expect("generated value matches its pattern"))
                    .boxed()
            }
        }
    };
}

arb_pattern!(Cvr, "[0-9]{8}");
arb_pattern!(KleEmne, "[0-9]{2}\\.[0-9]{2}\\.[0-9]{2}");
arb_pattern!(HandlingFacet, "[A-ZÆØÅ][0-9]{2}");
arb_pattern!(
    Urn,
    "urn:[a-z][a-z0-9-]{0,8}[a-z0-9]:[a-zA-Z0-9:.=@;_!*'%/?#-]{1,12}"
);
arb_pattern!(CvrUrn, "urn:oio:cvr-nr:[0-9]{8}");
// Only exact KLE here: the wildcard form is not XSD-valid and is tested on its own.
arb_pattern!(KlePattern, "[0-9]{2}\\.[0-9]{2}\\.[0-9]{2}");

impl ArbField for DateTime {
    fn arb() -> BoxedStrategy<Self> {
        (
            0i64..4_102_444_800,
            0u32..1_000_000_000,
            -14i32 * 4..=14 * 4,
        )
            .prop_map(|(secs, nanos, quarter_hours)| {
                let utc = chrono::DateTime::from_timestamp(secs, nanos).unwrap_or_default();
                let offset = chrono::FixedOffset::east_opt(quarter_hours * 900)
                    .unwrap_or(chrono::FixedOffset::east_opt(0).expect("zero offset"));
                DateTime(utc.with_timezone(&offset))
            })
            .boxed()
    }
}

impl ArbField for Date {
    fn arb() -> BoxedStrategy<Self> {
        (1i32..=9999, 1u32..=366)
            .prop_filter_map("valid ordinal date", |(y, d)| {
                chrono::NaiveDate::from_yo_opt(y, d).map(Date)
            })
            .boxed()
    }
}

impl ArbField for Base64Binary {
    fn arb() -> BoxedStrategy<Self> {
        proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(Base64Binary)
            .boxed()
    }
}

/// A small element tree: names in no namespace or a foreign one, attributes, text.
pub(crate) fn element_tree(allow_no_ns: bool) -> BoxedStrategy<Element> {
    let ns = if allow_no_ns {
        prop_oneof![Just(None), Just(Some("urn:x-form:1".to_owned()))].boxed()
    } else {
        Just(Some("urn:x-other:1".to_owned())).boxed()
    };
    let leaf = (
        ns.clone(),
        "[A-Z][A-Za-z0-9]{0,6}",
        proptest::option::of(xml_text()),
        proptest::option::of(xml_text()),
    )
        .prop_map(|(ns, name, attr, text)| Element {
            ns,
            name,
            attrs: attr
                .map(|value| {
                    vec![Attr {
                        ns: None,
                        name: "a".into(),
                        value,
                    }]
                })
                .unwrap_or_default(),
            children: text
                .filter(|t| !t.is_empty())
                .map(Node::Text)
                .into_iter()
                .collect(),
        });
    (
        ns,
        "[A-Z][A-Za-z0-9]{0,6}",
        proptest::collection::vec(leaf, 0..3),
    )
        .prop_map(|(ns, name, kids)| Element {
            ns,
            name,
            attrs: Vec::new(),
            children: kids.into_iter().map(Node::Element).collect(),
        })
        .boxed()
}

impl ArbField for FormularXml {
    fn arb() -> BoxedStrategy<Self> {
        element_tree(true).prop_map(FormularXml).boxed()
    }
}

impl ArbField for RouteParameter {
    fn arb() -> BoxedStrategy<Self> {
        element_tree(true).prop_map(RouteParameter).boxed()
    }
}

impl ArbField for DistributionObject {
    fn arb() -> BoxedStrategy<Self> {
        ObjektIndhold::arb()
            .prop_map(DistributionObject::new)
            .boxed()
    }
}

impl ArbField for FileDescriptor {
    fn arb() -> BoxedStrategy<Self> {
        (
            "[A-Za-z0-9_.æøå-]{1,40}",
            any::<u64>(),
            "[A-Za-z0-9_]{1,20}",
            proptest::option::of("[A-Za-z0-9-]{1,36}"),
            proptest::collection::vec("[A-Z0-9_]{1,16}", 1..3),
        )
            .prop_map(
                |(file_name, size_in_bytes, sender, senders_file_id, recipients)| FileDescriptor {
                    file_name,
                    size_in_bytes,
                    sender,
                    senders_file_id,
                    recipients,
                },
            )
            .boxed()
    }
}

impl ArbField for FileContentDescriptor {
    fn arb() -> BoxedStrategy<Self> {
        prop_oneof![
            crate::sftp::SftpDynamicRoutingInfo::arb()
                .prop_map(|i| FileContentDescriptor::DynamicRouting(Box::new(i))),
            proptest::collection::vec(element_tree(false), 1..3)
                .prop_map(FileContentDescriptor::Other),
            Just(FileContentDescriptor::Empty),
        ]
        .boxed()
    }
}

impl ArbField for TechnicalReceipt {
    fn arb() -> BoxedStrategy<Self> {
        let outcome = prop_oneof![
            xml_text().prop_map(|message| ReceiptOutcome::Success { message }),
            proptest::collection::vec(crate::sftp::ErrorMessage::arb(), 1..3)
                .prop_map(ReceiptOutcome::Errors),
        ];
        (
            "[a-f0-9-]{1,36}",
            proptest::option::of("[A-Za-z0-9-]{1,36}"),
            outcome,
        )
            .prop_map(
                |(file_transfer_uuid, senders_file_id, outcome)| TechnicalReceipt {
                    file_transfer_uuid,
                    senders_file_id,
                    outcome,
                },
            )
            .boxed()
    }
}
