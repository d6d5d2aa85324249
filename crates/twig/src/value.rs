//! PHP-like values: the data a template sees and produces.
//!
//! Twig is a thin layer over PHP, so its observable behaviour (what prints, what is equal, what is
//! truthy, what `+` does with a numeric string) is PHP 8's. This module owns those rules in one
//! place so the evaluator and the filters agree with each other and with PHP. Arrays are PHP's
//! ordered maps with integer or string keys (a decimal string key becomes an integer key, as in
//! PHP), shared behind `Arc` so that reading a context is cheap and a `Template` plus its values
//! can cross threads.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use indexmap::IndexMap;

use crate::date::PhpDate;

/// An ordered PHP array.
pub type Array = IndexMap<Key, Value>;

/// A PHP array key: an integer or a (non-integer-like) string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// An integer key (also what a decimal string key becomes, as in PHP).
    Int(i64),
    /// Any other string key.
    Str(Arc<str>),
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Key::Int(i) => KeyRef::Int(*i).hash(h),
            Key::Str(s) => KeyRef::Str(s).hash(h),
        }
    }
}

/// A borrowed key, so that lookups by a name from the template or a value allocate nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyRef<'a> {
    Int(i64),
    Str(&'a str),
}

impl<'a> KeyRef<'a> {
    /// PHP's key normalisation without allocating.
    pub fn normalize(s: &'a str) -> KeyRef<'a> {
        match canonical_int(s) {
            Some(i) => KeyRef::Int(i),
            None => KeyRef::Str(s),
        }
    }

    pub fn to_key(self) -> Key {
        match self {
            KeyRef::Int(i) => Key::Int(i),
            KeyRef::Str(s) => Key::Str(Arc::from(s)),
        }
    }
}

impl indexmap::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        match (self, key) {
            (KeyRef::Int(a), Key::Int(b)) => a == b,
            (KeyRef::Str(a), Key::Str(b)) => *a == &**b,
            _ => false,
        }
    }
}

impl Key {
    /// PHP's key normalisation: a canonical decimal integer string becomes an integer key.
    pub fn normalize(s: &str) -> Key {
        match canonical_int(s) {
            Some(i) => Key::Int(i),
            None => Key::Str(Arc::from(s)),
        }
    }

    /// The key borrowed, for lookups that allocate nothing.
    pub fn as_ref(&self) -> KeyRef<'_> {
        match self {
            Key::Int(i) => KeyRef::Int(*i),
            Key::Str(s) => KeyRef::Str(s),
        }
    }

    /// The key as a value (what `for k, v in …` binds and `|keys` returns).
    pub fn to_value(&self) -> Value {
        match self {
            Key::Int(i) => Value::Int(*i),
            Key::Str(s) => Value::Str(s.clone()),
        }
    }

    /// The key as PHP converts it to a string (an integer in decimal).
    pub fn to_php_string(&self) -> Cow<'_, str> {
        match self {
            Key::Int(i) => Cow::Owned(i.to_string()),
            Key::Str(s) => Cow::Borrowed(s),
        }
    }
}

/// Is `s` a decimal integer written the way PHP writes it (no leading zeros, no `+`, fits i64)?
fn canonical_int(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits = if b.first() == Some(&b'-') { &b[1..] } else { b };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits[0] == b'0' && (digits.len() > 1 || b.len() > 1) {
        return None;
    }
    s.parse().ok()
}

/// A PHP value as Twig sees it.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// PHP `null`: a missing value, or JSON `null`.
    #[default]
    Null,
    /// PHP `bool`.
    Bool(bool),
    /// PHP `int` (64-bit).
    Int(i64),
    /// PHP `float`.
    Float(f64),
    /// A PHP string; escaped when printed under auto-escaping.
    Str(Arc<str>),
    /// A string already safe for output (PHP Twig's `Twig\Markup`): produced by `{% set %}`
    /// captures; the auto-escaper passes it through. Like a PHP object it is always truthy.
    Markup(Arc<str>),
    /// A PHP array (a list or a hash, ordered), shared: cloning a value does not copy it.
    Array(Arc<Array>),
    /// A PHP `DateTime` object, as `date_modify` returns it: it keeps its zone for the next
    /// `date_modify` or `date`, and like a PHP object it is truthy and never a string.
    Date(PhpDate),
}

