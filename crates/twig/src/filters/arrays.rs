//! Array filters with PHP's semantics: `array_slice` offsets, merges, `batch`, `column`, keys
//! and sorting.

use super::{FResult, s};
use crate::value::{Array, Key, Value, next_index, php_compare};

pub(super) fn to_list(a: &Array) -> Vec<Value> {
    a.values().cloned().collect()
}

/// PHP `array_slice` / `mb_substr` offset arithmetic.
fn slice_bounds(len: usize, start: i64, length: Option<i64>) -> (usize, usize) {
    let len_i = len as i64;
    let mut start = if start < 0 {
        (len_i + start).max(0)
    } else {
        start.min(len_i)
    };
    if start > len_i {
        start = len_i;
    }
    let end = match length {
        None => len_i,
        Some(l) if l < 0 => (len_i + l).max(start),
        Some(l) => (start + l).min(len_i),
    };
    (start as usize, end.max(start) as usize)
}

pub(super) fn slice(v: &Value, start: i64, length: Option<i64>, preserve: bool) -> FResult {
    match v {
        Value::Array(a) => {
            let (from, to) = slice_bounds(a.len(), start, length);
            let mut out = Array::with_capacity(to - from);
            let mut next = 0i64;
            for (k, val) in a.iter().skip(from).take(to - from) {
                match k {
                    Key::Int(i) if preserve => {
                        out.insert(Key::Int(*i), val.clone());
                    }
                    Key::Int(_) => {
                        out.insert(Key::Int(next), val.clone());
                        next += 1;
                    }
                    Key::Str(_) => {
                        out.insert(k.clone(), val.clone());
                    }
                }
            }
            Ok(Value::array(out))
        }
        other => {
            let text = s(other)?;
            let count = text.chars().count();
            let (from, to) = slice_bounds(count, start, length);
            Ok(Value::string(
                text.chars().skip(from).take(to - from).collect(),
            ))
        }
    }
}

pub(super) fn first_or_last(v: &Value, last: bool) -> FResult {
    match v {
        Value::Array(a) => Ok(if last { a.last() } else { a.first() }
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Bool(false))),
        other => {
            let text = s(other)?;
            let c = if last {
                text.chars().last()
            } else {
                text.chars().next()
            };
            Ok(Value::string(c.map(String::from).unwrap_or_default()))
        }
    }
}

