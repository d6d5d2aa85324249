//! Escaping for the output's context, as `twig_escape_filter` does it: html, js, css, url,
//! html_attr.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::{FResult, s};
use crate::ast::Strategy;
use crate::value::Value;

pub(crate) fn escape_html(input: &str, out: &mut String) {
    let mut last = 0;
    for (i, b) in input.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#039;",
            _ => continue,
        };
        out.push_str(&input[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&input[last..]);
}

fn escape_js(input: &str, out: &mut String) {
    for c in input.chars() {
        if c.is_ascii_alphanumeric() || c == ',' || c == '.' || c == '_' {
            out.push(c);
            continue;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => {
                let cp = c as u32;
                if cp < 0x10000 {
                    let _ = write!(out, "\\u{cp:04X}");
                } else {
                    let u = cp - 0x10000;
                    let _ = write!(
                        out,
                        "\\u{:04X}\\u{:04X}",
                        0xD800 | (u >> 10),
                        0xDC00 | (u & 0x3FF)
                    );
                }
            }
        }
    }
}

fn escape_css(input: &str, out: &mut String) {
    for c in input.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            let _ = write!(out, "\\{:X} ", c as u32);
        }
    }
}

fn escape_html_attr(input: &str, out: &mut String) {
    for c in input.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, ',' | '.' | '-' | '_') {
            out.push(c);
            continue;
        }
        let cp = c as u32;
        if (cp <= 0x1f && !matches!(c, '\t' | '\n' | '\r')) || (0x7f..=0x9f).contains(&cp) {
            out.push_str("&#xFFFD;");
            continue;
        }
        if cp < 0x80 {
            match c {
                '"' => out.push_str("&quot;"),
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                _ => {
                    let _ = write!(out, "&#x{cp:02X};");
                }
            }
        } else {
            let _ = write!(out, "&#x{cp:04X};");
        }
    }
}

/// PHP `rawurlencode`.
pub(super) fn rawurlencode(input: &str, out: &mut String) {
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// `twig_escape_filter`. `auto` is true for auto-escaping, where safe strings pass through.
pub(crate) fn escape(v: &Value, strategy: &Strategy, auto: bool) -> FResult {
    let text: Cow<'_, str> = match v {
        Value::Markup(m) if auto => return Ok(Value::Markup(m.clone())),
        Value::Markup(m) => Cow::Borrowed(m),
        Value::Str(st) => Cow::Borrowed(st),
        other => {
            if !matches!(strategy, Strategy::Unknown(_)) {
                return Ok(other.clone());
            }
            s(other)?
        }
    };
    if text.is_empty() {
        return Ok(Value::str(""));
    }
    let mut out = String::with_capacity(text.len() + 8);
    escape_into(&text, strategy, &mut out)?;
    // A plain string, as in PHP: safety is decided at compile time, so `{% set x = y|e %}`
    // followed by `{{ x }}` escapes twice there too.
    Ok(Value::string(out))
}

pub(super) fn escape_into(text: &str, strategy: &Strategy, out: &mut String) -> Result<(), String> {
    match strategy {
        Strategy::Html => escape_html(text, out),
        Strategy::Js => escape_js(text, out),
        Strategy::Css => escape_css(text, out),
        Strategy::Url => rawurlencode(text, out),
        Strategy::HtmlAttr => escape_html_attr(text, out),
        Strategy::Unknown(name) => {
            return Err(format!(
                "Invalid escaping strategy \"{name}\" (valid ones: html, js, url, css, and html_attr)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape() {
        let mut o = String::new();
        escape_html("a&b<c>\"d'", &mut o);
        assert_eq!(o, "a&amp;b&lt;c&gt;&quot;d&#039;");
    }
}