/// Why a value could not be converted; the evaluator adds template name and line.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueError {
    ArrayToString,
    DateToString,
    Unsupported(&'static str, &'static str, &'static str),
    NonNumeric,
    DivisionByZero,
    ModuloByZero,
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueError::ArrayToString => f.write_str("Array to string conversion"),
            ValueError::DateToString => {
                f.write_str("Object of class DateTime could not be converted to string")
            }
            ValueError::Unsupported(a, op, b) => {
                write!(f, "Unsupported operand types: {a} {op} {b}")
            }
            ValueError::NonNumeric => f.write_str("A non-numeric value encountered"),
            ValueError::DivisionByZero => f.write_str("Division by zero"),
            ValueError::ModuloByZero => f.write_str("Modulo by zero"),
        }
    }
}

/// A number as PHP arithmetic sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub fn to_value(self) -> Value {
        match self {
            Num::Int(i) => Value::Int(i),
            Num::Float(f) => Value::Float(f),
        }
    }
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

const PHP_WS: &[char] = &[' ', '\t', '\n', '\r', '\x0b', '\x0c'];

/// PHP 8's numeric-string parse: `Some((number, whole))` when `s` starts with a number
/// (after optional leading whitespace); `whole` says whether only whitespace follows it.
pub(crate) fn parse_numeric_prefix(s: &str) -> Option<(Num, bool)> {
    let t = s.trim_start_matches(PHP_WS);
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut is_float = false;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        let mut j = i + 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        frac_digits = j - i - 1;
        if int_digits > 0 || frac_digits > 0 {
            is_float = true;
            i = j;
        }
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            is_float = true;
            i = j;
        }
    }
    let num_text = &t[..i];
    let rest = &t[i..];
    let whole = rest.trim_matches(PHP_WS).is_empty();
    let num = if is_float {
        Num::Float(num_text.parse().unwrap_or(0.0))
    } else {
        match num_text.parse::<i64>() {
            Ok(v) => Num::Int(v),
            Err(_) => Num::Float(num_text.parse().unwrap_or(0.0)),
        }
    };
    Some((num, whole))
}

/// PHP `is_numeric` on a string.
pub(crate) fn numeric_str(s: &str) -> Option<Num> {
    match parse_numeric_prefix(s) {
        Some((n, true)) => Some(n),
        _ => None,
    }
}

/// PHP's `(string)` of a float with `precision=14` (what `echo` prints).
pub(crate) fn php_float_to_string(f: f64) -> String {
    format_float_prec(f, 14)
}

