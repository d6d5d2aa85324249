//! The XSD simple types of SF2900 and the SFTP service, as validated Rust values.
//!
//! A value of one of these types is valid by construction: constructors check the XSD pattern
//! and return a [`ValueError`] saying what is wrong (never echoing the value, which may be
//! personal data). The one deliberate exception is [`KlePattern`], which accepts the `*`
//! wildcards the real FordelingsmodtagerList answers with although its XSD forbids them.

use crate::codec::{TextValue, ValueError};
use std::borrow::Cow;
use std::fmt;

pub use uuid::Uuid;

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $what:literal, $check:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// What a value of this type is called in errors.
            pub const WHAT: &'static str = $what;

            /// The value, if it is one of this type; else why not (without quoting it).
            pub fn new(value: impl Into<String>) -> Result<Self, ValueError> {
                let value = value.into();
                let check: fn(&str) -> Result<(), String> = $check;
                check(&value).map_err(|reason| ValueError::new($what, reason))?;
                Ok(Self(value))
            }

            /// The value as written in the XML.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                Self::new(s)
            }
        }

        impl TextValue for $name {
            fn to_text(&self) -> Cow<'_, str> {
                Cow::Borrowed(&self.0)
            }
            fn from_text(text: &str) -> Result<Self, ValueError> {
                Self::new(text.trim())
            }
        }
    };
}

fn digits(s: &str, n: usize) -> Result<(), String> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "must be exactly {n} digits 0-9 (got {} characters)",
            s.chars().count()
        ))
    }
}

string_newtype!(
    /// CVR-nummer: 8 digits (`CVRNumber`).
    Cvr,
    "CVR-nummer",
    |s| digits(s, 8)
);

string_newtype!(
    /// KLE-emne `NN.NN.NN` (`KLEEmneType`).
    KleEmne,
    "KLE-emne",
    |s| {
        let b = s.as_bytes();
        let ok = b.len() == 8
            && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
            && b[2] == b'.'
            && b[5] == b'.';
        if ok { Ok(()) } else { Err("must have the form NN.NN.NN, for example 32.03.12".into()) }
    }
);

string_newtype!(
    /// KLE handlingsfacet: a capital letter A-Z, Æ, Ø or Å and two digits (`KLEHandlingFacetType`).
    HandlingFacet,
    "KLE handlingsfacet",
    |s| {
        let mut c = s.chars();
        let ok = matches!(c.next(), Some('A'..='Z' | 'Æ' | 'Ø' | 'Å'))
            && c.next().is_some_and(|d| d.is_ascii_digit())
            && c.next().is_some_and(|d| d.is_ascii_digit())
            && c.next().is_none();
        if ok { Ok(()) } else { Err("must be a capital letter (A-Z, Æ, Ø, Å) and two digits, for example G01".into()) }
    }
);

string_newtype!(
    /// A KLE-emne as the real service answers it: each level two digits or `*` (`01.01.*`).
    /// Used only where the platform is known to deviate from its own XSD.
    KlePattern,
    "KLE-emne (with wildcards)",
    |s| {
        let parts: Vec<&str> = s.split('.').collect();
        let ok = (1..=3).contains(&parts.len())
            && parts.iter().all(|p| *p == "*" || (p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit())));
        if ok { Ok(()) } else { Err("must have the form NN.NN.NN where a level may be *, for example 32.03.*".into()) }
    }
);

impl KlePattern {
    /// Does this pattern cover that KLE-emne? Missing levels count as `*`.
    pub fn matches(&self, kle: &KleEmne) -> bool {
        let want = kle.as_str().split('.');
        let mut have = self.0.split('.');
        want.into_iter().all(|w| match have.next() {
            None | Some("*") => true,
            Some(h) => h == w,
        })
    }

    /// The exact KLE-emne, when the pattern has no wildcard.
    pub fn exact(&self) -> Option<KleEmne> {
        KleEmne::new(self.0.clone()).ok()
    }
}

impl From<KleEmne> for KlePattern {
    fn from(k: KleEmne) -> Self {
        Self(k.0)
    }
}

fn check_urn(s: &str) -> Result<(), String> {
    let err = || {
        "must be a URN: urn:<namespace>:<value>, for example urn:oio:cvr-nr:12345678".to_string()
    };
    let rest = s
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("urn:"))
        .map(|_| &s[4..])
        .ok_or_else(err)?;
    let (nid, nss) = rest.split_once(':').ok_or_else(err)?;
    let nid_ok = (2..=32).contains(&nid.len())
        && nid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !nid.starts_with('-')
        && !nid.ends_with('-');
    let nss_ok = !nss.is_empty()
        && nss
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"()+,\\-.:=@;$_!*'%/?#".contains(&b));
    if nid_ok && nss_ok { Ok(()) } else { Err(err()) }
}

