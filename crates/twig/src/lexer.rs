//! Template source → tokens, following PHP Twig 3.5's lexer.
//!
//! The lexer owns the whitespace rules that decide output bytes: `-` trims all whitespace on
//! its side, `~` trims spaces and tabs but not newlines, and a single newline right after `%}`
//! or `#}` is dropped (Twig's "trim_blocks", always on). It also owns string literal escapes
//! (PHP `stripcslashes`) and `#{…}` interpolation, which it emits as interpolation tokens for
//! the parser to turn into concatenation.

use crate::error::Error;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    VarStart,
    VarEnd,
    BlockStart,
    BlockEnd,
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    Op(&'static str),
    Punct(char),
    Arrow,
    InterpStart,
    InterpEnd,
    Eof,
}

impl Tok {
    /// Twig's wording for a token in "Unexpected token" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Text(_) => "text".into(),
            Tok::VarStart => "begin of print statement".into(),
            Tok::VarEnd => "end of print statement".into(),
            Tok::BlockStart => "begin of statement block".into(),
            Tok::BlockEnd => "end of statement block".into(),
            Tok::Name(n) => format!("name of value \"{n}\""),
            Tok::Int(i) => format!("number of value \"{i}\""),
            Tok::Float(f) => format!("number of value \"{f}\""),
            Tok::Str(_) => "string".into(),
            Tok::Op(o) => format!("operator of value \"{o}\""),
            Tok::Punct(c) => format!("punctuation of value \"{c}\""),
            Tok::Arrow => "arrow function".into(),
            Tok::InterpStart => "begin of string interpolation".into(),
            Tok::InterpEnd => "end of string interpolation".into(),
            Tok::Eof => "end of template".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: u32,
}

/// Operators, longest first so that the first match is the longest (as Twig's regex does).
const OPERATORS: &[&str] = &[
    "starts with",
    "ends with",
    "has every",
    "has some",
    "matches",
    "is not",
    "not in",
    "b-and",
    "b-xor",
    "b-or",
    "and",
    "not",
    "<=>",
    "??",
    "==",
    "!=",
    "<=",
    ">=",
    "//",
    "**",
    "..",
    "or",
    "in",
    "is",
    "=",
    "<",
    ">",
    "+",
    "-",
    "~",
    "*",
    "/",
    "%",
];

const PUNCT: &[u8] = b"()[]{}?:.,|";

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x7f
}

fn is_name_char(c: u8) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

/// PHP `\s` in the default (non-UTF) mode.
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// What `~` trims: spaces, tabs, NUL and vertical tab (never newlines).
fn is_line_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\0' | b'\x0b')
}

/// What `-` trims (PHP `trim`'s default set).
fn is_trim_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | b'\x0b')
}

struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    line: u32,
    name: &'a str,
    out: Vec<Token>,
    brackets: Vec<(u8, u32)>,
}

pub(crate) fn tokenize(name: &str, src: &str) -> Result<Vec<Token>, Error> {
    let mut lx = Lexer {
        src,
        b: src.as_bytes(),
        pos: 0,
        line: 1,
        name,
        out: Vec::new(),
        brackets: Vec::new(),
    };
    lx.run()?;
    Ok(lx.out)
}

impl<'a> Lexer<'a> {
    fn err(&self, msg: impl Into<String>, line: u32) -> Error {
        Error::syntax(msg, self.name, line)
    }

    fn push(&mut self, tok: Tok, line: u32) {
        self.out.push(Token { tok, line });
    }

    fn advance_to(&mut self, new_pos: usize) {
        let new_pos = new_pos.min(self.b.len());
        self.line += self.b[self.pos..new_pos]
            .iter()
            .filter(|&&c| c == b'\n')
            .count() as u32;
        self.pos = new_pos;
    }

