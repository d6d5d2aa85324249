//! XML-RPC as the 2.x `os2borgerpc-client` speaks it at `/admin-xml/`.
//!
//! The 2.x agents call the server with Python's `xmlrpc.client.ServerProxy(url, allow_none=True)`,
//! so this module owns the two halves of that exchange and nothing else: reading a
//! `<methodCall>` into a [`MethodCall`], and writing the `<methodResponse>` (a value or a fault)
//! that Python's client must be able to read back. Mapping method names and positional
//! arguments onto operations is the server's business.
//!
//! The protocol exists only for agents that have not been upgraded. Those agents identify a PC by
//! its MAC address alone, with no client key, so anyone on the network can act as any PC; the
//! server therefore keeps `/admin-xml/` switched off unless an operator turns it on.
//!
//! The request body is hostile input from an unauthenticated network peer: no DTDs (so no entity
//! expansion, XXE or billion laughs), bounded nesting (the parser recurses per array/struct
//! level), and every failure is an [`Error`] that says where the document went wrong, never a
//! panic.
//!
//! `read.rs` and `write.rs` are the two halves; this module holds what they share: the
//! [`Value`] model, the parsed [`MethodCall`] and the reading [`Error`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

mod read;
mod write;

pub use read::parse_method_call;
pub use write::{fault_response, method_call, method_response};

/// How many array/struct levels a request may nest. Real agents send at most three (a struct of
/// configuration with a list inside); the bound keeps recursion far from the stack limit.
pub const MAX_DEPTH: usize = 64;

/// An XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>` or `<i4>`.
    Int(i64),
    /// `<boolean>`: `0` or `1`.
    Bool(bool),
    /// `<string>`, or a `<value>` with bare text.
    String(String),
    /// `<double>`.
    Double(f64),
    /// The `dateTime.iso8601` text as sent (trimmed): XML-RPC's date format has no time zone and
    /// several spellings, so interpreting it is left to the one caller that needs it.
    DateTime(String),
    /// `<base64>`: bytes, decoded.
    Base64(Vec<u8>),
    /// `<array>`: values in order.
    Array(Vec<Value>),
    /// Members in document order. A name may repeat; [`Value::get`] then sees the last one, as a
    /// Python `dict` built from the same document would.
    Struct(Vec<(String, Value)>),
    /// `<nil/>`: Python's `None` (the agents run with `allow_none=True`).
    Nil,
}

/// A parsed `<methodCall>`.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    /// `<methodName>`, trimmed.
    pub method: String,
    /// The positional arguments, in order.
    pub params: Vec<Value>,
}

/// Why a request body is not an XML-RPC method call. Paths are relative to `<methodCall>`,
/// XPath-style with 1-based indices, e.g. `params/param[2]/value/array/data/value[1]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The body is not UTF-8 (what Python sends).
    #[error("body is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// The XML declaration names another encoding.
    #[error("XML declaration names encoding {0:?}; only UTF-8 is supported")]
    UnsupportedEncoding(String),
    /// The body is not well-formed XML.
    #[error("malformed XML at byte {position}: {message}")]
    Xml {
        /// Where the parser stopped.
        position: u64,
        /// The parser's complaint.
        message: String,
    },
    /// A DOCTYPE: refused, so no entity can be declared.
    #[error("DOCTYPE is not allowed in XML-RPC (DTDs and entity declarations are refused)")]
    Doctype,
    /// An entity reference XML does not predefine.
    #[error("{path}: undefined entity &{name};")]
    UndefinedEntity {
        /// Where it is.
        path: String,
        /// The entity's name.
        name: String,
    },
    /// The document is not a `<methodCall>`.
    #[error("root element is <{found}>, expected <methodCall>")]
    WrongRoot {
        /// The root element's name.
        found: String,
    },
    /// An element or the end of the document where XML-RPC has something else.
    #[error("{path}: expected {expected}, found {found}")]
    Unexpected {
        /// Where it is.
        path: String,
        /// What XML-RPC allows there.
        expected: &'static str,
        /// What the document has.
        found: String,
    },
    /// Text where XML-RPC allows only elements.
    #[error("{path}: unexpected text {text:?}")]
    UnexpectedText {
        /// Where it is.
        path: String,
        /// The start of the text.
        text: String,
    },
    /// A `<value>` of a type XML-RPC (with Python's extensions) does not have.
    #[error("{path}: unknown value type <{tag}>")]
    UnknownType {
        /// Where it is.
        path: String,
        /// The element's name.
        tag: String,
    },
    /// A scalar whose text is not of its type (an `<int>` that is not a number, …).
    #[error("{path}: <{tag}> is not {expected}: {text:?}")]
    BadScalar {
        /// Where it is.
        path: String,
        /// The scalar's element.
        tag: String,
        /// What the text should be.
        expected: &'static str,
        /// The start of the text.
        text: String,
    },
    /// Arrays and structs nested deeper than [`MAX_DEPTH`].
    #[error("{path}: values nested deeper than {limit} levels")]
    TooDeep {
        /// Where the limit was passed.
        path: String,
        /// The limit.
        limit: usize,
    },
}