string_newtype!(
    /// A URN (`URN`), for example `urn:oio:cvr-nr:12345678`.
    Urn,
    "URN",
    check_urn
);

string_newtype!(
    /// `urn:oio:cvr-nr:` and a CVR-nummer (SFTP `CVRURNType`).
    CvrUrn,
    "CVR-URN",
    |s| match s.strip_prefix("urn:oio:cvr-nr:") {
        Some(cvr) => digits(cvr, 8),
        None => Err("must be urn:oio:cvr-nr: followed by 8 digits".into()),
    }
);

impl CvrUrn {
    /// The URN of a CVR-nummer.
    pub fn from_cvr(cvr: &Cvr) -> Self {
        Self(format!("urn:oio:cvr-nr:{cvr}"))
    }

    /// The CVR-nummer in the URN.
    pub fn cvr(&self) -> Cvr {
        Cvr(self.0["urn:oio:cvr-nr:".len()..].to_owned())
    }
}

/// A string limited to `max` characters (XSD `maxLength`).
pub fn check_max_len(what: &'static str, s: &str, max: usize) -> Result<(), ValueError> {
    let n = s.chars().count();
    if n > max {
        Err(ValueError::new(
            what,
            format!("at most {max} characters (got {n})"),
        ))
    } else {
        Ok(())
    }
}

impl TextValue for String {
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
    fn from_text(text: &str) -> Result<Self, ValueError> {
        Ok(text.to_owned())
    }
}

impl TextValue for Uuid {
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.hyphenated().to_string())
    }
    fn from_text(text: &str) -> Result<Self, ValueError> {
        parse_uuid(text.trim())
    }
}

/// Parses the XSD's UUID form (36 characters, hyphenated, either case).
pub fn parse_uuid(s: &str) -> Result<Uuid, ValueError> {
    let err = || {
        ValueError::new(
            "UUID",
            "must be 8-4-4-4-12 hexadecimal digits, for example 2b801c0b-9e36-4cc5-b5d1-c46239cb78ce",
        )
    };
    if s.len() != 36 {
        return Err(err());
    }
    Uuid::try_parse(s).map_err(|_| err())
}

impl TextValue for bool {
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(if *self { "true" } else { "false" })
    }
    fn from_text(text: &str) -> Result<Self, ValueError> {
        match text.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(ValueError::new("boolean", "must be true, false, 1 or 0")),
        }
    }
}

macro_rules! number_text {
    ($ty:ty, $what:literal) => {
        impl TextValue for $ty {
            fn to_text(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
            fn from_text(text: &str) -> Result<Self, ValueError> {
                let t = text.trim();
                t.strip_prefix('+')
                    .unwrap_or(t)
                    .parse()
                    .map_err(|_| ValueError::new($what, "must be a whole number in range"))
            }
        }
    };
}
number_text!(i64, "integer");
number_text!(i32, "int");
number_text!(u64, "unsignedLong");

/// `xs:dateTime`. Written as RFC 3339 with the offset it was given; read leniently (a missing
/// offset is taken as UTC, as Serviceplatformen's Java stacks mean it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(pub chrono::DateTime<chrono::FixedOffset>);

impl DateTime {
    /// The current time, in UTC.
    pub fn now() -> Self {
        Self(chrono::Utc::now().fixed_offset())
    }
}

impl TextValue for DateTime {
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
    fn from_text(text: &str) -> Result<Self, ValueError> {
        let t = text.trim();
        if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
            return Ok(Self(d));
        }
        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
            .map(|n| Self(n.and_utc().fixed_offset()))
            .map_err(|_| {
                ValueError::new(
                    "dateTime",
                    "must be a date and time like 2026-11-23T10:15:00+01:00",
                )
            })
    }
}

/// `xs:date`, written `YYYY-MM-DD`; a time-zone suffix is accepted and ignored when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub chrono::NaiveDate);

impl TextValue for Date {
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.format("%Y-%m-%d").to_string())
    }
    fn from_text(text: &str) -> Result<Self, ValueError> {
        let t = text.trim();
        let t = t.get(..10).filter(|_| t.len() >= 10).unwrap_or(t);
        chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Self)
            .map_err(|_| ValueError::new("date", "must be a date like 2026-11-23"))
    }
}

/// `xs:base64Binary` content (a PDF in FormularIndhold). Written without line breaks; read
/// ignoring whitespace, since many encoders wrap at 76 columns.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Base64Binary(pub Vec<u8>);

impl fmt::Debug for Base64Binary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base64Binary({} bytes)", self.0.len())
    }
}