    fn run(&mut self) -> Result<(), Error> {
        loop {
            // Find the next tag start.
            let rest = &self.src[self.pos..];
            let Some(off) = find_tag_start(rest) else {
                let text = &self.src[self.pos..];
                if !text.is_empty() {
                    let line = self.line;
                    self.push(Tok::Text(text.to_string()), line);
                }
                self.advance_to(self.b.len());
                let line = self.line;
                self.push(Tok::Eof, line);
                return Ok(());
            };
            let tag_pos = self.pos + off;
            let kind = self.b[tag_pos + 1];
            let modifier = self.b.get(tag_pos + 2).copied();
            let mut text = &self.src[self.pos..tag_pos];
            match modifier {
                Some(b'-') => {
                    text = text.trim_end_matches(|c: char| is_trim_ws(c as u8) && c.is_ascii())
                }
                Some(b'~') => {
                    text = text.trim_end_matches(|c: char| c.is_ascii() && is_line_ws(c as u8))
                }
                _ => {}
            }
            if !text.is_empty() {
                let line = self.line;
                self.push(Tok::Text(text.to_string()), line);
            }
            self.advance_to(tag_pos);
            let start_len = if matches!(modifier, Some(b'-') | Some(b'~')) {
                3
            } else {
                2
            };
            let tag_line = self.line;
            self.advance_to(tag_pos + start_len);
            match kind {
                b'#' => self.lex_comment(tag_line)?,
                b'{' => {
                    self.push(Tok::VarStart, tag_line);
                    self.lex_expression_until(false, tag_line)?;
                }
                _ => {
                    // `{% verbatim %}` is handled here, as Twig's lexer does.
                    if let Some(after) = self.match_verbatim_open() {
                        self.advance_to(after);
                        self.lex_verbatim(tag_line)?;
                    } else {
                        self.push(Tok::BlockStart, tag_line);
                        self.lex_expression_until(true, tag_line)?;
                    }
                }
            }
        }
    }

    fn lex_comment(&mut self, start_line: u32) -> Result<(), Error> {
        let rest = &self.src[self.pos..];
        let Some(end) = rest.find("#}") else {
            return Err(self.err("Unclosed comment", start_line));
        };
        let before = &rest[..end];
        let mut after = self.pos + end + 2;
        if before.ends_with('-') {
            while after < self.b.len() && is_ws(self.b[after]) {
                after += 1;
            }
        } else if before.ends_with('~') {
            while after < self.b.len() && is_line_ws(self.b[after]) {
                after += 1;
            }
        } else if self.b.get(after) == Some(&b'\n') {
            after += 1;
        }
        self.advance_to(after);
        Ok(())
    }

    /// After `{%` (and modifier): `\s*verbatim\s*(-%}\s*|~%}[line ws]*|%})`.
    fn match_verbatim_open(&self) -> Option<usize> {
        let mut i = self.pos;
        while i < self.b.len() && is_ws(self.b[i]) {
            i += 1;
        }
        if !self.src[i..].starts_with("verbatim") {
            return None;
        }
        i += "verbatim".len();
        if i < self.b.len() && is_name_char(self.b[i]) {
            return None;
        }
        while i < self.b.len() && is_ws(self.b[i]) {
            i += 1;
        }
        let r = &self.src[i..];
        if r.starts_with("-%}") {
            i += 3;
            while i < self.b.len() && is_ws(self.b[i]) {
                i += 1;
            }
            Some(i)
        } else if r.starts_with("~%}") {
            i += 3;
            while i < self.b.len() && is_line_ws(self.b[i]) {
                i += 1;
            }
            Some(i)
        } else if r.starts_with("%}") {
            Some(i + 2)
        } else {
            None
        }
    }

