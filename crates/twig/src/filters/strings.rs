//! String filters with PHP's semantics: mbstring's title case, `trim` masks, `nl2br`,
//! `strip_tags`, `strtr`.

use super::s;
use crate::value::Value;

pub(super) fn title_case(text: &str) -> String {
    // mbstring's title case: a cased letter is upper-cased at a word start and lower-cased
    // after another cased letter; case-ignorable characters (apostrophes, …) do not break words.
    let mut out = String::with_capacity(text.len());
    let mut in_word = false;
    for c in text.chars() {
        if in_word {
            out.extend(c.to_lowercase());
        } else {
            out.extend(title_char(c));
        }
        if c.is_alphabetic() {
            in_word = true;
        } else if !is_case_ignorable(c) {
            in_word = false;
        }
    }
    out
}

fn title_char(c: char) -> impl Iterator<Item = char> {
    // Title case differs from upper case only for a few digraphs; upper case is close enough
    // except for `ß`, whose title case is `Ss`.
    let v: Vec<char> = if c == 'ß' {
        vec!['S', 's']
    } else {
        c.to_uppercase().collect()
    };
    v.into_iter()
}

fn is_case_ignorable(c: char) -> bool {
    matches!(
        c,
        '\'' | '.'
            | ':'
            | '^'
            | '`'
            | '\u{00AD}'
            | '\u{00B7}'
            | '\u{2019}'
            | '\u{00A8}'
            | '\u{00B4}'
    )
}

pub(super) fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    let mut out = String::with_capacity(text.len());
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
    }
    for c in chars {
        out.extend(c.to_lowercase());
    }
    out
}

pub(super) fn php_trim<'t>(
    text: &'t str,
    mask: Option<&str>,
    side: &str,
) -> Result<&'t str, String> {
    let default = " \t\n\r\0\x0B";
    let mask = mask.unwrap_or(default);
    let set = expand_mask(mask);
    let f = |c: char| set.contains(&c);
    Ok(match side {
        "both" => text.trim_matches(f),
        "left" => text.trim_start_matches(f),
        "right" => text.trim_end_matches(f),
        _ => return Err("Trimming side must be \"left\", \"right\" or \"both\"".into()),
    })
}

/// PHP trim masks allow ranges like `a..z`.
fn expand_mask(mask: &str) -> Vec<char> {
    let chars: Vec<char> = mask.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if i + 3 < chars.len() && chars[i + 1] == '.' && chars[i + 2] == '.' {
            let (a, b) = (chars[i] as u32, chars[i + 3] as u32);
            if a <= b {
                for cp in a..=b {
                    if let Some(c) = char::from_u32(cp) {
                        out.push(c);
                    }
                }
                i += 4;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

pub(super) fn nl2br(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let b = text.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'\r' || b[i] == b'\n' {
            out.push_str(&text[last..i]);
            out.push_str("<br />");
            let pair = i + 1 < b.len()
                && ((b[i] == b'\r' && b[i + 1] == b'\n') || (b[i] == b'\n' && b[i + 1] == b'\r'));
            let end = if pair { i + 2 } else { i + 1 };
            out.push_str(&text[i..end]);
            i = end;
            last = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[last..]);
    out
}

/// PHP `strip_tags` for the common cases: tags, comments and processing instructions removed,
/// a `<` followed by whitespace kept, quotes inside tags respected.
pub(super) fn strip_tags(text: &str, allowed: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        if i + 1 >= b.len() || (b[i + 1] as char).is_ascii_whitespace() {
            i += 1;
            continue;
        }
        out.push_str(&text[last..i]);
        let start = i;
        let end = if text[i..].starts_with("<!--") {
            text[i + 4..].find("-->").map_or(b.len(), |e| i + 4 + e + 3)
        } else {
            let mut j = i + 1;
            let mut quote: Option<u8> = None;
            let mut depth = 1;
            while j < b.len() {
                let c = b[j];
                match quote {
                    Some(q) if c == q => quote = None,
                    Some(_) => {}
                    None => match c {
                        b'"' | b'\'' => quote = Some(c),
                        b'<' => depth += 1,
                        b'>' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    },
                }
                j += 1;
            }
            (j + 1).min(b.len())
        };
        let tag = &text[start..end];
        if !allowed.is_empty() {
            let name: String = tag
                .trim_start_matches('<')
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            if allowed.contains(&name) {
                out.push_str(tag);
            }
        }
        i = end;
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

pub(super) fn parse_allowed_tags(v: Option<&Value>) -> Result<Vec<String>, String> {
    let Some(v) = v else { return Ok(Vec::new()) };
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .values()
            .map(|x| s(x).map(|t| t.to_ascii_lowercase()))
            .collect(),
        other => {
            let t = s(other)?;
            Ok(t.split('<')
                .filter_map(|p| p.split('>').next())
                .filter(|p| !p.is_empty())
                .map(|p| p.to_ascii_lowercase())
                .collect())
        }
    }
}

/// PHP `strtr($str, $array)`: longest match first, keys tried at each position.
pub(super) fn strtr(text: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return text.to_string();
    }
    let mut sorted: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| !k.is_empty()).collect();
    sorted.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let b = text.as_bytes();
    'outer: while i < b.len() {
        for (k, v) in &sorted {
            if b[i..].starts_with(k.as_bytes()) {
                out.push_str(v);
                i += k.len();
                continue 'outer;
            }
        }
        let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + ch_len]);
        i += ch_len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title() {
        assert_eq!(title_case("hello wORLD-foo"), "Hello World-Foo");
        assert_eq!(title_case("ærø æble"), "Ærø Æble");
    }

    #[test]
    fn strtr_longest_first() {
        let p = vec![
            ("a".to_string(), "1".to_string()),
            ("ab".to_string(), "2".to_string()),
        ];
        assert_eq!(strtr("abac", &p), "21c");
    }
}