impl Base64Binary {
    /// The text this type writes for `bytes` (standard alphabet, padded, one line); the one
    /// encoder, so text spliced in later (a stored request's inline PDF) matches byte for byte.
    pub fn encode(bytes: &[u8]) -> String {
        base64_simd::STANDARD.encode_to_string(bytes)
    }
}

impl TextValue for Base64Binary {
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Owned(Self::encode(&self.0))
    }
    fn from_text(text: &str) -> Result<Self, ValueError> {
        // Most encoders write one line; only copy when there is whitespace to drop. Every
        // Base64 character is above b' ' and all whitespace at or below it, so one comparison
        // per byte, which the compiler vectorises over whole chunks, decides.
        let any_low = text
            .as_bytes()
            .chunks(64)
            .any(|c| c.iter().fold(false, |seen, &b| seen | (b <= b' ')));
        let compact: std::borrow::Cow<'_, [u8]> = if any_low {
            text.bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .collect::<Vec<u8>>()
                .into()
        } else {
            text.as_bytes().into()
        };
        // SIMD: several GB/s, where a submission's files are hundreds of KB of Base64.
        base64_simd::STANDARD
            .decode_to_vec(&compact)
            .map(Self)
            .map_err(|_| ValueError::new("base64Binary", "is not valid Base64"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_read_as_xsd_reads_it() {
        let read = |t: &str| Base64Binary::from_text(t).map(|b| b.0);
        assert_eq!(read("QUJD").unwrap(), b"ABC");
        assert_eq!(read("QQ==").unwrap(), b"A");
        assert_eq!(read("QUI=\n").unwrap(), b"AB");
        assert_eq!(read("QU\r\n JD").unwrap(), b"ABC");
        assert_eq!(read("").unwrap(), b"");
        // Missing padding, bits left over in the last character, stray characters.
        for bad in ["QQ", "QR==", "QUJ=", "QU=D", "QU*D", "QUJD="] {
            assert!(read(bad).is_err(), "{bad:?} was accepted");
        }
        let bytes: Vec<u8> = (0..=255u8).cycle().take(100_001).collect();
        let text = Base64Binary::encode(&bytes);
        assert!(!text.contains('\n'));
        assert_eq!(read(&text).unwrap(), bytes);
    }

    #[test]
    fn simple_types_check_their_patterns() {
        assert!(Cvr::new("29189846").is_ok());
        for bad in ["2918984", "291898460", "2918984a", ""] {
            let e = Cvr::new(bad).unwrap_err();
            assert_eq!(e.what, "CVR-nummer");
        }
        assert!(KleEmne::new("32.03.12").is_ok());
        assert!(KleEmne::new("32.03.1").is_err());
        assert!(KleEmne::new("32-03-12").is_err());
        assert!(KleEmne::new("32.03.*").is_err());
        for ok in ["G01", "Æ12", "Ø00", "Å99"] {
            assert!(HandlingFacet::new(ok).is_ok(), "{ok}");
        }
        for bad in ["g01", "G1", "GG1", ",01", "G011"] {
            assert!(HandlingFacet::new(bad).is_err(), "{bad}");
        }
        assert!(Urn::new("urn:oio:cvr-nr:12345678").is_ok());
        assert!(Urn::new("urn:x:y").is_err(), "NID needs two characters");
        assert!(CvrUrn::new("urn:oio:cvr-nr:1234567").is_err());
        assert!(parse_uuid("2B801C0B-9E36-4CC5-B5D1-C46239CB78CE").is_ok());
        assert!(parse_uuid("2b801c0b9e364cc5b5d1c46239cb78ce").is_err());
    }

    #[test]
    fn errors_never_echo_the_value() {
        let cpr = "0101901234";
        let e = Cvr::new(cpr).unwrap_err().to_string();
        assert!(!e.contains(cpr), "{e}");
    }

    #[test]
    fn kle_patterns_match_levels() {
        let k = KleEmne::new("01.01.05").unwrap();
        assert!(KlePattern::new("01.01.*").unwrap().matches(&k));
        assert!(KlePattern::new("01.*.*").unwrap().matches(&k));
        assert!(KlePattern::new("01").unwrap().matches(&k));
        assert!(!KlePattern::new("01.02.*").unwrap().matches(&k));
        assert!(KlePattern::new("01.01.05").unwrap().matches(&k));
        assert!(KlePattern::new("1.*").is_err());
    }

    #[test]
    fn dates_read_leniently() {
        let d = DateTime::from_text("2026-11-23T10:15:00").unwrap();
        assert_eq!(d.to_text(), "2026-11-23T10:15:00Z");
        assert_eq!(
            Date::from_text("2026-11-23+01:00").unwrap().to_text(),
            "2026-11-23"
        );
    }
}