impl Value {
    /// The text of a `String`; `None` for any other type.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number of an `Int`; `None` for any other type.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value of a `Bool`; `None` for any other type.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The items of an `Array`; `None` for any other type.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members of a `Struct`, in document order; `None` for any other type.
    pub fn as_struct(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Struct(members) => Some(members),
            _ => None,
        }
    }

    /// The member named `key` of a struct; the last one if the name repeats (Python's
    /// `dict` semantics, which is what the 2.x server had).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_struct()?
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// JSON integers become `Int`, other numbers `Double` (so `3.0` stays a double, as in
    /// Python's `json`), `null` becomes `Nil` (the agents run with `allow_none=True`).
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => n.as_f64().map_or(Value::Nil, Value::Double),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::Struct(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Lossy where JSON has no type: `Base64` becomes its standard base64 text, `DateTime` its
    /// text, a non-finite `Double` becomes `null`, and a repeated struct member keeps its last
    /// value.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::String(s) | Value::DateTime(s) => serde_json::Value::String(s.clone()),
            Value::Double(d) => serde_json::Number::from_f64(*d)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Base64(bytes) => serde_json::Value::String(STANDARD.encode(bytes)),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Struct(members) => serde_json::Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Nil => serde_json::Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::write::is_xml_char;
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn s(text: &str) -> Value {
        Value::String(text.to_owned())
    }

    #[test]
    fn danish_round_trips() {
        let params = vec![
            s("Søren Ærø på Åland"),
            Value::Struct(vec![("nøgle".into(), s("værdi\n"))]),
        ];
        let body = method_call("register_new_computer", &params);
        let call = parse_method_call(body.as_bytes()).unwrap();
        assert_eq!(call.method, "register_new_computer");
        assert_eq!(call.params, params);
    }

    #[test]
    fn accessors() {
        let v = Value::Struct(vec![
            ("mac".into(), s("aa")),
            ("n".into(), Value::Int(3)),
            ("ok".into(), Value::Bool(true)),
            ("list".into(), Value::Array(vec![Value::Nil])),
            ("n".into(), Value::Int(4)),
        ]);
        assert_eq!(v.get("mac").and_then(Value::as_str), Some("aa"));
        assert_eq!(v.get("n").and_then(Value::as_i64), Some(4));
        assert_eq!(v.get("ok").and_then(Value::as_bool), Some(true));
        assert_eq!(
            v.get("list").and_then(Value::as_array),
            Some(&[Value::Nil][..])
        );
        assert_eq!(v.get("missing"), None);
        assert_eq!(v.as_struct().map(<[_]>::len), Some(5));
        assert_eq!(s("x").get("x"), None);
        assert_eq!(s("x").as_i64(), None);
        assert_eq!(Value::Int(1).as_str(), None);
        assert_eq!(Value::Int(1).as_bool(), None);
        assert_eq!(Value::Nil.as_array(), None);
        assert_eq!(Value::Nil.as_struct(), None);
    }

    #[test]
    fn json_conversions() {
        let j = json!({"a": null, "b": [1, 2.5, true, "x"], "c": {"d": -3}, "big": 18446744073709551615u64});
        let v = Value::from_json(&j);
        assert_eq!(v.get("a"), Some(&Value::Nil));
        assert_eq!(
            v.get("b"),
            Some(&Value::Array(vec![
                Value::Int(1),
                Value::Double(2.5),
                Value::Bool(true),
                s("x")
            ]))
        );
        assert_eq!(v.get("c").and_then(|c| c.get("d")), Some(&Value::Int(-3)));
        assert_eq!(v.get("big"), Some(&Value::Double(18446744073709551615.0)));
        assert_eq!(Value::from_json(&json!(3.0)), Value::Double(3.0));

        let small = json!({"a": null, "b": [1, 2.5, true, "x"], "c": {"d": -3}});
        assert_eq!(Value::from_json(&small).to_json(), small);
        assert_eq!(Value::Base64(b"ab".to_vec()).to_json(), json!("YWI="));
        assert_eq!(
            Value::DateTime("20240102T03:04:05".into()).to_json(),
            json!("20240102T03:04:05")
        );
        assert_eq!(Value::Double(f64::NAN).to_json(), json!(null));
        assert_eq!(
            Value::Struct(vec![
                ("k".into(), Value::Int(1)),
                ("k".into(), Value::Int(2))
            ])
            .to_json(),
            json!({"k": 2})
        );
    }

    fn xml_string() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                3 => any::<char>().prop_map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' }),
                2 => prop::sample::select(vec![
                    '&', '<', '>', '\r', '\n', '\t', ' ', 'æ', 'ø', 'å', 'Å', ']', ';', '#'
                ]),
            ],
            0..12,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::Int),
            any::<bool>().prop_map(Value::Bool),
            xml_string().prop_map(Value::String),
            any::<f64>()
                .prop_filter("NaN is not equal to itself", |d| !d.is_nan())
                .prop_map(Value::Double),
            "[0-9]{8}T[0-9]{2}:[0-9]{2}:[0-9]{2}".prop_map(Value::DateTime),
            prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Base64),
            Just(Value::Nil),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((xml_string(), inner), 0..6).prop_map(Value::Struct),
            ]
        })
    }

    proptest! {
        #[test]
        fn method_call_round_trips(
            method in "[A-Za-z_][A-Za-z0-9_.]{0,20}",
            params in prop::collection::vec(arb_value(), 0..4),
        ) {
            let body = method_call(&method, &params);
            let call = parse_method_call(body.as_bytes());
            prop_assert_eq!(call, Ok(MethodCall { method, params }));
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_method_call(&body);
        }

        #[test]
        fn arbitrary_markup_never_panics(tokens in prop::collection::vec(prop::sample::select(vec![
            "<methodCall>", "</methodCall>", "<methodName>", "</methodName>", "<params>",
            "</params>", "<param>", "</param>", "<value>", "</value>", "<value/>", "<array>",
            "</array>", "<data>", "</data>", "<struct>", "</struct>", "<member>", "</member>",
            "<name>", "</name>", "<int>", "</int>", "<string>", "</string>", "<nil/>",
            "<base64>", "</base64>", "<boolean>", "</boolean>", "&lt;", "&", "&#0;", "&#x110000;",
            "x", " ", "\n", "1", "<!--c-->", "<![CDATA[", "]]>", "<?pi?>", "<!DOCTYPE",
        ]), 0..60)) {
            let _ = parse_method_call(tokens.concat().as_bytes());
        }
    }

    /// Runs `code` with `python3 -c`, feeding `stdin`; `None` if there is no python3.
    fn python(code: &str, stdin: &[u8]) -> Option<String> {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let child = Command::new("python3")
            .arg("-c")
            .arg(code)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("cannot run python3: {e}"),
        };
        let mut input = child.stdin.take().expect("stdin is piped");
        input.write_all(stdin).expect("write to python3");
        drop(input);
        let output = child.wait_with_output().expect("wait for python3");
        assert!(
            output.status.success(),
            "python3 failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(String::from_utf8(output.stdout).expect("python3 output is UTF-8"))
    }

    const PY_DUMPS: &str = r#"
