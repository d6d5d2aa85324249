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

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};
use std::fmt::Write as _;

/// How many array/struct levels a request may nest. Real agents send at most three (a struct of
/// configuration with a list inside); the bound keeps recursion far from the stack limit.
pub const MAX_DEPTH: usize = 64;

/// How much of an offending text an error message quotes, so a huge body cannot become a huge
/// log line.
const SNIPPET_CHARS: usize = 40;

/// An XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Bool(bool),
    String(String),
    Double(f64),
    /// The `dateTime.iso8601` text as sent (trimmed): XML-RPC's date format has no time zone and
    /// several spellings, so interpreting it is left to the one caller that needs it.
    DateTime(String),
    Base64(Vec<u8>),
    Array(Vec<Value>),
    /// Members in document order. A name may repeat; [`Value::get`] then sees the last one, as a
    /// Python `dict` built from the same document would.
    Struct(Vec<(String, Value)>),
    Nil,
}

/// A parsed `<methodCall>`.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    pub method: String,
    pub params: Vec<Value>,
}

/// Why a request body is not an XML-RPC method call. Paths are relative to `<methodCall>`,
/// XPath-style with 1-based indices, e.g. `params/param[2]/value/array/data/value[1]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("body is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 { offset: usize },
    #[error("XML declaration names encoding {0:?}; only UTF-8 is supported")]
    UnsupportedEncoding(String),
    #[error("malformed XML at byte {position}: {message}")]
    Xml { position: u64, message: String },
    #[error("DOCTYPE is not allowed in XML-RPC (DTDs and entity declarations are refused)")]
    Doctype,
    #[error("{path}: undefined entity &{name};")]
    UndefinedEntity { path: String, name: String },
    #[error("root element is <{found}>, expected <methodCall>")]
    WrongRoot { found: String },
    #[error("{path}: expected {expected}, found {found}")]
    Unexpected {
        path: String,
        expected: &'static str,
        found: String,
    },
    #[error("{path}: unexpected text {text:?}")]
    UnexpectedText { path: String, text: String },
    #[error("{path}: unknown value type <{tag}>")]
    UnknownType { path: String, tag: String },
    #[error("{path}: <{tag}> is not {expected}: {text:?}")]
    BadScalar {
        path: String,
        tag: String,
        expected: &'static str,
        text: String,
    },
    #[error("{path}: values nested deeper than {limit} levels")]
    TooDeep { path: String, limit: usize },
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

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

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Parses a `<methodCall>` request body.
pub fn parse_method_call(body: &[u8]) -> Result<MethodCall, Error> {
    // Checked up front so the error names the offset, instead of surfacing later as an XML error
    // about whichever token happened to contain the bad byte.
    let text = std::str::from_utf8(body).map_err(|e| Error::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut p = Parser::new(text);

    match p.skip_ws()? {
        Tok::Start(name) if name == "methodCall" => p.in_root = true,
        Tok::Start(name) | Tok::Empty(name) if name != "methodCall" => {
            return Err(Error::WrongRoot { found: name });
        }
        other => return Err(p.unexpected("<methodCall> with a <methodName>", &other)),
    }

    let method = match p.skip_ws()? {
        Tok::Start(name) if name == "methodName" => {
            p.path.push("methodName".into());
            let text = p.text_until_end()?;
            let method = xml_trim(&text);
            if method.is_empty() {
                return Err(p.bad_scalar("methodName", "a method name", &text));
            }
            p.path.pop();
            method.to_owned()
        }
        other => return Err(p.unexpected("<methodName>", &other)),
    };

    // Python always sends <params>, but the spec lets a call without arguments omit it.
    let params = match p.skip_ws()? {
        Tok::End(_) => Vec::new(),
        Tok::Empty(name) if name == "params" => {
            p.expect_end("</methodCall>")?;
            Vec::new()
        }
        Tok::Start(name) if name == "params" => {
            let params = p.params()?;
            p.expect_end("</methodCall>")?;
            params
        }
        other => return Err(p.unexpected("<params> or </methodCall>", &other)),
    };

    p.in_root = false;
    match p.skip_ws()? {
        Tok::Eof => Ok(MethodCall { method, params }),
        other => Err(p.unexpected("end of document after </methodCall>", &other)),
    }
}

/// The significant XML events, with names and text already owned and entities resolved.
#[derive(Debug)]
enum Tok {
    Start(String),
    Empty(String),
    End(String),
    Text(String),
    Eof,
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    /// Where we are, for error messages; segments relative to `<methodCall>`.
    path: Vec<String>,
    /// Whether we are inside `<methodCall>`, so that errors outside it do not claim otherwise.
    in_root: bool,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        // Whitespace inside <string> is data (security event lines end in "\n"), so no trimming
        // here; whitespace between elements is skipped by the grammar instead.
        config.trim_text(false);
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.allow_dangling_amp = false;
        Parser {
            reader,
            path: Vec::new(),
            in_root: false,
        }
    }

    fn path(&self) -> String {
        if !self.path.is_empty() {
            self.path.join("/")
        } else if self.in_root {
            "methodCall".to_owned()
        } else {
            "document".to_owned()
        }
    }

    fn next(&mut self) -> Result<Tok, Error> {
        loop {
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(e) => {
                    return Err(Error::Xml {
                        position: self.reader.error_position(),
                        message: e.to_string(),
                    });
                }
            };
            return Ok(match event {
                Event::Start(e) => Tok::Start(e.name().as_ref().to_owned()),
                Event::Empty(e) => Tok::Empty(e.name().as_ref().to_owned()),
                Event::End(e) => Tok::End(e.name().as_ref().to_owned()),
                Event::Text(t) => Tok::Text(t.xml10_content().into_owned()),
                Event::CData(c) => Tok::Text(c.xml10_content().into_owned()),
                Event::GeneralRef(r) => Tok::Text(self.resolve_ref(&r)?),
                Event::Decl(d) => {
                    if let Some(encoding) = d.encoding() {
                        let encoding = encoding.map_err(|e| Error::Xml {
                            position: self.reader.buffer_position(),
                            message: e.to_string(),
                        })?;
                        if !matches!(
                            encoding.to_ascii_lowercase().as_str(),
                            "utf-8" | "utf8" | "us-ascii" | "ascii"
                        ) {
                            return Err(Error::UnsupportedEncoding(encoding.into_owned()));
                        }
                    }
                    continue;
                }
                Event::Comment(_) | Event::PI(_) => continue,
                Event::DocType(_) => return Err(Error::Doctype),
                Event::Eof => Tok::Eof,
            });
        }
    }

    /// Only the five predefined entities and character references exist without a DTD, and DTDs
    /// are refused, so anything else is an error rather than something to look up.
    fn resolve_ref(&self, r: &BytesRef<'_>) -> Result<String, Error> {
        match r.resolve_char_ref() {
            Ok(Some(c)) => return Ok(c.to_string()),
            Ok(None) => {}
            Err(e) => {
                return Err(Error::Xml {
                    position: self.reader.buffer_position(),
                    message: e.to_string(),
                });
            }
        }
        let text = match &**r {
            "lt" => "<",
            "gt" => ">",
            "amp" => "&",
            "apos" => "'",
            "quot" => "\"",
            name => {
                return Err(Error::UndefinedEntity {
                    path: self.path(),
                    name: name.to_owned(),
                });
            }
        };
        Ok(text.to_owned())
    }

    /// The next element event, skipping whitespace between elements; other text there is an error.
    fn skip_ws(&mut self) -> Result<Tok, Error> {
        loop {
            match self.next()? {
                Tok::Text(text) if is_xml_ws(&text) => continue,
                Tok::Text(text) => {
                    return Err(Error::UnexpectedText {
                        path: self.path(),
                        text: snippet(&text),
                    });
                }
                tok => return Ok(tok),
            }
        }
    }

    /// The text content of the element just opened, up to and including its end tag.
    fn text_until_end(&mut self) -> Result<String, Error> {
        let mut text = String::new();
        loop {
            match self.next()? {
                Tok::Text(t) => text.push_str(&t),
                // The reader checks end names, so this is the element we are in.
                Tok::End(_) => return Ok(text),
                other => return Err(self.unexpected("text", &other)),
            }
        }
    }

    /// Consumes the end tag of the element we are in, allowing only whitespace before it.
    fn expect_end(&mut self, expected: &'static str) -> Result<(), Error> {
        match self.skip_ws()? {
            Tok::End(_) => Ok(()),
            other => Err(self.unexpected(expected, &other)),
        }
    }

    fn unexpected(&self, expected: &'static str, found: &Tok) -> Error {
        let found = match found {
            Tok::Start(name) => format!("<{name}>"),
            Tok::Empty(name) => format!("<{name}/>"),
            Tok::End(name) => format!("</{name}>"),
            Tok::Text(text) => format!("text {:?}", snippet(text)),
            Tok::Eof => "end of document".to_owned(),
        };
        Error::Unexpected {
            path: self.path(),
            expected,
            found,
        }
    }

    fn bad_scalar(&self, tag: &str, expected: &'static str, text: &str) -> Error {
        Error::BadScalar {
            path: self.path(),
            tag: tag.to_owned(),
            expected,
            text: snippet(text),
        }
    }

    /// After `<params>`: the parameters, through `</params>`.
    fn params(&mut self) -> Result<Vec<Value>, Error> {
        self.path.push("params".into());
        let mut params = Vec::new();
        loop {
            match self.skip_ws()? {
                Tok::Start(name) if name == "param" => {
                    self.path.push(format!("param[{}]", params.len() + 1));
                    let value = match self.skip_ws()? {
                        Tok::Start(name) if name == "value" => {
                            self.path.push("value".into());
                            let value = self.value(0)?;
                            self.path.pop();
                            value
                        }
                        Tok::Empty(name) if name == "value" => Value::String(String::new()),
                        other => return Err(self.unexpected("<value>", &other)),
                    };
                    self.expect_end("</param>")?;
                    self.path.pop();
                    params.push(value);
                }
                Tok::End(_) => break,
                other => return Err(self.unexpected("<param> or </params>", &other)),
            }
        }
        self.path.pop();
        Ok(params)
    }

    /// After `<value>`: the value, through `</value>`. The caller has pushed the path segment.
    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        if depth >= MAX_DEPTH {
            return Err(Error::TooDeep {
                path: self.path(),
                limit: MAX_DEPTH,
            });
        }
        // Until a type element shows up, text may be a bare string (`<value>abc</value>`) or
        // just the indentation around a type element; only the end tag tells which.
        let mut text = String::new();
        loop {
            let (tag, empty) = match self.next()? {
                Tok::Text(t) => {
                    text.push_str(&t);
                    continue;
                }
                Tok::End(_) => return Ok(Value::String(text)),
                Tok::Start(tag) => (tag, false),
                Tok::Empty(tag) => (tag, true),
                Tok::Eof => return Err(self.unexpected("</value>", &Tok::Eof)),
            };
            if !is_xml_ws(&text) {
                return Err(Error::UnexpectedText {
                    path: self.path(),
                    text: snippet(&text),
                });
            }
            let value = self.typed(&tag, empty, depth)?;
            self.expect_end("</value>")?;
            return Ok(value);
        }
    }

    /// After a type element's start tag (or its empty tag): the value, through its end tag.
    fn typed(&mut self, tag: &str, empty: bool, depth: usize) -> Result<Value, Error> {
        match tag {
            "array" => return self.array(empty, depth),
            "struct" => return self.r#struct(empty, depth),
            "int" | "i4" | "i8" | "boolean" | "string" | "double" | "dateTime.iso8601"
            | "base64" | "nil" => {}
            _ => {
                return Err(Error::UnknownType {
                    path: self.path(),
                    tag: tag.to_owned(),
                });
            }
        }
        let text = if empty {
            String::new()
        } else {
            self.text_until_end()?
        };
        // Python's int()/float() accept surrounding whitespace, so we do too; strings keep
        // theirs.
        let trimmed = xml_trim(&text);
        Ok(match tag {
            "int" | "i4" | "i8" => Value::Int(
                trimmed
                    .parse()
                    .map_err(|_| self.bad_scalar(tag, "an integer", &text))?,
            ),
            "boolean" => match trimmed {
                "0" => Value::Bool(false),
                "1" => Value::Bool(true),
                _ => return Err(self.bad_scalar(tag, "0 or 1", &text)),
            },
            "string" => Value::String(text),
            "double" => Value::Double(
                trimmed
                    .parse()
                    .map_err(|_| self.bad_scalar(tag, "a number", &text))?,
            ),
            "dateTime.iso8601" if trimmed.is_empty() => {
                return Err(self.bad_scalar(tag, "a date-time", &text));
            }
            "dateTime.iso8601" => Value::DateTime(trimmed.to_owned()),
            "base64" => {
                // Python's encodebytes() breaks lines every 76 characters.
                let compact: String = text.chars().filter(|c| !is_xml_ws_char(*c)).collect();
                Value::Base64(
                    LENIENT_BASE64
                        .decode(compact)
                        .map_err(|_| self.bad_scalar(tag, "base64", &text))?,
                )
            }
            "nil" if trimmed.is_empty() => Value::Nil,
            "nil" => return Err(self.bad_scalar(tag, "empty", &text)),
            _ => {
                return Err(Error::UnknownType {
                    path: self.path(),
                    tag: tag.to_owned(),
                });
            }
        })
    }

    /// After `<array>`: the elements, through `</array>`. Python's parser reads an array without
    /// `<data>` as empty, so a bare `<array/>` or `<array></array>` is accepted too.
    fn array(&mut self, empty: bool, depth: usize) -> Result<Value, Error> {
        if empty {
            return Ok(Value::Array(Vec::new()));
        }
        self.path.push("array".into());
        let items = match self.skip_ws()? {
            Tok::End(_) => Vec::new(),
            Tok::Empty(name) if name == "data" => {
                self.expect_end("</array>")?;
                Vec::new()
            }
            Tok::Start(name) if name == "data" => {
                self.path.push("data".into());
                let mut items = Vec::new();
                loop {
                    match self.skip_ws()? {
                        Tok::Start(name) if name == "value" => {
                            self.path.push(format!("value[{}]", items.len() + 1));
                            items.push(self.value(depth + 1)?);
                            self.path.pop();
                        }
                        Tok::Empty(name) if name == "value" => {
                            items.push(Value::String(String::new()))
                        }
                        Tok::End(_) => break,
                        other => return Err(self.unexpected("<value> or </data>", &other)),
                    }
                }
                self.path.pop();
                self.expect_end("</array>")?;
                items
            }
            other => return Err(self.unexpected("<data>", &other)),
        };
        self.path.pop();
        Ok(Value::Array(items))
    }

    /// After `<struct>`: the members, through `</struct>`.
    fn r#struct(&mut self, empty: bool, depth: usize) -> Result<Value, Error> {
        if empty {
            return Ok(Value::Struct(Vec::new()));
        }
        self.path.push("struct".into());
        let mut members = Vec::new();
        loop {
            match self.skip_ws()? {
                Tok::Start(name) if name == "member" => {
                    self.path.push(format!("member[{}]", members.len() + 1));
                    // Python pairs a member's children positionally, name first; so do we.
                    let name = match self.skip_ws()? {
                        Tok::Start(tag) if tag == "name" => self.text_until_end()?,
                        Tok::Empty(tag) if tag == "name" => String::new(),
                        other => return Err(self.unexpected("<name>", &other)),
                    };
                    let value = match self.skip_ws()? {
                        Tok::Start(tag) if tag == "value" => {
                            self.path.push("value".into());
                            let value = self.value(depth + 1)?;
                            self.path.pop();
                            value
                        }
                        Tok::Empty(tag) if tag == "value" => Value::String(String::new()),
                        other => return Err(self.unexpected("<value>", &other)),
                    };
                    self.expect_end("</member>")?;
                    self.path.pop();
                    members.push((name, value));
                }
                Tok::End(_) => break,
                other => return Err(self.unexpected("<member> or </struct>", &other)),
            }
        }
        self.path.pop();
        Ok(Value::Struct(members))
    }
}

