//! Writing: `<methodResponse>` values and faults the way Python's `xmlrpc.client` reads them
//! back, and `<methodCall>` bodies for tests that act as a 2.x agent.

use super::Value;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::fmt::Write as _;

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
pub(super) fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::String(text.to_owned())
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
}