    fn lex_verbatim(&mut self, start_line: u32) -> Result<(), Error> {
        // Find `{%[-~]?\s*endverbatim\s*(-%}\s*|~%}[ws]*|%})`.
        let mut search = self.pos;
        loop {
            let Some(off) = self.src[search..].find("{%") else {
                return Err(self.err(
                    "Unexpected end of file: Unclosed \"verbatim\" block",
                    start_line,
                ));
            };
            let tag = search + off;
            let mut i = tag + 2;
            let modifier = self.b.get(i).copied();
            if matches!(modifier, Some(b'-') | Some(b'~')) {
                i += 1;
            }
            while i < self.b.len() && is_ws(self.b[i]) {
                i += 1;
            }
            if self.src[i..].starts_with("endverbatim") {
                let mut j = i + "endverbatim".len();
                while j < self.b.len() && is_ws(self.b[j]) {
                    j += 1;
                }
                let r = &self.src[j..];
                let end = if r.starts_with("-%}") {
                    let mut k = j + 3;
                    while k < self.b.len() && is_ws(self.b[k]) {
                        k += 1;
                    }
                    Some(k)
                } else if r.starts_with("~%}") {
                    let mut k = j + 3;
                    while k < self.b.len() && is_line_ws(self.b[k]) {
                        k += 1;
                    }
                    Some(k)
                } else if r.starts_with("%}") {
                    Some(j + 2)
                } else {
                    None
                };
                if let Some(end) = end {
                    let mut text = &self.src[self.pos..tag];
                    match modifier {
                        Some(b'-') => {
                            text =
                                text.trim_end_matches(|c: char| c.is_ascii() && is_trim_ws(c as u8))
                        }
                        Some(b'~') => {
                            text =
                                text.trim_end_matches(|c: char| c.is_ascii() && is_line_ws(c as u8))
                        }
                        _ => {}
                    }
                    let line = self.line;
                    if !text.is_empty() {
                        self.push(Tok::Text(text.to_string()), line);
                    }
                    self.advance_to(end);
                    return Ok(());
                }
            }
            search = tag + 2;
        }
    }

    /// Lex an expression up to the closing `}}` (or `%}` when `block`).
    fn lex_expression_until(&mut self, block: bool, start_line: u32) -> Result<(), Error> {
        loop {
            // Closing delimiter (only outside brackets).
            if self.brackets.is_empty()
                && let Some(after) = self.match_close(block)
            {
                let line = self.line;
                self.push(if block { Tok::BlockEnd } else { Tok::VarEnd }, line);
                self.advance_to(after);
                return Ok(());
            }
            if self.pos >= self.b.len() {
                return Err(self.err(
                    if block {
                        "Unexpected end of file: Unclosed \"block\""
                    } else {
                        "Unexpected end of file: Unclosed \"variable\""
                    },
                    start_line,
                ));
            }
            self.lex_expression_token()?;
        }
    }

    /// `\s*(-X\s*|~X[line ws]*|X)` and, for blocks, one optional newline after plain `%}`.
    fn match_close(&self, block: bool) -> Option<usize> {
        let close = if block { "%}" } else { "}}" };
        let mut i = self.pos;
        while i < self.b.len() && is_ws(self.b[i]) {
            i += 1;
        }
        let r = &self.src[i..];
        if r.starts_with('-') && r[1..].starts_with(close) {
            i += 3;
            while i < self.b.len() && is_ws(self.b[i]) {
                i += 1;
            }
            Some(i)
        } else if r.starts_with('~') && r[1..].starts_with(close) {
            i += 3;
            while i < self.b.len() && is_line_ws(self.b[i]) {
                i += 1;
            }
            Some(i)
        } else if r.starts_with(close) {
            i += 2;
            if block && self.b.get(i) == Some(&b'\n') {
                i += 1;
            }
            Some(i)
        } else {
            None
        }
    }

