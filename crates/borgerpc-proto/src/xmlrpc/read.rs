//! Reading: a `<methodCall>` request body into a [`MethodCall`], refusing DTDs, unbounded
//! nesting and anything else that is not XML-RPC with an [`Error`] that names the place.

use super::{Error, MAX_DEPTH, MethodCall, Value};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};

/// How much of an offending text an error message quotes, so a huge body cannot become a huge
/// log line.
const SNIPPET_CHARS: usize = 40;

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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

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
}
