//! The Twig extension of the PHP module `os2forms_fordelingskomponent`: three functions and
//! one filter that municipalities' XML templates call.
//!
//! They are part of the template language those templates are written in, so they live here,
//! with the semantics of the module's `Os2formsFordelingskomponentTwigExtension` as PHP
//! executes it (the compiled template calls them in PHP's coercive typing mode):
//!
//! - `os2forms_fordelingskomponent_intval(value, base=10)`: PHP `intval`.
//! - `os2forms_fordelingskomponent_floatval(string, langcode=null)`: with `'da'`, `.` is a
//!   thousands separator and `,` the decimal point; otherwise `,` is dropped. Then PHP
//!   `floatval`.
//! - `os2forms_fordelingskomponent_gettype(value)`: PHP `gettype` names.
//! - `|os2forms_fordelingskomponent_xml_encode(prefix='key_')`: an array as an XML fragment
//!   (numeric keys prefixed), marked safe.

use std::fmt::Write as _;

use crate::env::Environment;
use crate::value::{Array, Key, Num, Value, numeric_str, parse_numeric_prefix};

/// Register the module's functions and filter.
pub fn register_os2forms(env: &mut Environment) {
    env.add_function(
        "os2forms_fordelingskomponent_intval",
        &["value", "base"],
        |args| {
            let v = args.first().cloned().unwrap_or_default();
            let base = match args.get(1) {
                None => 10,
                Some(b) => int_param(b, "intval", 2, "base")?,
            };
            intval(&v, base).map(Value::Int)
        },
    );
    env.add_function(
        "os2forms_fordelingskomponent_floatval",
        &["argument", "langcode"],
        |args| {
            let Some(arg) = args.first() else {
                return Err(
                    "Too few arguments to function {closure}(), 0 passed and at least 1 expected"
                        .into(),
                );
            };
            let text = string_param(arg, 1, "argument")?;
            let langcode = match args.get(1) {
                None | Some(Value::Null) => None,
                Some(l) => Some(string_param(l, 2, "langcode")?),
            };
            Ok(Value::Float(floatval(&text, langcode.as_deref())))
        },
    );
    env.add_function(
        "os2forms_fordelingskomponent_gettype",
        &["value"],
        |args| match args.first() {
            Some(v) => Ok(Value::str(v.type_name())),
            None => Err("gettype() expects exactly 1 argument, 0 given".into()),
        },
    );
    env.add_filter(
        "os2forms_fordelingskomponent_xml_encode",
        &["numeric_key_prefix"],
        true,
        |input, args| {
            let Value::Array(a) = input else {
                return Err(format!(
                    "{{closure}}(): Argument #1 ($value) must be of type array, {} given",
                    php_type_for_error(input)
                ));
            };
            let prefix = match args.first() {
                Some(p) => string_param(p, 2, "numeric_key_prefix")?,
                None => "key_".to_string(),
            };
            let mut out = String::new();
            xml_encode(a, &prefix, &mut out, 0)?;
            // A plain string: "safe" is a compile-time property of the filter (PHP `is_safe`).
            Ok(Value::string(out))
        },
    );
}

fn php_type_for_error(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "string",
        Value::Markup(_) => "Twig\\Markup",
        Value::Array(_) => "array",
        Value::Date(_) => "DateTime",
    }
}

/// A `string` parameter in PHP's coercive mode: scalars convert, `null` and arrays do not.
fn string_param(v: &Value, pos: usize, name: &str) -> Result<String, String> {
    match v {
        Value::Null | Value::Array(_) => Err(format!(
            "{{closure}}(): Argument #{pos} (${name}) must be of type string, {} given",
            php_type_for_error(v)
        )),
        other => other
            .to_str()
            .map(|s| s.into_owned())
            .map_err(|e| e.to_string()),
    }
}