    fn lex_expression_token(&mut self) -> Result<(), Error> {
        let c = self.b[self.pos];
        if is_ws(c) {
            let mut i = self.pos;
            while i < self.b.len() && is_ws(self.b[i]) {
                i += 1;
            }
            self.advance_to(i);
            return Ok(());
        }
        let line = self.line;
        let rest = &self.src[self.pos..];
        if rest.starts_with("=>") {
            self.push(Tok::Arrow, line);
            self.advance_to(self.pos + 2);
            return Ok(());
        }
        if let Some((op, len)) = self.match_operator() {
            self.push(Tok::Op(op), line);
            self.advance_to(self.pos + len);
            return Ok(());
        }
        if is_name_start(c) {
            let mut i = self.pos;
            while i < self.b.len() && is_name_char(self.b[i]) {
                i += 1;
            }
            // Names are bytes in PHP; stop on a char boundary so we never split UTF-8.
            while !self.src.is_char_boundary(i) {
                i += 1;
            }
            self.push(Tok::Name(self.src[self.pos..i].to_string()), line);
            self.advance_to(i);
            return Ok(());
        }
        if c.is_ascii_digit() {
            let mut i = self.pos;
            while i < self.b.len() && self.b[i].is_ascii_digit() {
                i += 1;
            }
            let mut is_float = false;
            if i + 1 < self.b.len() && self.b[i] == b'.' && self.b[i + 1].is_ascii_digit() {
                i += 1;
                while i < self.b.len() && self.b[i].is_ascii_digit() {
                    i += 1;
                }
                is_float = true;
            }
            if i + 2 < self.b.len()
                && (self.b[i] == b'e' || self.b[i] == b'E')
                && (self.b[i + 1] == b'+' || self.b[i + 1] == b'-')
                && self.b[i + 2].is_ascii_digit()
            {
                i += 2;
                while i < self.b.len() && self.b[i].is_ascii_digit() {
                    i += 1;
                }
                is_float = true;
            }
            let text = &self.src[self.pos..i];
            let tok = if is_float {
                Tok::Float(text.parse().unwrap_or(0.0))
            } else {
                match text.parse::<i64>() {
                    Ok(v) => Tok::Int(v),
                    Err(_) => Tok::Float(text.parse().unwrap_or(0.0)),
                }
            };
            self.push(tok, line);
            self.advance_to(i);
            return Ok(());
        }
        if PUNCT.contains(&c) {
            match c {
                b'(' | b'[' | b'{' => self.brackets.push((c, line)),
                b')' | b']' | b'}' => {
                    let Some((open, open_line)) = self.brackets.pop() else {
                        return Err(self.err(format!("Unexpected \"{}\"", c as char), line));
                    };
                    let expect = match open {
                        b'(' => b')',
                        b'[' => b']',
                        _ => b'}',
                    };
                    if expect != c {
                        return Err(self.err(format!("Unclosed \"{}\"", open as char), open_line));
                    }
                }
                _ => {}
            }
            self.push(Tok::Punct(c as char), line);
            self.advance_to(self.pos + 1);
            return Ok(());
        }
        if c == b'\'' {
            let (s, end) = self.single_quoted()?;
            self.push(Tok::Str(s), line);
            self.advance_to(end);
            return Ok(());
        }
        if c == b'"' {
            return self.double_quoted();
        }
        let ch = rest.chars().next().unwrap_or('?');
        Err(self.err(format!("Unexpected character \"{ch}\""), line))
    }

    fn match_operator(&self) -> Option<(&'static str, usize)> {
        let rest = &self.b[self.pos..];
        let prev = if self.pos > 0 {
            Some(self.b[self.pos - 1])
        } else {
            None
        };
        for &op in OPERATORS {
            let ob = op.as_bytes();
            let len = if let Some((first, second)) = op.split_once(' ') {
                // Any amount of whitespace between the two words.
                if !rest.starts_with(first.as_bytes()) {
                    continue;
                }
                let mut i = first.len();
                let ws_start = i;
                while i < rest.len() && is_ws(rest[i]) {
                    i += 1;
                }
                if i == ws_start || !rest[i..].starts_with(second.as_bytes()) {
                    continue;
                }
                i + second.len()
            } else {
                if !rest.starts_with(ob) {
                    continue;
                }
                ob.len()
            };
            let last = ob[ob.len() - 1];
            if last.is_ascii_alphabetic() {
                match rest.get(len) {
                    Some(&n) if is_ws(n) || matches!(n, b'(' | b')' | b'[' | b'{') => {}
                    _ => continue,
                }
            }
            if ob[0].is_ascii_alphabetic() && matches!(prev, Some(b'.') | Some(b'|')) {
                continue;
            }
            return Some((op, len));
        }
        None
    }