/// Python writes padded base64, but padding carries no information, so its absence is no reason
/// to refuse a request.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn is_xml_ws_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_xml_ws(text: &str) -> bool {
    text.chars().all(is_xml_ws_char)
}

fn xml_trim(text: &str) -> &str {
    text.trim_matches(is_xml_ws_char)
}

fn snippet(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(SNIPPET_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// A successful `<methodResponse>` carrying `value`.
pub fn method_response(value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodResponse>\n<params>\n<param>\n");
    write_value(&mut out, value);
    out.push_str("\n</param>\n</params>\n</methodResponse>\n");
    out
}

/// A `<methodResponse>` with a `<fault>`; Python's client raises it as `xmlrpc.client.Fault`.
pub fn fault_response(code: i64, message: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodResponse>\n<fault>\n");
    write_value(
        &mut out,
        &Value::Struct(vec![
            ("faultCode".to_owned(), Value::Int(code)),
            ("faultString".to_owned(), Value::String(message.to_owned())),
        ]),
    );
    out.push_str("\n</fault>\n</methodResponse>\n");
    out
}

/// A `<methodCall>`, laid out like Python's `xmlrpc.client.dumps`, so tests can act as a 2.x
/// agent.
pub fn method_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodCall>\n<methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName>\n<params>\n");
    for param in params {
        out.push_str("<param>\n");
        write_value(&mut out, param);
        out.push_str("\n</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out
}

fn write_value(out: &mut String, value: &Value) {
    out.push_str("<value>");
    match value {
        Value::Int(i) => {
            let _ = write!(out, "<int>{i}</int>");
        }
        Value::Bool(b) => out.push_str(if *b {
            "<boolean>1</boolean>"
        } else {
            "<boolean>0</boolean>"
        }),
        Value::String(s) => {
            out.push_str("<string>");
            escape_into(out, s);
            out.push_str("</string>");
        }
        // Display is the shortest text that parses back to the same f64, and never uses an
        // exponent, which the XML-RPC spec forbids.
        Value::Double(d) => {
            let _ = write!(out, "<double>{d}</double>");
        }
        Value::DateTime(s) => {
            out.push_str("<dateTime.iso8601>");
            escape_into(out, s);
            out.push_str("</dateTime.iso8601>");
        }
        Value::Base64(bytes) => {
            out.push_str("<base64>");
            STANDARD.encode_string(bytes, out);
            out.push_str("</base64>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            for (name, value) in members {
                out.push_str("<member><name>");
                escape_into(out, name);
                out.push_str("</name>");
                write_value(out, value);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
        Value::Nil => out.push_str("<nil/>"),
    }
    out.push_str("</value>");
}

/// Escapes text content. `>` too, so `]]>` cannot appear; `\r` as a character reference, since
/// a raw one would be read back as `\n`. Characters XML 1.0 cannot carry at all (most C0
/// controls, U+FFFE, U+FFFF) become U+FFFD: a response the agent can read beats one its parser
/// rejects outright.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn call(params: &str) -> String {
        format!(
            "<?xml version='1.0'?>\n<methodCall>\n<methodName>m</methodName>\n<params>\n{params}</params>\n</methodCall>\n"
        )
    }

    /// Parses a call whose single parameter is `<value>{inner}</value>`.
    fn one(inner: &str) -> Result<Value, Error> {
        let body = call(&format!("<param>\n<value>{inner}</value>\n</param>\n"));
        let mut parsed = parse_method_call(body.as_bytes())?;
        assert_eq!(parsed.params.len(), 1);
        Ok(parsed.params.remove(0))
    }

    fn one_ok(inner: &str) -> Value {
        match one(inner) {
            Ok(v) => v,
            Err(e) => panic!("{inner}: {e}"),
        }
    }

    fn one_err(inner: &str) -> Error {
        match one(inner) {
            Ok(v) => panic!("{inner}: parsed as {v:?}"),
            Err(e) => e,
        }
    }

    fn s(text: &str) -> Value {
        Value::String(text.to_owned())
    }

    #[test]
    fn parses_what_python_sends() {
        let body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>get_instructions</methodName>\n<params>\n<param>\n<value><string>abc</string></value>\n</param>\n</params>\n</methodCall>\n";
        let call = parse_method_call(body.as_bytes()).unwrap();
        assert_eq!(
            call,
            MethodCall {
                method: "get_instructions".into(),
                params: vec![s("abc")],
            }
        );
    }

    #[test]
    fn integers() {
        assert_eq!(one_ok("<int>42</int>"), Value::Int(42));
        assert_eq!(one_ok("<i4>-7</i4>"), Value::Int(-7));
        assert_eq!(one_ok("<i8>9223372036854775807</i8>"), Value::Int(i64::MAX));
        assert_eq!(one_ok("<int> 12\n</int>"), Value::Int(12));
        assert_eq!(one_ok("<int>+3</int>"), Value::Int(3));
    }

    #[test]
    fn booleans() {
        assert_eq!(one_ok("<boolean>1</boolean>"), Value::Bool(true));
        assert_eq!(one_ok("<boolean>0</boolean>"), Value::Bool(false));
        assert!(matches!(
            one_err("<boolean>true</boolean>"),
            Error::BadScalar { .. }
        ));
        assert!(matches!(one_err("<boolean/>"), Error::BadScalar { .. }));
    }

    #[test]
    fn strings() {
        assert_eq!(one_ok("<string>abc</string>"), s("abc"));
        assert_eq!(one_ok("<string></string>"), s(""));
        assert_eq!(one_ok("<string/>"), s(""));
        assert_eq!(one_ok("<string>æøå ÆØÅ</string>"), s("æøå ÆØÅ"));
    }

    #[test]
    fn doubles() {
        assert_eq!(one_ok("<double>2.5</double>"), Value::Double(2.5));
        assert_eq!(one_ok("<double>-0.1</double>"), Value::Double(-0.1));
        assert_eq!(one_ok("<double>1e300</double>"), Value::Double(1e300));
        assert_eq!(one_ok("<double> 3 </double>"), Value::Double(3.0));
        assert!(matches!(
            one_err("<double>abc</double>"),
            Error::BadScalar { .. }
        ));
    }

    #[test]
    fn date_times() {
        assert_eq!(
            one_ok("<dateTime.iso8601>20240102T03:04:05</dateTime.iso8601>"),
            Value::DateTime("20240102T03:04:05".into())
        );
        assert_eq!(
            one_ok("<dateTime.iso8601> 2024-01-02T03:04:05Z </dateTime.iso8601>"),
            Value::DateTime("2024-01-02T03:04:05Z".into())
        );
        assert!(matches!(
            one_err("<dateTime.iso8601></dateTime.iso8601>"),
            Error::BadScalar { .. }
        ));
    }

    #[test]
    fn base64_with_python_line_breaks() {
        let bytes: Vec<u8> = (0..=255).collect();
        let encoded = STANDARD.encode(&bytes);
        let wrapped: Vec<&str> = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let inner = format!("<base64>\n{}\n</base64>", wrapped.join("\n"));
        assert_eq!(one_ok(&inner), Value::Base64(bytes));
        assert_eq!(
            one_ok("<base64>YWI</base64>"),
            Value::Base64(b"ab".to_vec())
        );
        assert_eq!(one_ok("<base64/>"), Value::Base64(Vec::new()));
        assert!(matches!(
            one_err("<base64>not base64!</base64>"),
            Error::BadScalar { .. }
        ));
    }

    #[test]
    fn nil() {
        assert_eq!(one_ok("<nil/>"), Value::Nil);
        assert_eq!(one_ok("<nil></nil>"), Value::Nil);
        assert!(matches!(one_err("<nil>x</nil>"), Error::BadScalar { .. }));
    }

    #[test]
    fn bare_and_empty_values_are_strings() {
        assert_eq!(one_ok("abc"), s("abc"));
        assert_eq!(one_ok("  spaced out \n"), s("  spaced out \n"));
        assert_eq!(one_ok(""), s(""));
        let body = call("<param><value/></param>");
        assert_eq!(
            parse_method_call(body.as_bytes()).unwrap().params,
            vec![s("")]
        );
    }

    #[test]
    fn arrays_and_structs_nest() {
        let inner = "<struct>
            <member><name>mac</name><value><string>00:11:22:33:44:55</string></value></member>
            <member><name>jobs</name><value><array><data>
                <value><int>1</int></value>
                <value><struct><member><name>id</name><value><i4>2</i4></value></member></struct></value>
                <value>bare</value>
                <value/>
            </data></array></value></member>
            <member><name>empty</name><value><array><data></data></array></value></member>
            <member><name>none</name><value><nil/></value></member>
            <member><name></name><value><struct/></value></member>
        </struct>";
        assert_eq!(
            one_ok(inner),
            Value::Struct(vec![
                ("mac".into(), s("00:11:22:33:44:55")),
                (
                    "jobs".into(),
                    Value::Array(vec![
                        Value::Int(1),
                        Value::Struct(vec![("id".into(), Value::Int(2))]),
                        s("bare"),
                        s(""),
                    ])
                ),
                ("empty".into(), Value::Array(vec![])),
                ("none".into(), Value::Nil),
                (String::new(), Value::Struct(vec![])),
            ])
        );
        assert_eq!(one_ok("<array/>"), Value::Array(vec![]));
        assert_eq!(one_ok("<array><data/></array>"), Value::Array(vec![]));
    }

    #[test]
    fn whitespace_between_elements_is_ignored_but_kept_in_strings() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- hi -->\n<methodCall>\n\t<methodName>\n  push_security_events  \n</methodName>\n  <params>\n\n<param>\n  <value>\n   <string>  line one\n</string>\n  </value>\n</param>\n<param><value>\t<array>\n<data>\n\t<value> <int>1</int> </value>\n</data>\n</array>\n</value></param>\n</params>\n</methodCall>\n\n<!-- trailing -->\n";
        let call = parse_method_call(body.as_bytes()).unwrap();
        assert_eq!(call.method, "push_security_events");
        assert_eq!(
            call.params,
            vec![s("  line one\n"), Value::Array(vec![Value::Int(1)])]
        );
    }

    #[test]
    fn entities_and_cdata_are_decoded() {
        assert_eq!(
            one_ok(
                "<string>&lt;a&gt; &amp; &quot;b&quot; &apos;c&apos;&#10;&#xE6;&#248;&#13;</string>"
            ),
            s("<a> & \"b\" 'c'\næø\r")
        );
        assert_eq!(one_ok("x &amp; y"), s("x & y"));
        assert_eq!(
            one_ok("<string><![CDATA[<raw> & ]]></string>"),
            s("<raw> & ")
        );
        // Raw CR LF in the document is a line end, as XML says.
        assert_eq!(one_ok("<string>a\r\nb\rc</string>"), s("a\nb\nc"));
        assert_eq!(
            one_ok("<struct><member><name>a&amp;b</name><value/></member></struct>"),
            Value::Struct(vec![("a&b".into(), s(""))])
        );
    }

    #[test]
    fn params_may_be_absent_or_empty() {
        for body in [
            "<methodCall><methodName>ping</methodName></methodCall>",
            "<methodCall><methodName>ping</methodName><params/></methodCall>",
            "<methodCall><methodName>ping</methodName><params>\n</params></methodCall>",
        ] {
            assert_eq!(
                parse_method_call(body.as_bytes()).unwrap(),
                MethodCall {
                    method: "ping".into(),
                    params: vec![],
                },
                "{body}"
            );
        }
    }

    #[test]
    fn error_messages_say_what_and_where() {
        let body = call(
            "<param><value><int>1</int></value></param>\n<param>\n<value><int>12x</int></value>\n</param>\n",
        );
        let err = parse_method_call(body.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "params/param[2]/value: <int> is not an integer: \"12x\""
        );

        let err = one_err(
            "<array><data><value/><value><struct><member><name>k</name><value><foo/></value></member></struct></value></data></array>",
        );
        assert_eq!(
            err.to_string(),
            "params/param[1]/value/array/data/value[2]/struct/member[1]/value: unknown value type <foo>"
        );
    }

    #[test]
    fn rejects_non_utf8() {
        let mut body = call("<param><value><string>x</string></value></param>").into_bytes();
        let at = body.iter().position(|b| *b == b'x').unwrap();
        body[at] = 0xE6; // "æ" in Latin-1
        assert_eq!(parse_method_call(&body), Err(Error::NotUtf8 { offset: at }));
    }

    #[test]
    fn rejects_non_xml() {
        for body in [
            "",
            "   ",
            "hello world",
            "{\"mac\": \"00:11\"}",
            "<methodCall><methodName>x</methodName>",
            "<methodCall><methodName>x</methodName></params></methodCall>",
            "<methodCall><methodName>x</methodName><params><param><value><string>a</value></param></params></methodCall>",
            "<methodCall><methodName>x &amp y</methodName></methodCall>",
            "<methodCall><methodName>x</methodName></methodCall><methodCall/>",
            "<methodCall><methodName>x</methodName></methodCall>trailing",
            "<methodCall><methodName>x</methodName><bogus/></methodCall>",
            "<methodCall><params/></methodCall>",
            "<methodCall><methodName> </methodName></methodCall>",
            "<methodCall><methodName>x<b/></methodName></methodCall>",
            "<methodCall/>",
        ] {
            assert!(parse_method_call(body.as_bytes()).is_err(), "{body:?}");
        }
    }

    #[test]
    fn rejects_wrong_root() {
        let body = "<?xml version='1.0'?><methodResponse><params/></methodResponse>";
        assert_eq!(
            parse_method_call(body.as_bytes()),
            Err(Error::WrongRoot {
                found: "methodResponse".into()
            })
        );
    }

    #[test]
    fn rejects_unknown_types_and_odd_content() {
        assert_eq!(
            one_err("<float>1.0</float>"),
            Error::UnknownType {
                path: "params/param[1]/value".into(),
                tag: "float".into()
            }
        );
        assert!(matches!(
            one_err("<int>1</int><int>2</int>"),
            Error::Unexpected { .. }
        ));
        assert!(matches!(
            one_err("text<int>1</int>"),
            Error::UnexpectedText { .. }
        ));
        assert!(matches!(
            one_err("<int>1</int>text"),
            Error::UnexpectedText { .. }
        ));
        assert!(matches!(
            one_err("<string>a<b/></string>"),
            Error::Unexpected { .. }
        ));
        assert!(matches!(
            one_err("<struct><member><value/><name>k</name></member></struct>"),
            Error::Unexpected { .. }
        ));
        assert!(matches!(
            one_err("<array><value/></array>"),
            Error::Unexpected { .. }
        ));
        assert!(matches!(
            one_err("<string>&nbsp;</string>"),
            Error::UndefinedEntity { .. }
        ));
    }

    #[test]
    fn rejects_integer_overflow() {
        for text in [
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999999",
        ] {
            assert!(
                matches!(one_err(&format!("<int>{text}</int>")), Error::BadScalar { ref tag, .. } if tag == "int"),
                "{text}"
            );
        }
        assert!(matches!(one_err("<i4></i4>"), Error::BadScalar { .. }));
    }

    #[test]
    fn rejects_doctype() {
        let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<methodCall><methodName>m</methodName><params><param><value><string>&lol3;</string></value></param></params></methodCall>"#;
        assert_eq!(
            parse_method_call(billion_laughs.as_bytes()),
            Err(Error::Doctype)
        );
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><methodCall><methodName>&x;</methodName></methodCall>"#;
        assert_eq!(parse_method_call(xxe.as_bytes()), Err(Error::Doctype));
    }

    #[test]
    fn rejects_other_encodings() {
        let body = "<?xml version='1.0' encoding='iso-8859-1'?><methodCall><methodName>m</methodName></methodCall>";
        assert_eq!(
            parse_method_call(body.as_bytes()),
            Err(Error::UnsupportedEncoding("iso-8859-1".into()))
        );
        let body = "<?xml version='1.0' encoding='utf-8'?><methodCall><methodName>m</methodName></methodCall>";
        assert!(parse_method_call(body.as_bytes()).is_ok());
    }

    fn nested(levels: usize, open: &str, close: &str) -> String {
        let mut inner = String::new();
        for _ in 0..levels {
            inner.push_str(open);
        }
        inner.push_str("<int>1</int>");
        for _ in 0..levels {
            inner.push_str(close);
        }
        inner
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let arrays = nested(10_000, "<array><data><value>", "</value></data></array>");
        assert!(matches!(
            one_err(&arrays),
            Error::TooDeep {
                limit: MAX_DEPTH,
                ..
            }
        ));
        let structs = nested(
            10_000,
            "<struct><member><name>k</name><value>",
            "</value></member></struct>",
        );
        assert!(matches!(one_err(&structs), Error::TooDeep { .. }));
        // Not even well-formed: the limit must trip before the parser gets to the end.
        let unclosed = "<array><data><value>".repeat(10_000);
        assert!(matches!(one_err(&unclosed), Error::TooDeep { .. }));
    }

    #[test]
    fn nesting_up_to_the_limit_is_fine() {
        let ok = nested(
            MAX_DEPTH - 1,
            "<array><data><value>",
            "</value></data></array>",
        );
        assert!(one(&ok).is_ok());
        let too_deep = nested(MAX_DEPTH, "<array><data><value>", "</value></data></array>");
        assert!(matches!(one_err(&too_deep), Error::TooDeep { .. }));
    }

    #[test]
    fn writes_responses() {
        assert_eq!(
            method_response(&Value::Struct(vec![
                ("b".into(), Value::Int(1)),
                (
                    "a".into(),
                    Value::Array(vec![Value::Bool(true), Value::Nil])
                ),
            ])),
            "<?xml version=\"1.0\"?>\n<methodResponse>\n<params>\n<param>\n\
             <value><struct><member><name>b</name><value><int>1</int></value></member>\
             <member><name>a</name><value><array><data><value><boolean>1</boolean></value>\
             <value><nil/></value></data></array></value></member></struct></value>\n\
             </param>\n</params>\n</methodResponse>\n"
        );
        assert_eq!(
            fault_response(1, "no such computer"),
            "<?xml version=\"1.0\"?>\n<methodResponse>\n<fault>\n\
             <value><struct><member><name>faultCode</name><value><int>1</int></value></member>\
             <member><name>faultString</name><value><string>no such computer</string></value>\
             </member></struct></value>\n</fault>\n</methodResponse>\n"
        );
    }

    #[test]
    fn writer_escapes() {
        let out = method_response(&s("a<b>&c]]>\r\n\u{1}æ"));
        assert!(
            out.contains("<string>a&lt;b&gt;&amp;c]]&gt;&#13;\n\u{FFFD}æ</string>"),
            "{out}"
        );
        let out = method_response(&Value::Struct(vec![("<k>".into(), Value::Nil)]));
        assert!(out.contains("<name>&lt;k&gt;</name>"), "{out}");
    }

    #[test]
    fn writer_formats_scalars() {
        let cases = [
            (Value::Int(-5), "<int>-5</int>"),
            (Value::Bool(false), "<boolean>0</boolean>"),
            (Value::Double(0.1), "<double>0.1</double>"),
            (Value::Double(1.0), "<double>1</double>"),
            (Value::Base64(b"ab".to_vec()), "<base64>YWI=</base64>"),
            (
                Value::DateTime("20240102T03:04:05".into()),
                "<dateTime.iso8601>20240102T03:04:05</dateTime.iso8601>",
            ),
            (Value::Nil, "<nil/>"),
            (Value::Array(vec![]), "<array><data></data></array>"),
            (Value::Struct(vec![]), "<struct></struct>"),
        ];
        for (value, expected) in cases {
            let out = method_response(&value);
            assert!(out.contains(&format!("<value>{expected}</value>")), "{out}");
        }
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
