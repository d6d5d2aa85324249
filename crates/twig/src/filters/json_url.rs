//! `json_encode` with PHP's flags and `http_build_query` for `url_encode` of an array.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::escaping::rawurlencode;
use super::s;
use crate::value::{Array, Key, Value, php_float_repr};

pub(super) fn json_encode(v: &Value, flags: i64) -> Result<String, String> {
    let mut out = String::new();
    json_write(v, flags, 0, &mut out)?;
    Ok(out)
}

const JSON_UNESCAPED_SLASHES: i64 = 64;
const JSON_PRETTY_PRINT: i64 = 128;
const JSON_UNESCAPED_UNICODE: i64 = 256;
const JSON_FORCE_OBJECT: i64 = 16;

fn is_list(a: &Array) -> bool {
    a.keys()
        .enumerate()
        .all(|(i, k)| matches!(k, Key::Int(n) if *n == i as i64))
}

fn json_string(text: &str, flags: i64, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if flags & JSON_UNESCAPED_SLASHES == 0 => out.push_str("\\/"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) >= 0x80 && flags & JSON_UNESCAPED_UNICODE == 0 => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", u);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_write(v: &Value, flags: i64, depth: usize, out: &mut String) -> Result<(), String> {
    if depth > 512 {
        return Err("Maximum stack depth exceeded".into());
    }
    let pretty = flags & JSON_PRETTY_PRINT != 0;
    let indent = |out: &mut String, d: usize| {
        if pretty {
            out.push('\n');
            for _ in 0..d {
                out.push_str("    ");
            }
        }
    };
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            if !f.is_finite() {
                return Err("Inf and NaN cannot be JSON encoded".into());
            }
            out.push_str(&php_float_repr(*f));
        }
        Value::Str(t) | Value::Markup(t) => json_string(t, flags, out),
        // PHP encodes a `DateTime`'s public properties.
        Value::Date(d) => json_write(&crate::date::public_properties(d), flags, depth, out)?,
        Value::Array(a) => {
            let list = is_list(a) && flags & JSON_FORCE_OBJECT == 0;
            if a.is_empty() {
                out.push_str(if list { "[]" } else { "{}" });
                return Ok(());
            }
            out.push(if list { '[' } else { '{' });
            for (n, (k, val)) in a.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                if !list {
                    json_string(&k.to_php_string(), flags, out);
                    out.push(':');
                    if pretty {
                        out.push(' ');
                    }
                }
                json_write(val, flags, depth + 1, out)?;
            }
            indent(out, depth);
            out.push(if list { ']' } else { '}' });
        }
    }
    Ok(())
}

pub(super) fn http_build_query(
    a: &Array,
    prefix: Option<&str>,
    out: &mut Vec<String>,
) -> Result<(), String> {
    for (k, v) in a.iter() {
        let key = k.to_php_string();
        let full = match prefix {
            Some(p) => format!("{p}[{key}]"),
            None => key.into_owned(),
        };
        match v {
            Value::Array(inner) => http_build_query(inner, Some(&full), out)?,
            Value::Null => {}
            other => {
                let val: Cow<'_, str> = match other {
                    Value::Bool(b) => Cow::Borrowed(if *b { "1" } else { "0" }),
                    _ => s(other)?,
                };
                let mut e = String::new();
                rawurlencode(&full, &mut e);
                e.push('=');
                rawurlencode(&val, &mut e);
                out.push(e);
            }
        }
    }
    Ok(())
}