/// An `int` parameter in coercive mode.
fn int_param(v: &Value, func: &str, pos: usize, name: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "{func}(): Argument #{pos} (${name}) must be of type int, {} given",
            php_type_for_error(v)
        )
    };
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(*b as i64),
        Value::Float(f) if f.fract() == 0.0 && f.is_finite() => Ok(*f as i64),
        Value::Str(s) => match numeric_str(s) {
            Some(Num::Int(i)) => Ok(i),
            Some(Num::Float(f)) if f.fract() == 0.0 => Ok(f as i64),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// PHP `intval($value, $base)`.
pub(crate) fn intval(v: &Value, base: i64) -> Result<i64, String> {
    match v {
        Value::Str(s) if base != 10 => Ok(parse_int_base(s, base)),
        Value::Markup(_) => {
            Err("Object of class Twig\\Markup could not be converted to int".into())
        }
        Value::Date(_) => Err("Object of class DateTime could not be converted to int".into()),
        other => Ok(other.to_int()),
    }
}

/// `strtol`-like parsing with PHP's prefixes for bases 16, 8, 2 and 0 (auto).
fn parse_int_base(s: &str, base: i64) -> i64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, mut t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = t.to_ascii_lowercase();
    let mut base = base;
    if (base == 16 || base == 0) && lower.starts_with("0x") {
        t = &t[2..];
        base = 16;
    } else if (base == 8 || base == 0) && lower.starts_with("0o") {
        t = &t[2..];
        base = 8;
    } else if (base == 2 || base == 0) && lower.starts_with("0b") {
        t = &t[2..];
        base = 2;
    } else if base == 0 {
        base = if t.starts_with('0') { 8 } else { 10 };
    }
    if !(2..=36).contains(&base) {
        return 0;
    }
    let mut acc: i64 = 0;
    let mut saturated = false;
    for c in t.chars() {
        let Some(d) = c.to_digit(base as u32) else {
            break;
        };
        match acc.checked_mul(base).and_then(|x| x.checked_add(d as i64)) {
            Some(x) => acc = x,
            None => {
                saturated = true;
                break;
            }
        }
    }
    match (saturated, neg) {
        (true, false) => i64::MAX,
        (true, true) => i64::MIN,
        (false, true) => -acc,
        (false, false) => acc,
    }
}

/// The module's `floatval` after its separator replacements.
pub(crate) fn floatval(text: &str, langcode: Option<&str>) -> f64 {
    let replaced = match langcode {
        Some("da") => text.replace('.', "").replace(',', "."),
        _ => text.replace(',', ""),
    };
    match parse_numeric_prefix(&replaced) {
        Some((n, _)) => n.as_f64(),
        None => 0.0,
    }
}

fn is_numeric_key(k: &Key) -> bool {
    match k {
        Key::Int(_) => true,
        Key::Str(s) => numeric_str(s).is_some(),
    }
}

/// Text as libxml serialises it after SimpleXML's `addChild(htmlspecialchars(value))`: the
/// value round-trips, then `&`, `<`, `>` and CR are escaped; C0 controls are dropped.
fn xml_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
}

fn xml_encode(a: &Array, prefix: &str, out: &mut String, depth: usize) -> Result<(), String> {
    if depth > 256 {
        return Err(
            "os2forms_fordelingskomponent_xml_encode: the array is nested too deeply".into(),
        );
    }
    for (k, v) in a.iter() {
        let name = if is_numeric_key(k) {
            format!("{prefix}{}", k.to_php_string())
        } else {
            k.to_php_string().into_owned()
        };
        if name.is_empty() {
            return Err(
                "SimpleXMLElement::addChild(): Argument #1 ($qualifiedName) cannot be empty".into(),
            );
        }
        match v {
            Value::Array(inner) => {
                if inner.is_empty() {
                    let _ = write!(out, "<{name}/>");
                } else {
                    let _ = write!(out, "<{name}>");
                    xml_encode(inner, prefix, out, depth + 1)?;
                    let _ = write!(out, "</{name}>");
                }
            }
            other => {
                let text = other.to_str().map_err(|e| e.to_string())?;
                if text.is_empty() {
                    let _ = write!(out, "<{name}/>");
                } else {
                    let _ = write!(out, "<{name}>");
                    xml_text(&text, out);
                    let _ = write!(out, "</{name}>");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floatval_danish() {
        assert_eq!(floatval("1,23", None), 123.0);
        assert_eq!(floatval("1,23", Some("da")), 1.23);
        assert_eq!(floatval("1.234,5", Some("da")), 1234.5);
        assert_eq!(floatval("abc", None), 0.0);
    }

    #[test]
    fn intval_like_php() {
        assert_eq!(intval(&Value::str("12abc"), 10).unwrap(), 12);
        assert_eq!(intval(&Value::str("1e30"), 10).unwrap(), i64::MAX);
        assert_eq!(intval(&Value::str("0x1A"), 16).unwrap(), 26);
        assert_eq!(intval(&Value::str("42"), 8).unwrap(), 34);
        assert_eq!(intval(&Value::str("012"), 0).unwrap(), 10);
    }
}
