//! How typed values become elements and back: the [`XmlValue`] trait, the errors, and the
//! macros that declare the model.
//!
//! The model (in `model.rs`, `messages.rs`, `sftp.rs`) is declared once with [`xml_struct!`],
//! [`xml_choice!`] and [`xml_enum!`]: each field names its element exactly as the XSD spells it,
//! in XSD order, with its cardinality. From that one declaration come the Rust type, the encoder
//! (which therefore always emits XSD order) and the decoder (which finds children by local name,
//! ignores unknown elements, and names the path of anything missing or invalid).

use crate::xml::{Element, Ns, SyntaxError, Writer};
use std::fmt;

/// Why a value is not acceptable. Deliberately carries no copy of the value: the value may be
/// personal data (a CPR number typed into the wrong field), and errors end up in logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct ValueError {
    /// What the value should have been, in the protocol's words ("CVR-nummer", "KLE-emne").
    pub what: &'static str,
    /// Why it is not, without quoting it ("must be exactly 8 digits 0-9 (got 9 characters)").
    pub reason: String,
}

impl ValueError {
    /// A refusal of a value that should have been `what`.
    pub fn new(what: &'static str, reason: impl Into<String>) -> Self {
        Self {
            what,
            reason: reason.into(),
        }
    }
}

/// Why a document could not be decoded into the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The document is not well-formed XML (or too deep, or has a DOCTYPE).
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// A required element is not there.
    #[error("{path}: required element is missing")]
    Missing {
        /// Where it should be.
        path: String,
    },
    /// An element is there but its value is not acceptable.
    #[error("{path}: {error}")]
    Invalid {
        /// The element.
        path: String,
        /// What is wrong with its value.
        error: ValueError,
    },
    /// A choice element holds none of its alternatives.
    #[error("{path}: expected one of {expected}")]
    NoChoice {
        /// The choice element.
        path: String,
        /// The alternatives' element names.
        expected: &'static str,
    },
    /// The document is another message than the one expected.
    #[error("expected {expected}, found {found}")]
    UnexpectedRoot {
        /// The root element expected.
        expected: &'static str,
        /// The root element found (`{namespace}name` in strict decoding).
        found: String,
    },
    /// The elements are there but do not fit together (or, in strict decoding, break the
    /// schema's order, namespaces or content).
    #[error("{path}: {reason}")]
    Inconsistent {
        /// Where.
        path: String,
        /// What does not fit.
        reason: String,
    },
}

/// The element path being decoded, kept as a chain of borrowed names and rendered only when an
/// error needs it (decoding a valid message allocates no paths).
#[derive(Debug, Clone, Copy)]
pub struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    name: &'a str,
    /// Strict decoding also checks element order, namespaces and unknown elements, as an XSD
    /// validator would. The simulated platform decodes strictly; clients decode leniently.
    pub strict: bool,
}

impl<'a> Path<'a> {
    /// The root of a lenient decoding (as clients decode answers).
    pub fn root(name: &'a str) -> Self {
        Self {
            parent: None,
            name,
            strict: false,
        }
    }

    /// The root of a strict decoding (as the simulated platform decodes requests).
    pub fn strict_root(name: &'a str) -> Self {
        Self {
            parent: None,
            name,
            strict: true,
        }
    }