import sys, xmlrpc.client
params = (
    "Søren Ærø på Åland",
    {"mac": "00:11:22:33:44:55", "config": {"os2_product": "os2borgerpc", "nøgle": "værdi"}, "ids": [1, 2]},
    ["a", 2, False],
    None,
    True,
    42,
    -7,
    "2024-01-02 03:04:05 sudo: besked\n",
    "a\r\nb <&> ]]>",
    2.5,
    "",
    xmlrpc.client.Binary(bytes(range(256))),
    xmlrpc.client.DateTime("20240102T03:04:05"),
)
# encoding="utf-8" is what ServerProxy passes; the plain form is what dumps() does by default.
docs = [
    xmlrpc.client.dumps(params, "push_security_events", encoding="utf-8", allow_none=True),
    xmlrpc.client.dumps(params, "push_security_events", allow_none=True),
]
sys.stdout.buffer.write("\0".join(docs).encode("utf-8"))
"#;

    const PY_LOADS: &str = r#"
import sys, json, xmlrpc.client
def conv(v):
    if isinstance(v, xmlrpc.client.Binary):
        return {"base64": list(v.data)}
    if isinstance(v, xmlrpc.client.DateTime):
        return {"datetime": v.value}
    if isinstance(v, dict):
        return {"struct": [[k, conv(x)] for k, x in v.items()]}
    if isinstance(v, list):
        return [conv(x) for x in v]
    if isinstance(v, float):
        return {"double": repr(v)}
    return v