/// `%.{prec}G` as PHP's zend_gcvt does it: scientific when the exponent is < -4 or >= prec,
/// and scientific mantissas always keep one decimal (`1.0E+25`).
pub(crate) fn format_float_prec(f: f64, prec: usize) -> String {
    if f.is_nan() {
        return "NAN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "INF".into() } else { "-INF".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.*e}", prec - 1, f);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp < -4 || exp >= prec as i32 {
        out.push_str(&digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            out.push_str(&digits[1..]);
        } else {
            out.push('0');
        }
        let _ = write!(out, "E{}{}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// Float formatting for `json_encode` (`serialize_precision=-1`: the shortest round-trip
/// digits; scientific below 1e-4 and from 1e17, with PHP's `1.0e+25` mantissa).
pub(crate) fn php_float_repr(f: f64) -> String {
    if !f.is_finite() {
        return php_float_to_string(f);
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let shortest = format!("{:e}", f);
    let (mant, exp) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..17).contains(&exp) {
        out.push_str(&digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            out.push_str(&digits[1..]);
        } else {
            out.push('0');
        }
        let _ = write!(out, "e{}{}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

impl Value {
    /// A string value from a borrowed string.
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// A string value, taking the string.
    pub fn string(s: String) -> Value {
        Value::Str(Arc::from(s))
    }

    /// An array value (a hash with its keys in their order).
    pub fn array(a: Array) -> Value {
        Value::Array(Arc::new(a))
    }

    /// A PHP list (keys 0..n).
    pub fn list(items: Vec<Value>) -> Value {
        Value::Array(Arc::new(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Key::Int(i as i64), v))
                .collect(),
        ))
    }

    /// Convert a JSON render context value, keeping object key order (as PHP's
    /// `json_decode(…, true)` would; decimal object keys become integer keys).
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else {
                    Value::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::array(
                o.iter()
                    .map(|(k, v)| (Key::normalize(k), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// PHP `gettype()` names.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "double",
            Value::Str(_) => "string",
            Value::Markup(_) | Value::Date(_) => "object",
            Value::Array(_) => "array",
        }
    }

    /// Whether it is PHP `null` (what `is null` tests).
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The array, when it is one.
    pub fn as_array(&self) -> Option<&Arc<Array>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// PHP's `(bool)` cast.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !(s.is_empty() || &**s == "0"),
            Value::Markup(_) | Value::Date(_) => true,
            Value::Array(a) => !a.is_empty(),
        }
    }

    /// PHP's `(string)` cast; arrays cannot be converted (PHP warns, we fail).
    pub fn to_str(&self) -> Result<Cow<'_, str>, ValueError> {
        Ok(match self {
            Value::Null => Cow::Borrowed(""),
            Value::Bool(true) => Cow::Borrowed("1"),
            Value::Bool(false) => Cow::Borrowed(""),
            Value::Int(i) => Cow::Owned(i.to_string()),
            Value::Float(f) => Cow::Owned(php_float_to_string(*f)),
            Value::Str(s) | Value::Markup(s) => Cow::Borrowed(s),
            Value::Array(_) => return Err(ValueError::ArrayToString),
            Value::Date(_) => return Err(ValueError::DateToString),
        })
    }

    /// Write the PHP string form to `out` without an intermediate allocation for strings.
    pub fn write_to(&self, out: &mut String) -> Result<(), ValueError> {
        match self {
            Value::Null | Value::Bool(false) => {}
            Value::Bool(true) => out.push('1'),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&php_float_to_string(*f)),
            Value::Str(s) | Value::Markup(s) => out.push_str(s),
            Value::Array(_) => return Err(ValueError::ArrayToString),
            Value::Date(_) => return Err(ValueError::DateToString),
        }
        Ok(())
    }

    /// PHP's `(int)` cast.
    pub fn to_int(&self) -> i64 {
        match self {
            Value::Null => 0,
            Value::Bool(b) => *b as i64,
            Value::Int(i) => *i,
            Value::Float(f) => float_to_int(*f),
            Value::Str(s) | Value::Markup(s) => match parse_numeric_prefix(s) {
                Some((Num::Int(i), _)) => i,
                // Numeric strings saturate (PHP's `zend_dval_to_lval_cap`), floats wrap.
                Some((Num::Float(f), _)) if f.is_finite() => {
                    if f >= 9.223_372_036_854_776e18 {
                        i64::MAX
                    } else if f <= -9.223_372_036_854_776e18 {
                        i64::MIN
                    } else {
                        f as i64
                    }
                }
                _ => 0,
            },
            Value::Array(a) => !a.is_empty() as i64,
            // PHP warns "could not be converted to int" and uses 1.
            Value::Date(_) => 1,
        }
    }

    /// PHP's `(float)` cast.
    pub fn to_float(&self) -> f64 {
        match self {
            Value::Null => 0.0,
            Value::Bool(b) => *b as i64 as f64,
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            Value::Str(s) | Value::Markup(s) => match parse_numeric_prefix(s) {
                Some((n, _)) => n.as_f64(),
                None => 0.0,
            },
            Value::Array(a) => !a.is_empty() as i64 as f64,
            Value::Date(_) => 1.0,
        }
    }

    /// The number PHP 8 arithmetic takes from this operand: non-numeric strings and arrays are
    /// errors (PHP throws TypeError, or warns for leading-numeric strings: treated as errors).
    pub fn to_num(&self, op: &'static str, other: &Value) -> Result<Num, ValueError> {
        match self {
            Value::Null => Ok(Num::Int(0)),
            Value::Bool(b) => Ok(Num::Int(*b as i64)),
            Value::Int(i) => Ok(Num::Int(*i)),
            Value::Float(f) => Ok(Num::Float(*f)),
            Value::Str(s) => match parse_numeric_prefix(s) {
                Some((n, true)) => Ok(n),
                Some((_, false)) => Err(ValueError::NonNumeric),
                None => Err(ValueError::Unsupported("string", op, other.type_short())),
            },
            Value::Markup(_) | Value::Array(_) | Value::Date(_) => Err(ValueError::Unsupported(
                self.type_short(),
                op,
                other.type_short(),
            )),
        }
    }

    fn type_short(&self) -> &'static str {
        match self {
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

    /// Twig's `empty` test.
    pub fn is_empty_twig(&self) -> bool {
        match self {
            Value::Null | Value::Bool(false) => true,
            Value::Str(s) | Value::Markup(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        }
    }

    /// Iterate as PHP `foreach` would; non-arrays iterate as empty (Twig's
    /// `twig_ensure_traversable`).
    pub fn entries(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.as_array().into_iter().flat_map(|a| a.iter())
    }
}

/// PHP 8's float to int conversion (out-of-range and non-finite give 0 on 64-bit PHP ≥ 7,
/// except that PHP wraps finite out-of-range values modulo 2^64).
pub(crate) fn float_to_int(f: f64) -> i64 {
    if !f.is_finite() {
        return 0;
    }
    if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        return f as i64;
    }
    // Modular conversion as zend_dval_to_lval does for out-of-range values.
    let two64 = 18_446_744_073_709_551_616.0_f64;
    let mut dmod = f.trunc() % two64;
    if dmod < 0.0 {
        dmod += two64;
    }
    if dmod >= 9.223_372_036_854_776e18 {
        dmod -= two64;
    }
    dmod as i64
}

fn cmp_f64(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Greater)
}

fn cmp_num(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        _ => cmp_f64(a.as_f64(), b.as_f64()),
    }
}

/// PHP 8 `<=>` (the result `<`, `>`, `==` and `sort` agree on), with Twig's `twig_compare`
/// rules for number vs. string.
pub(crate) fn php_compare(a: &Value, b: &Value) -> Ordering {
    use Value::*;
    match (a, b) {
        (Markup(x), _) => php_compare(&Str(x.clone()), b),
        (_, Markup(y)) => php_compare(a, &Str(y.clone())),
        (Null, Null) => Ordering::Equal,
        (Bool(_), _) | (_, Bool(_)) | (Null, Array(_)) | (Array(_), Null) => {
            a.truthy().cmp(&b.truthy())
        }
        (Null, Str(s)) => {
            if s.is_empty() {
                Ordering::Equal
            } else {
                Ordering::Less
            }
        }
        (Str(s), Null) => {
            if s.is_empty() {
                Ordering::Equal
            } else {
                Ordering::Greater
            }
        }
        (Null, _) => false.cmp(&b.truthy()),
        (_, Null) => a.truthy().cmp(&false),
        // PHP compares two `DateTime`s by instant; an object is greater than a scalar.
        (Date(x), Date(y)) => x.utc.cmp(&y.utc),
        (Date(_), _) => Ordering::Greater,
        (_, Date(_)) => Ordering::Less,
        (Int(x), Int(y)) => x.cmp(y),
        (Int(_), Float(_)) | (Float(_), Int(_)) | (Float(_), Float(_)) => {
            cmp_f64(a.to_float(), b.to_float())
        }
        (Int(_) | Float(_), Str(s)) => match numeric_str(s) {
            Some(n) => cmp_num(num_of(a), n),
            None => a.to_str().unwrap_or_default().as_ref().cmp(&**s),
        },
        (Str(s), Int(_) | Float(_)) => match numeric_str(s) {
            Some(n) => cmp_num(n, num_of(b)),
            None => (**s).cmp(b.to_str().unwrap_or_default().as_ref()),
        },
        (Str(x), Str(y)) => match (numeric_str(x), numeric_str(y)) {
            (Some(n), Some(m)) => cmp_num(n, m),
            _ => x.as_bytes().cmp(y.as_bytes()),
        },
        (Array(x), Array(y)) => {
            if x.len() != y.len() {
                return x.len().cmp(&y.len());
            }
            for (k, v) in x.iter() {
                match y.get(k) {
                    Some(w) => {
                        let c = php_compare(v, w);
                        if c != Ordering::Equal {
                            return c;
                        }
                    }
                    None => return Ordering::Greater,
                }
            }
            Ordering::Equal
        }
        (Array(_), _) => Ordering::Greater,
        (_, Array(_)) => Ordering::Less,
    }
}

fn num_of(v: &Value) -> Num {
    match v {
        Value::Int(i) => Num::Int(*i),
        _ => Num::Float(v.to_float()),
    }
}

/// PHP 8 loose equality `==`.
pub(crate) fn php_loose_eq(a: &Value, b: &Value) -> bool {
    use Value::*;
    match (a, b) {
        (Float(x), _) | (_, Float(x)) if x.is_nan() => false,
        (Array(x), Array(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| php_loose_eq(v, w)))
        }
        (Array(_), Int(_) | Float(_) | Str(_) | Markup(_))
        | (Int(_) | Float(_) | Str(_) | Markup(_), Array(_)) => false,
        _ => php_compare(a, b) == Ordering::Equal,
    }
}

