//! PHP `preg_match` patterns (`/pattern/flags`) translated to the `regex` crate, for the
//! `matches` operator.
//!
//! Patterns written as literals are translated once at compile time, so rendering never
//! compiles a regex. Without the `u` flag PCRE matches bytes, so we use a byte regex with
//! Unicode classes off unless `u` is given.

use regex::bytes::{Regex, RegexBuilder};

pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    let invalid = || format!("Regexp \"{pattern}\" passed to \"matches\" is not valid");
    let p = pattern.trim_start();
    let mut chars = p.chars();
    let delim = chars.next().ok_or_else(invalid)?;
    if delim.is_alphanumeric() || delim == '\\' {
        return Err(invalid());
    }
    let closing = match delim {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        d => d,
    };
    let body_and_flags = &p[delim.len_utf8()..];
    let end = body_and_flags.rfind(closing).ok_or_else(invalid)?;
    let body = &body_and_flags[..end];
    let flags = &body_and_flags[end + closing.len_utf8()..];
    let mut b = RegexBuilder::new(&translate_body(body, delim));
    let mut unicode = false;
    let mut anchored = false;
    for f in flags.chars() {
        match f {
            'i' => {
                b.case_insensitive(true);
            }
            'm' => {
                b.multi_line(true);
            }
            's' => {
                b.dot_matches_new_line(true);
            }
            'x' => {
                b.ignore_whitespace(true);
            }
            'U' => {
                b.swap_greed(true);
            }
            'u' => unicode = true,
            'A' => anchored = true,
            'D' | 'S' | 'X' | 'J' | '\n' | ' ' | '\r' => {}
            _ => return Err(invalid()),
        }
    }
    if anchored {
        let body = format!("\\A(?:{})", translate_body(body, delim));
        b = RegexBuilder::new(&body);
        for f in flags.chars() {
            match f {
                'i' => {
                    b.case_insensitive(true);
                }
                'm' => {
                    b.multi_line(true);
                }
                's' => {
                    b.dot_matches_new_line(true);
                }
                'x' => {
                    b.ignore_whitespace(true);
                }
                'U' => {
                    b.swap_greed(true);
                }
                _ => {}
            }
        }
    }
    b.size_limit(1 << 20);
    b.unicode(unicode);
    match b.build() {
        Ok(r) => Ok(r),
        // Non-ASCII in a class needs Unicode mode in the regex crate; PCRE would have matched
        // bytes, which for UTF-8 text is nearly always the same answer.
        Err(_) if !unicode => {
            b.unicode(true);
            b.build().map_err(|_| invalid())
        }
        Err(_) => Err(invalid()),
    }
}

/// The pattern between the delimiters. An escaped delimiter (`\/`) needs no change: the
/// regex crate accepts any escaped ASCII punctuation, and every PCRE delimiter is that.
fn translate_body(body: &str, _delim: char) -> String {
    body.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates() {
        assert!(compile("/^\\d{4}$/").unwrap().is_match(b"2035"));
        assert!(compile("#a/b#i").unwrap().is_match(b"A/B"));
        assert!(compile("/a\\/b/").unwrap().is_match(b"a/b"));
        assert!(compile("abc").is_err());
    }
}