    /// The path of a child element, as strict as its parent.
    pub fn child(&'a self, name: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            name,
            strict: self.strict,
        }
    }

    /// The error for a required element missing here.
    pub fn missing(&self) -> DecodeError {
        DecodeError::Missing {
            path: self.to_string(),
        }
    }

    /// The error for an unacceptable value here.
    pub fn invalid(&self, error: ValueError) -> DecodeError {
        DecodeError::Invalid {
            path: self.to_string(),
            error,
        }
    }

    /// The error for content here that does not fit together.
    pub fn inconsistent(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::Inconsistent {
            path: self.to_string(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.parent {
            write!(f, "{p}/")?;
        }
        f.write_str(self.name)
    }
}

/// A value that is written as one element: `<name>…</name>`. The caller decides the element's
/// own name and namespace (the parent's schema does); the value decides its content.
pub trait XmlValue: Sized {
    /// Writes the value as the element `name` in `ns` (`None`: unqualified).
    fn write_xml(&self, w: &mut Writer, ns: Option<Ns>, name: &str);
    /// Reads the value from its element; `path` is where it is, for errors and strictness.
    fn read_xml(el: &Element, path: &Path<'_>) -> Result<Self, DecodeError>;
}

/// A value written as element text (XSD simple types).
pub trait TextValue: Sized {
    /// The element's text.
    fn to_text(&self) -> std::borrow::Cow<'_, str>;
    /// The value from an element's text, or why the text is not one.
    fn from_text(text: &str) -> Result<Self, ValueError>;
}

impl<T: TextValue> XmlValue for T {
    fn write_xml(&self, w: &mut Writer, ns: Option<Ns>, name: &str) {
        w.leaf(ns, name, &self.to_text());
    }
    fn read_xml(el: &Element, path: &Path<'_>) -> Result<Self, DecodeError> {
        if path.strict && el.elements().next().is_some() {
            return Err(path.inconsistent("a simple value may not contain elements"));
        }
        T::from_text(&el.text()).map_err(|e| path.invalid(e))
    }
}

/// A whole message: a root element with a fixed name and namespace.
pub trait Message: XmlValue {
    /// The namespace of the root element.
    const NS: Ns;
    /// The root element's name.
    const ROOT: &'static str;

    /// Namespaces used anywhere inside; declared once on the root (or the SOAP envelope).
    fn namespaces() -> &'static [Ns];

    /// The message as a standalone XML document.
    fn to_xml(&self) -> String {
        let mut w = Writer::new();
        w.declaration();
        self.write_root(&mut w, Self::namespaces());
        w.finish()
    }

    /// Writes the root element, declaring `declare` on it.
    fn write_root(&self, w: &mut Writer, declare: &[Ns]) {
        w.declare_on_next(declare);
        self.write_xml(w, Some(Self::NS), Self::ROOT);
    }

    /// Reads the message from a standalone document.
    fn from_xml(doc: &str) -> Result<Self, DecodeError> {
        let root = Element::parse(doc)?;
        Self::from_element(&root)
    }

    /// Reads the message from its root element as an XSD validator would: element order,
    /// namespaces and unknown elements are checked too.
    fn from_element_strict(root: &Element) -> Result<Self, DecodeError> {
        if root.name != Self::ROOT || root.ns.as_deref() != Some(Self::NS.uri) {
            return Err(DecodeError::UnexpectedRoot {
                expected: Self::ROOT,
                found: format!("{{{}}}{}", root.ns.as_deref().unwrap_or(""), root.name),
            });
        }
        Self::read_xml(root, &Path::strict_root(Self::ROOT))
    }

    /// Reads the message from its root element (for example the first child of a SOAP Body).
    fn from_element(root: &Element) -> Result<Self, DecodeError> {
        if root.name != Self::ROOT {
            return Err(DecodeError::UnexpectedRoot {
                expected: Self::ROOT,
                found: root.name.clone(),
            });
        }
        Self::read_xml(root, &Path::root(Self::ROOT))
    }
}

/// Reads a required child.
pub fn read_one<T: XmlValue>(el: &Element, name: &str, path: &Path<'_>) -> Result<T, DecodeError> {
    let p = path.child(name);
    match el.child(name) {
        Some(c) => T::read_xml(c, &p),
        None => Err(p.missing()),
    }
}

/// Reads an optional child. An empty element for an optional simple value counts as absent:
/// some SOAP stacks write `<X/>` for null.
pub fn read_opt<T: XmlValue>(
    el: &Element,
    name: &str,
    path: &Path<'_>,
) -> Result<Option<T>, DecodeError> {
    let p = path.child(name);
    match el.child(name) {
        Some(c) if !path.strict && c.children.is_empty() && c.attrs.is_empty() => {
            Ok(T::read_xml(c, &p).ok())
        }
        Some(c) => T::read_xml(c, &p).map(Some),
        None => Ok(None),
    }
}

/// Reads repeated children; `min` is the XSD's minOccurs.
pub fn read_many<T: XmlValue>(
    el: &Element,
    name: &str,
    min: usize,
    path: &Path<'_>,
) -> Result<Vec<T>, DecodeError> {
    let p = path.child(name);
    let items = el
        .children_named(name)
        .map(|c| T::read_xml(c, &p))
        .collect::<Result<Vec<_>, _>>()?;
    if items.len() < min {
        return Err(p.missing());
    }
    Ok(items)
}

/// In strict mode: the children of `el` must be the `expected` (name, namespace) elements in
/// that order (a name may repeat), with no other elements and no text between them.
pub fn check_sequence(
    el: &Element,
    expected: &[(&str, Option<&str>)],
    path: &Path<'_>,
) -> Result<(), DecodeError> {
    if !path.strict {
        return Ok(());
    }
    let mut at = 0;
    for node in &el.children {
        let child = match node {
            crate::xml::Node::Element(c) => c,
            crate::xml::Node::Text(t) if t.trim().is_empty() => continue,
            crate::xml::Node::Text(_) => return Err(path.inconsistent("text is not allowed here")),
        };
        let Some(i) = expected[at..].iter().position(|(n, _)| *n == child.name) else {
            let reason = if expected.iter().any(|(n, _)| *n == child.name) {
                format!("element {} is out of order", child.name)
            } else {
                let names: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
                format!(
                    "unexpected element {} (expected {})",
                    child.name,
                    names.join(", ")
                )
            };
            return Err(path.inconsistent(reason));
        };
        at += i;
        let want = expected[at].1;
        if child.ns.as_deref() != want {
            return Err(path.child(&child.name).inconsistent(format!(
                "namespace is {}, expected {}",
                child.ns.as_deref().unwrap_or("(none)"),
                want.unwrap_or("(none)")
            )));
        }
    }
    Ok(())
}

/// Declares a complex type with a sequence of child elements.
///
/// ```text
/// xml_struct! {
///     pub struct RoutingKleInfo in V2 {
///         one "RoutingKLEEmne" routing_kle_emne: KleEmne,
///         opt "RoutingHandlingFacet" routing_handling_facet: HandlingFacet,
///     }
/// }
/// ```
/// Cardinalities: `one` (T), `opt` (Option<T>), `many` (Vec<T>, 0..n), `many1` (Vec<T>, 1..n).
/// `in NS` after the element name overrides the namespace for that child (for `ref=` elements);
/// `pub struct X in inherit` gives the children the namespace of the element itself.
#[macro_export]
macro_rules! xml_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident in $ns:ident {
            $(
                $(#[$fmeta:meta])*
                $card:ident $xml:literal $(in $fns:expr)? => $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $crate::xml_field_ty!($card $ty), )*
        }

        impl $crate::codec::XmlValue for $name {
            #[allow(unused_variables)]
            fn write_xml(&self, w: &mut $crate::xml::Writer, ns: Option<$crate::xml::Ns>, name: &str) {
                w.open(ns, name);
                $( $crate::xml_write_field!($card w, $crate::xml_child_ns!($ns, ns $(, $fns)?), $xml, &self.$field); )*
                w.close(ns, name);
            }

            #[allow(unused_variables)]
            fn read_xml(
                el: &$crate::xml::Element,
                path: &$crate::codec::Path<'_>,
            ) -> Result<Self, $crate::codec::DecodeError> {
                $crate::codec::check_sequence(
                    el,
                    &[$( ($xml, $crate::xml_child_uri!($ns, el $(, $fns)?)) ),*],
                    path,
                )?;
                Ok(Self { $( $field: $crate::xml_read_field!($card el, $xml, path), )* })
            }
        }

        #[cfg(test)]
        impl $crate::arb::ArbField for $name {
            fn arb() -> proptest::strategy::BoxedStrategy<Self> {
                use proptest::strategy::Strategy as _;
                let s = $crate::xml_arb_nest!($( $card $ty ),*);
                s.prop_map(|$crate::xml_arb_pat!($( $field ),*)| Self { $( $field, )* }).boxed()
            }
        }
    };
}

/// The namespace of a child element: the field's own (`in NS`), else the type's, where the
/// type `inherit` means the namespace of the element itself — for types that two schemas
/// declare alike, each in its own namespace (TransportKvittering in v2 and v3).
#[doc(hidden)]
#[macro_export]
macro_rules! xml_child_ns {
    (inherit, $own:ident) => {
        $own
    };
    ($ns:ident, $own:ident) => {
        $ns
    };
    ($ns:ident, $own:ident, $fns:expr) => {
        $fns
    };
}

/// The namespace URI a child must have in strict decoding (see [`xml_child_ns!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! xml_child_uri {
    (inherit, $el:ident) => {
        $el.ns.as_deref()
    };
    ($ns:ident, $el:ident) => {
        $ns.map(|n| n.uri)
    };
    ($ns:ident, $el:ident, $fns:expr) => {
        $fns.map(|n| n.uri)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! xml_field_ty {
    (one $ty:ty) => { $ty };
    (opt $ty:ty) => { Option<$ty> };
    (many $ty:ty) => { Vec<$ty> };
    (many1 $ty:ty) => { Vec<$ty> };
}

#[doc(hidden)]
#[macro_export]
macro_rules! xml_arb_field {
    (one $ty:ty) => {
        <$ty as $crate::arb::ArbField>::arb()
    };
    (opt $ty:ty) => {
        proptest::option::of(<$ty as $crate::arb::ArbField>::arb())
    };
    (many $ty:ty) => {
        proptest::collection::vec(<$ty as $crate::arb::ArbField>::arb(), 0..3)
    };
    (many1 $ty:ty) => {
        proptest::collection::vec(<$ty as $crate::arb::ArbField>::arb(), 1..3)
    };
}

/// Strategies of a struct's fields as right-nested pairs (tuples stop at 12; Attributter has 12).
#[doc(hidden)]
#[macro_export]
macro_rules! xml_arb_nest {
    () => { proptest::strategy::Just(()) };
    ($card:ident $ty:ty $(, $rcard:ident $rty:ty)*) => {
        ($crate::xml_arb_field!($card $ty), $crate::xml_arb_nest!($($rcard $rty),*))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! xml_arb_pat {
    () => { () };
    ($f:ident $(, $r:ident)*) => { ($f, $crate::xml_arb_pat!($($r),*)) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! xml_write_field {
    (one $w:ident, $ns:expr, $xml:literal, $v:expr) => {
        $crate::codec::XmlValue::write_xml($v, $w, $ns, $xml)
    };
    (opt $w:ident, $ns:expr, $xml:literal, $v:expr) => {
        if let Some(v) = $v {
            $crate::codec::XmlValue::write_xml(v, $w, $ns, $xml)
        }
    };
    (many $w:ident, $ns:expr, $xml:literal, $v:expr) => {
        for v in $v.iter() {
            $crate::codec::XmlValue::write_xml(v, $w, $ns, $xml)
        }
    };
    (many1 $w:ident, $ns:expr, $xml:literal, $v:expr) => {
        $crate::xml_write_field!(many $w, $ns, $xml, $v)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! xml_read_field {
    (one $el:ident, $xml:literal, $path:ident) => {
        $crate::codec::read_one($el, $xml, $path)?
    };
    (opt $el:ident, $xml:literal, $path:ident) => {
        $crate::codec::read_opt($el, $xml, $path)?
    };
    (many $el:ident, $xml:literal, $path:ident) => {
        $crate::codec::read_many($el, $xml, 0, $path)?
    };
    (many1 $el:ident, $xml:literal, $path:ident) => {
        $crate::codec::read_many($el, $xml, 1, $path)?
    };
}

/// Declares an XSD choice carried inside a wrapper element: exactly one of the listed children.
#[macro_export]
macro_rules! xml_choice {
    (
        $(#[$meta:meta])*
        pub enum $name:ident in $ns:ident {
            $( $(#[$vmeta:meta])* $xml:literal => $variant:ident($ty:ty) ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $( $(#[$vmeta])* $variant($ty), )+
        }

        impl $name {
            /// The element names of the alternatives, for error messages.
            pub const ALTERNATIVES: &'static str = concat!($( $xml, " " ),+);
        }

        impl $crate::codec::XmlValue for $name {
            fn write_xml(&self, w: &mut $crate::xml::Writer, ns: Option<$crate::xml::Ns>, name: &str) {
                w.open(ns, name);
                match self {
                    $( Self::$variant(v) => $crate::codec::XmlValue::write_xml(v, w, $ns, $xml), )+
                }
                w.close(ns, name);
            }

            fn read_xml(
                el: &$crate::xml::Element,
                path: &$crate::codec::Path<'_>,
            ) -> Result<Self, $crate::codec::DecodeError> {
                if path.strict {
                    let names = [$( $xml ),+];
                    let kids: Vec<&$crate::xml::Element> = el.elements().collect();
                    if kids.len() != 1 || !names.contains(&kids[0].name.as_str()) {
                        return Err(path.inconsistent(concat!("must contain exactly one of: ", $( $xml, " " ),+).trim_end()));
                    }
                    $crate::codec::check_sequence(el, &[(kids[0].name.as_str(), $ns.map(|n| n.uri))], path)?;
                }
                for c in el.elements() {
                    $(
                        if c.name == $xml {
                            let p = path.child($xml);
                            return Ok(Self::$variant($crate::codec::XmlValue::read_xml(c, &p)?));
                        }
                    )+
                }
                Err($crate::codec::DecodeError::NoChoice {
                    path: path.to_string(),
                    expected: Self::ALTERNATIVES.trim_ascii_end(),
                })
            }
        }

        #[cfg(test)]
        impl $crate::arb::ArbField for $name {
            fn arb() -> proptest::strategy::BoxedStrategy<Self> {
                use proptest::strategy::Strategy as _;
                proptest::prop_oneof![
                    $( <$ty as $crate::arb::ArbField>::arb().prop_map(Self::$variant) ),+
                ].boxed()
            }
        }
    };
}

/// Declares an XSD string enumeration. Variant names are Rust-cased; the literal is the
/// protocol's spelling, which each variant's documentation shows after its own.
#[macro_export]
macro_rules! xml_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident as $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $xml:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[doc = concat!("\n\nIn the XML: `", $xml, "`.")]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in the XSD's order (for tests and for listing what is allowed).
            pub const ALL: &'static [$name] = &[$( $name::$variant ),+];

            /// The value as the protocol spells it.
            pub fn as_str(&self) -> &'static str {
                match self { $( Self::$variant => $xml, )+ }
            }

            /// The value from the protocol's spelling (surrounding whitespace ignored, as an
            /// XSD token is); anything else is refused, naming the allowed values.
            pub fn parse(s: &str) -> Result<Self, $crate::codec::ValueError> {
                match s.trim() {
                    $( $xml => Ok(Self::$variant), )+
                    _ => Err($crate::codec::ValueError::new(
                        $what,
                        concat!("must be one of:", $( " ", $xml ),+),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::codec::TextValue for $name {
            fn to_text(&self) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed(self.as_str())
            }
            fn from_text(text: &str) -> Result<Self, $crate::codec::ValueError> {
                Self::parse(text)
            }
        }

        #[cfg(test)]
        impl $crate::arb::ArbField for $name {
            fn arb() -> proptest::strategy::BoxedStrategy<Self> {
                use proptest::strategy::Strategy as _;
                proptest::sample::select(Self::ALL).boxed()
            }
        }
    };
}