/// PHP `===`.
pub(crate) fn php_identical(a: &Value, b: &Value) -> bool {
    use Value::*;
    match (a, b) {
        (Null, Null) => true,
        (Bool(x), Bool(y)) => x == y,
        (Int(x), Int(y)) => x == y,
        (Float(x), Float(y)) => x == y,
        (Str(x), Str(y)) => x == y,
        (Markup(x), Markup(y)) => Arc::ptr_eq(x, y),
        (Array(x), Array(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && php_identical(v1, v2))
        }
        _ => false,
    }
}

/// The next integer key PHP would append at.
pub(crate) fn next_index(a: &Array) -> i64 {
    a.keys()
        .filter_map(|k| match k {
            Key::Int(i) => Some(*i),
            Key::Str(_) => None,
        })
        .max()
        .map_or(0, |m| m.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_php() {
        assert_eq!(php_float_to_string(1.0), "1");
        assert_eq!(php_float_to_string(0.1 + 0.2), "0.3");
        assert_eq!(php_float_to_string(1.5), "1.5");
        assert_eq!(php_float_to_string(1e25), "1.0E+25");
        assert_eq!(php_float_to_string(1.5e-7), "1.5E-7");
        assert_eq!(php_float_to_string(0.0001), "0.0001");
        assert_eq!(php_float_to_string(-2.5), "-2.5");
        assert_eq!(php_float_to_string(123456789.12345678), "123456789.12346");
        assert_eq!(php_float_repr(1.0), "1");
        assert_eq!(php_float_repr(1e25), "1.0e+25");
        assert_eq!(php_float_repr(1e15), "1000000000000000");
        assert_eq!(php_float_repr(0.00001), "1.0e-5");
        assert_eq!(php_float_repr(0.1), "0.1");
    }

    #[test]
    fn keys_normalise() {
        assert_eq!(Key::normalize("12"), Key::Int(12));
        assert_eq!(Key::normalize("-3"), Key::Int(-3));
        assert!(matches!(Key::normalize("012"), Key::Str(_)));
        assert!(matches!(Key::normalize("-0"), Key::Str(_)));
    }

    #[test]
    fn loose_equality_php8() {
        assert!(!php_loose_eq(&Value::str("abc"), &Value::Int(0)));
        assert!(php_loose_eq(&Value::str("1"), &Value::Int(1)));
        assert!(php_loose_eq(&Value::str("1.0"), &Value::str("1")));
        assert!(php_loose_eq(&Value::Null, &Value::Bool(false)));
        assert!(!php_loose_eq(&Value::Null, &Value::str("0")));
    }
}