    fn single_quoted(&self) -> Result<(String, usize), Error> {
        let mut i = self.pos + 1;
        while i < self.b.len() {
            match self.b[i] {
                b'\\' => i += 2,
                b'\'' => {
                    let raw = &self.src[self.pos + 1..i];
                    return Ok((stripcslashes(raw), i + 1));
                }
                _ => i += 1,
            }
        }
        Err(self.err("Unclosed \"'\"", self.line))
    }

    /// A double-quoted string, possibly with `#{…}` interpolations.
    fn double_quoted(&mut self) -> Result<(), Error> {
        let start_line = self.line;
        let mut i = self.pos + 1;
        let mut seg_start = i;
        let mut interpolated = false;
        loop {
            if i >= self.b.len() {
                return Err(self.err("Unclosed \"\"\"", start_line));
            }
            match self.b[i] {
                b'\\' => i += 2,
                b'"' => {
                    let raw = &self.src[seg_start..i.min(self.b.len())];
                    let line = self.line;
                    if !interpolated || !raw.is_empty() {
                        self.push(Tok::Str(stripcslashes(raw)), line);
                    }
                    self.advance_to(i + 1);
                    return Ok(());
                }
                b'#' if self.b.get(i + 1) == Some(&b'{') => {
                    let raw = &self.src[seg_start..i];
                    let line = self.line;
                    if !raw.is_empty() {
                        self.push(Tok::Str(stripcslashes(raw)), line);
                    }
                    self.advance_to(i + 2);
                    let line = self.line;
                    self.push(Tok::InterpStart, line);
                    interpolated = true;
                    // Lex the inner expression until the matching `}`.
                    let depth = self.brackets.len();
                    loop {
                        if self.pos >= self.b.len() {
                            return Err(self.err("Unclosed \"#{\"", start_line));
                        }
                        if self.brackets.len() == depth {
                            let mut j = self.pos;
                            while j < self.b.len() && is_ws(self.b[j]) {
                                j += 1;
                            }
                            if self.b.get(j) == Some(&b'}') {
                                let line = self.line;
                                self.push(Tok::InterpEnd, line);
                                self.advance_to(j + 1);
                                break;
                            }
                        }
                        self.lex_expression_token()?;
                    }
                    i = self.pos;
                    seg_start = i;
                }
                _ => i += 1,
            }
        }
    }
}

/// Where the next `{{`, `{%` or `{#` starts.
fn find_tag_start(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(off) = s[from..].find('{') {
        let i = from + off;
        if matches!(b.get(i + 1), Some(b'{') | Some(b'%') | Some(b'#')) {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// PHP `stripcslashes`: C escapes, octal and hex; any other escaped char stands for itself.
pub(crate) fn stripcslashes(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 >= b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let c = b[i];
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(0x07),
            b'v' => out.push(0x0b),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'x' if i + 1 < b.len() && b[i + 1].is_ascii_hexdigit() => {
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 2 && i + 1 < b.len() && b[i + 1].is_ascii_hexdigit() {
                    i += 1;
                    v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                    n += 1;
                }
                out.push(v as u8);
            }
            b'0'..=b'7' => {
                let mut v: u32 = (c - b'0') as u32;
                let mut n = 1;
                while n < 3 && i + 1 < b.len() && (b'0'..=b'7').contains(&b[i + 1]) {
                    i += 1;
                    v = v * 8 + (b[i] - b'0') as u32;
                    n += 1;
                }
                out.push(v as u8);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    // Octal/hex escapes can make invalid UTF-8; PHP would carry the bytes, we substitute.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