pub(super) fn array_merge(a: &Array, b: &Array) -> Array {
    let mut out = Array::with_capacity(a.len() + b.len());
    let mut next = 0i64;
    for (k, v) in a.iter().chain(b.iter()) {
        match k {
            Key::Int(_) => {
                out.insert(Key::Int(next), v.clone());
                next += 1;
            }
            Key::Str(_) => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

pub(super) fn reverse(v: &Value, preserve: bool) -> FResult {
    match v {
        Value::Array(a) => {
            let mut out = Array::with_capacity(a.len());
            let mut next = 0i64;
            for (k, val) in a.iter().rev() {
                match k {
                    Key::Int(i) if preserve => {
                        out.insert(Key::Int(*i), val.clone());
                    }
                    Key::Int(_) => {
                        out.insert(Key::Int(next), val.clone());
                        next += 1;
                    }
                    Key::Str(_) => {
                        out.insert(k.clone(), val.clone());
                    }
                }
            }
            Ok(Value::array(out))
        }
        other => Ok(Value::string(s(other)?.chars().rev().collect())),
    }
}

pub(super) fn split(text: &str, delim: &str, limit: Option<i64>) -> FResult {
    if delim.is_empty() {
        let chars: Vec<char> = text.chars().collect();
        let size = limit.unwrap_or(1);
        if size <= 1 {
            return Ok(Value::list(
                chars.iter().map(|c| Value::string(c.to_string())).collect(),
            ));
        }
        if (chars.len() as i64) < size {
            return Ok(Value::list(vec![Value::str(text)]));
        }
        return Ok(Value::list(
            chars
                .chunks(size as usize)
                .map(|c| Value::string(c.iter().collect()))
                .collect(),
        ));
    }
    let parts: Vec<&str> = text.split(delim).collect();
    let out: Vec<Value> = match limit {
        None => parts.iter().map(|p| Value::str(p)).collect(),
        Some(l) if l >= 0 => {
            let l = l.max(1) as usize;
            let pieces: Vec<&str> = text.splitn(l, delim).collect();
            pieces.iter().map(|p| Value::str(p)).collect()
        }
        Some(l) => {
            let keep = parts.len() as i64 + l;
            if keep <= 0 {
                Vec::new()
            } else {
                parts[..keep as usize]
                    .iter()
                    .map(|p| Value::str(p))
                    .collect()
            }
        }
    };
    Ok(Value::list(out))
}

pub(super) fn batch(a: &Array, size: f64, fill: Option<&Value>, preserve: bool) -> FResult {
    let size = size.ceil();
    if size.is_nan() || size < 1.0 {
        return Err("array_chunk(): Argument #2 ($length) must be greater than 0".into());
    }
    if size > 1e6 {
        return Err("The \"batch\" filter size is too large".into());
    }
    let size = size as usize;
    let mut chunks: Vec<Array> = Vec::new();
    let mut cur = Array::new();
    let mut idx = 0i64;
    for (k, v) in a.iter() {
        if preserve {
            cur.insert(k.clone(), v.clone());
        } else {
            cur.insert(Key::Int(idx), v.clone());
            idx += 1;
        }
        if cur.len() == size {
            chunks.push(std::mem::take(&mut cur));
            idx = 0;
        }
    }
    if !cur.is_empty() {
        chunks.push(cur);
    }
    if let (Some(fill), Some(last)) = (fill.filter(|f| !f.is_null()), chunks.last_mut()) {
        while last.len() < size {
            let k = next_index(last);
            last.insert(Key::Int(k), fill.clone());
        }
    }
    Ok(Value::list(chunks.into_iter().map(Value::array).collect()))
}

pub(super) fn column(a: &Array, name: &Value, index: Option<&Value>) -> FResult {
    let key_of = |v: &Value| -> Option<Key> {
        match v {
            Value::Int(i) => Some(Key::Int(*i)),
            Value::Null => None,
            other => other.to_str().ok().map(|t| Key::normalize(&t)),
        }
    };
    let name_key = key_of(name);
    let index_key = index.and_then(key_of);
    let mut out = Array::new();
    for row in a.values() {
        let Value::Array(r) = row else { continue };
        let value = match &name_key {
            Some(k) => match r.get(k) {
                Some(v) => v.clone(),
                None => continue,
            },
            None => row.clone(),
        };
        let key = index_key
            .as_ref()
            .and_then(|ik| r.get(ik))
            .and_then(|kv| match kv {
                Value::Int(i) => Some(Key::Int(*i)),
                Value::Str(st) => Some(Key::normalize(st)),
                _ => None,
            });
        match key {
            Some(k) => {
                out.insert(k, value);
            }
            None => {
                let k = next_index(&out);
                out.insert(Key::Int(k), value);
            }
        }
    }
    Ok(Value::array(out))
}

pub(super) fn keys(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::list(a.keys().map(Key::to_value).collect()),
        _ => Value::list(Vec::new()),
    }
}

pub(super) fn length(v: &Value) -> Result<i64, String> {
    Ok(match v {
        Value::Null => 0,
        Value::Array(a) => a.len() as i64,
        // An object that is neither countable nor a string counts as one.
        Value::Date(_) => 1,
        other => s(other)?.chars().count() as i64,
    })
}

/// `asort` (stable, PHP 8 comparison).
pub(super) fn sort_values(a: &Array) -> Array {
    let mut entries: Vec<(&Key, &Value)> = a.iter().collect();
    entries.sort_by(|x, y| php_compare(x.1, y.1));
    entries
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