out = []
for doc in sys.stdin.buffer.read().split(b"\0"):
    try:
        params, method = xmlrpc.client.loads(doc)
        out.append({"result": [conv(p) for p in params], "method": method})
    except xmlrpc.client.Fault as f:
        out.append({"fault": [f.faultCode, f.faultString]})
print(json.dumps(out))
"#;

    #[test]
    fn interoperates_with_python_xmlrpc_client() {
        // (a) Python's client as the sender.
        let Some(dumped) = python(PY_DUMPS, b"") else {
            eprintln!("python3 not found; skipping the Python interoperability test");
            return;
        };
        let expected = vec![
            s("Søren Ærø på Åland"),
            Value::Struct(vec![
                ("mac".into(), s("00:11:22:33:44:55")),
                (
                    "config".into(),
                    Value::Struct(vec![
                        ("os2_product".into(), s("os2borgerpc")),
                        ("nøgle".into(), s("værdi")),
                    ]),
                ),
                (
                    "ids".into(),
                    Value::Array(vec![Value::Int(1), Value::Int(2)]),
                ),
            ]),
            Value::Array(vec![s("a"), Value::Int(2), Value::Bool(false)]),
            Value::Nil,
            Value::Bool(true),
            Value::Int(42),
            Value::Int(-7),
            s("2024-01-02 03:04:05 sudo: besked\n"),
            // Python writes the CR raw, and XML reads a raw CR LF as LF, on either side.
            s("a\nb <&> ]]>"),
            Value::Double(2.5),
            s(""),
            Value::Base64((0..=255).collect()),
            Value::DateTime("20240102T03:04:05".into()),
        ];
        let docs: Vec<&str> = dumped.split('\0').collect();
        assert_eq!(docs.len(), 2);
        for doc in docs {
            let call = parse_method_call(doc.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{doc}"));
            assert_eq!(call.method, "push_security_events");
            assert_eq!(call.params, expected);
        }

        // (b) Python's client as the receiver.
        let response = Value::Struct(vec![
            ("status".into(), s("OK")),
            ("navn".into(), s("Ærø æøå <&> ]]>")),
            ("line".into(), s("a\r\nb\n")),
            ("control".into(), s("x\u{1}y")),
            (
                "jobs".into(),
                Value::Array(vec![
                    Value::Struct(vec![
                        ("id".into(), Value::Int(1)),
                        ("executable_code".into(), s("#!/bin/sh\necho hej\n")),
                    ]),
                    Value::Nil,
                ]),
            ),
            ("big".into(), Value::Int(i64::MAX)),
            (
                "doubles".into(),
                Value::Array(vec![
                    Value::Double(0.1),
                    Value::Double(1e300),
                    Value::Double(-2.5),
                    Value::Double(5e-324),
                ]),
            ),
            ("flag".into(), Value::Bool(false)),
            ("blob".into(), Value::Base64(vec![0, 1, 254, 255])),
            ("when".into(), Value::DateTime("20240102T03:04:05".into())),
            ("empty".into(), s("")),
        ]);
        let docs = [
            method_response(&response),
            method_response(&Value::Nil),
            fault_response(3, "ukendt computer: æøå <&>\r\n"),
        ]
        .join("\0");
        let loaded = python(PY_LOADS, docs.as_bytes()).expect("python3 was found above");
        let loaded: serde_json::Value = serde_json::from_str(&loaded).expect("JSON from python3");
        assert_eq!(
            loaded,
            json!([
                {"method": null, "result": [{"struct": [
                    ["status", "OK"],
                    ["navn", "Ærø æøå <&> ]]>"],
                    ["line", "a\r\nb\n"],
                    ["control", "x\u{FFFD}y"],
                    ["jobs", [
                        {"struct": [["id", 1], ["executable_code", "#!/bin/sh\necho hej\n"]]},
                        null
                    ]],
                    ["big", i64::MAX],
                    ["doubles", [
                        {"double": "0.1"},
                        {"double": "1e+300"},
                        {"double": "-2.5"},
                        {"double": "5e-324"}
                    ]],
                    ["flag", false],
                    ["blob", {"base64": [0, 1, 254, 255]}],
                    ["when", {"datetime": "20240102T03:04:05"}],
                    ["empty", ""]
                ]}]},
                {"method": null, "result": [null]},
                {"fault": [3, "ukendt computer: æøå <&>\r\n"]}
            ])
        );
    }
}
