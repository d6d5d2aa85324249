//! Twig's built-in filters and functions (the core extension), with PHP's semantics: the table
//! of names and parameters, and the dispatch; each group of filters has its own module
//! (`escaping`, `strings`, `arrays`, `json_url`).
//!
//! The table of names and parameters drives named-argument binding at compile time; the
//! implementations take evaluated values. Filters that call back into the template (`map`,
//! `filter`, `reduce`, `sort` with an arrow) are evaluated in `render.rs`, which owns the scope.

use std::borrow::Cow;

use crate::env::Environment;
use crate::phpfmt;
use crate::value::{Key, Num, Value, php_compare};

mod arrays;
mod escaping;
mod json_url;
mod strings;

use arrays::{
    array_merge, batch, column, first_or_last, keys, length, reverse, slice, sort_values, split,
    to_list,
};
use escaping::rawurlencode;
pub(crate) use escaping::{escape, escape_html};
use json_url::{http_build_query, json_encode};
use strings::{capitalize, nl2br, parse_allowed_tags, php_trim, strip_tags, strtr, title_case};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BuiltinFilter {
    Abs,
    Batch,
    Capitalize,
    Column,
    Date,
    DateModify,
    Default,
    Escape,
    First,
    Format,
    Join,
    JsonEncode,
    Keys,
    Last,
    Length,
    Lower,
    Merge,
    Nl2br,
    NumberFormat,
    Raw,
    Replace,
    Reverse,
    Round,
    Slice,
    Sort,
    Spaceless,
    Split,
    Striptags,
    Title,
    Trim,
    Upper,
    UrlEncode,
    Map,
    Filter,
    Reduce,
}

pub(crate) struct FilterSpec {
    pub filter: BuiltinFilter,
    pub params: &'static [&'static str],
    pub required: usize,
    pub variadic: bool,
}

pub(crate) fn builtin_filter(name: &str) -> Option<FilterSpec> {
    use BuiltinFilter::*;
    let (filter, params, required, variadic): (_, &'static [&'static str], _, _) = match name {
        "abs" => (Abs, &[], 0, false),
        "batch" => (Batch, &["size", "fill", "preserve_keys"], 1, false),
        "capitalize" => (Capitalize, &[], 0, false),
        "column" => (Column, &["name", "index"], 1, false),
        "date" => (Date, &["format", "timezone"], 0, false),
        "date_modify" => (DateModify, &["modifier"], 1, false),
        "default" => (Default, &["default"], 0, false),
        "escape" | "e" => (Escape, &["strategy", "charset"], 0, false),
        "first" => (First, &[], 0, false),
        "format" => (Format, &["values"], 0, true),
        "join" => (Join, &["glue", "and"], 0, false),
        "json_encode" => (JsonEncode, &["flags", "depth"], 0, false),
        "keys" => (Keys, &[], 0, false),
        "last" => (Last, &[], 0, false),
        "length" => (Length, &[], 0, false),
        "lower" => (Lower, &[], 0, false),
        "merge" => (Merge, &["arr2"], 1, false),
        "nl2br" => (Nl2br, &[], 0, false),
        "number_format" => (
            NumberFormat,
            &["decimal", "decimal_point", "thousand_sep"],
            0,
            false,
        ),
        "raw" => (Raw, &[], 0, false),
        "replace" => (Replace, &["from"], 1, false),
        "reverse" => (Reverse, &["preserve_keys"], 0, false),
        "round" => (Round, &["precision", "method"], 0, false),
        "slice" => (Slice, &["start", "length", "preserve_keys"], 1, false),
        "sort" => (Sort, &["arrow"], 0, false),
        "spaceless" => (Spaceless, &[], 0, false),
        "split" => (Split, &["delimiter", "limit"], 1, false),
        "striptags" => (Striptags, &["allowable_tags"], 0, false),
        "title" => (Title, &[], 0, false),
        "trim" => (Trim, &["character_mask", "side"], 0, false),
        "upper" => (Upper, &[], 0, false),
        "url_encode" => (UrlEncode, &[], 0, false),
        "map" => (Map, &["arrow"], 1, false),
        "filter" => (Filter, &["arrow"], 1, false),
        "reduce" => (Reduce, &["arrow", "initial"], 1, false),
        _ => return None,
    };
    Some(FilterSpec {
        filter,
        params,
        required,
        variadic,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BuiltinFunction {
    Range,
    Max,
    Min,
    Date,
    Cycle,
}

pub(crate) struct FunctionSpec {
    pub function: BuiltinFunction,
    pub params: &'static [&'static str],
    pub required: usize,
    pub variadic: bool,
}

pub(crate) fn builtin_function(name: &str) -> Option<FunctionSpec> {
    use BuiltinFunction::*;
    let (function, params, required, variadic): (_, &'static [&'static str], _, _) = match name {
        "range" => (Range, &["start", "end", "step"], 2, false),
        "max" => (Max, &["value", "values"], 1, true),
        "min" => (Min, &["value", "values"], 1, true),
        "date" => (Date, &["date", "timezone"], 0, false),
        "cycle" => (Cycle, &["values", "position"], 2, false),
        _ => return None,
    };
    Some(FunctionSpec {
        function,
        params,
        required,
        variadic,
    })
}

pub(crate) type FResult = Result<Value, String>;

fn s(v: &Value) -> Result<Cow<'_, str>, String> {
    v.to_str().map_err(|e| e.to_string())
}

fn arg(args: &[Option<Value>], i: usize) -> Option<&Value> {
    args.get(i).and_then(|a| a.as_ref())
}

/// A string argument for a PHP string parameter (arrays are a TypeError there).
fn str_param<'v>(v: &'v Value, filter: &str) -> Result<Cow<'v, str>, String> {
    match v {
        Value::Array(_) => Err(format!(
            "The \"{filter}\" filter expects a string, got an array"
        )),
        _ => s(v),
    }
}

/// Apply a built-in filter that needs no callbacks into the template.
pub(crate) fn apply(
    env: &Environment,
    f: BuiltinFilter,
    input: &Value,
    args: &[Option<Value>],
) -> FResult {
    use BuiltinFilter::*;
    Ok(match f {
        Abs => match input {
            Value::Int(i) => i
                .checked_abs()
                .map_or(Value::Float((*i as f64).abs()), Value::Int),
            Value::Float(x) => Value::Float(x.abs()),
            Value::Null => Value::Int(0),
            Value::Bool(b) => Value::Int(*b as i64),
            Value::Str(t) => match crate::value::numeric_str(t) {
                Some(Num::Int(i)) => i
                    .checked_abs()
                    .map_or(Value::Float((i as f64).abs()), Value::Int),
                Some(Num::Float(x)) => Value::Float(x.abs()),
                None => {
                    return Err(
                        "abs(): Argument #1 ($num) must be of type int|float, string given".into(),
                    );
                }
            },
            _ => {
                return Err(format!(
                    "abs(): Argument #1 ($num) must be of type int|float, {} given",
                    input.type_name()
                ));
            }
        },
        Batch => {
            let Value::Array(a) = input else {
                return Err("The \"batch\" filter expects an array".into());
            };
            let size = arg(args, 0).map_or(1.0, Value::to_float);
            let preserve = arg(args, 2).is_none_or(Value::truthy);
            batch(a, size, arg(args, 1), preserve)?
        }
        Capitalize => Value::string(capitalize(&str_param(input, "capitalize")?)),
        Column => {
            let Value::Array(a) = input else {
                return Err("The column filter only works with arrays".into());
            };
            column(a, arg(args, 0).unwrap_or(&Value::Null), arg(args, 1))?
        }
        Date => {
            let format = match arg(args, 0) {
                Some(v) => s(v)?.into_owned(),
                None => "F j, Y H:i".to_string(),
            };
            let dt = crate::date::convert(env, input, arg(args, 1))?;
            Value::string(crate::date::format(&dt, &format))
        }
        DateModify => {
            // Modified in the zone the date was read in (Twig passes `false`, no conversion):
            // a timestamp in UTC, a string in its own or the default zone.
            let dt = crate::date::convert(env, input, Some(&Value::Bool(false)))?;
            let m = s(arg(args, 0).unwrap_or(&Value::Null))?.into_owned();
            Value::Date(crate::date::modify(&dt, &m)?)
        }
        First => first_or_last(input, false)?,
        Last => first_or_last(input, true)?,
        Format => {
            let fmt = s(input)?;
            let rest: Vec<Value> = args.iter().map(|a| a.clone().unwrap_or_default()).collect();
            Value::string(phpfmt::sprintf(&fmt, &rest)?)
        }
        Join => {
            let glue = match arg(args, 0) {
                Some(g) => s(g)?.into_owned(),
                None => String::new(),
            };
            let items: Vec<Value> = match input {
                Value::Array(a) => to_list(a),
                Value::Null => Vec::new(),
                other => vec![other.clone()],
            };
            let strs: Vec<String> = items
                .iter()
                .map(|v| s(v).map(Cow::into_owned))
                .collect::<Result<_, _>>()?;
            let and = match arg(args, 1) {
                Some(a) => Some(s(a)?.into_owned()),
                None => None,
            };
            match and {
                Some(and) if and != glue && strs.len() > 1 => {
                    let (last, init) = strs.split_last().unwrap_or((&strs[0], &[]));
                    Value::string(format!("{}{}{}", init.join(&glue), and, last))
                }
                _ => Value::string(strs.join(&glue)),
            }
        }
        JsonEncode => {
            let flags = arg(args, 0).map_or(0, Value::to_int);
            Value::string(json_encode(input, flags)?)
        }
        Keys => keys(input),
        Length => Value::Int(length(input)?),
        Lower => Value::string(str_param(input, "lower")?.to_lowercase()),
        Upper => Value::string(str_param(input, "upper")?.to_uppercase()),
        Title => Value::string(title_case(&str_param(input, "title")?)),
        Merge => {
            let other = arg(args, 0).unwrap_or(&Value::Null);
            let (Value::Array(a), Value::Array(b)) = (input, other) else {
                return Err(format!(
                    "The merge filter only works with arrays or \"Traversable\", got \"{}\" as {} argument",
                    if matches!(input, Value::Array(_)) {
                        other.type_name()
                    } else {
                        input.type_name()
                    },
                    if matches!(input, Value::Array(_)) {
                        "second"
                    } else {
                        "first"
                    }
                ));
            };
            Value::array(array_merge(a, b))
        }
        Nl2br => Value::string(nl2br(&str_param(input, "nl2br")?)),
        Spaceless => {
            let t = str_param(input, "spaceless")?;
            let re = spaceless_regex();
            Value::str(re.replace_all(&t, "><").trim())
        }
        NumberFormat => {
            let dec = arg(args, 0).map_or(0, Value::to_int);
            let point = match arg(args, 1) {
                Some(v) => s(v)?.into_owned(),
                None => ".".into(),
            };
            let sep = match arg(args, 2) {
                Some(v) => s(v)?.into_owned(),
                None => ",".into(),
            };
            let n = match input {
                Value::Str(t) => match crate::value::parse_numeric_prefix(t) {
                    Some((n, true)) => n.as_f64(),
                    _ => return Err(
                        "number_format(): Argument #1 ($num) must be of type float, string given"
                            .into(),
                    ),
                },
                Value::Array(_) => {
                    return Err(
                        "number_format(): Argument #1 ($num) must be of type float, array given"
                            .into(),
                    );
                }
                other => other.to_float(),
            };
            Value::string(phpfmt::number_format(n, dec, &point, &sep))
        }
        Raw => input.clone(),
        Replace => {
            let from = arg(args, 0).unwrap_or(&Value::Null);
            let Value::Array(pairs) = from else {
                return Err(format!(
                    "The \"replace\" filter expects an array or \"Traversable\" as replace values, got \"{}\"",
                    from.type_name()
                ));
            };
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| Ok((k.to_php_string().into_owned(), s(v)?.into_owned())))
                .collect::<Result<_, String>>()?;
            Value::string(strtr(&str_param(input, "replace")?, &pairs))
        }
        Reverse => reverse(input, arg(args, 0).is_some_and(Value::truthy))?,
        Round => {
            let precision = arg(args, 0).map_or(0, Value::to_int);
            let method = match arg(args, 1) {
                Some(m) => s(m)?.into_owned(),
                None => "common".into(),
            };
            let x = input.to_float();
            Value::Float(match method.as_str() {
                "common" => phpfmt::php_round(x, precision),
                "ceil" => {
                    let p = 10f64.powi(precision.clamp(-400, 400) as i32);
                    (x * p).ceil() / p
                }
                "floor" => {
                    let p = 10f64.powi(precision.clamp(-400, 400) as i32);
                    (x * p).floor() / p
                }
                _ => {
                    return Err(
                        "The round filter only supports the \"common\", \"ceil\", and \"floor\" methods".into(),
                    );
                }
            })
        }
        Slice => {
            let start = arg(args, 0).map_or(0, Value::to_int);
            let length = arg(args, 1).filter(|v| !v.is_null()).map(Value::to_int);
            slice(
                input,
                start,
                length,
                arg(args, 2).is_some_and(Value::truthy),
            )?
        }
        Sort => match input {
            Value::Array(a) => Value::array(sort_values(a)),
            other => {
                return Err(format!(
                    "The sort filter only works with arrays or \"Traversable\", got \"{}\"",
                    other.type_name()
                ));
            }
        },
        Split => {
            let text = str_param(input, "split")?;
            let delim = s(arg(args, 0).unwrap_or(&Value::Null))?.into_owned();
            let limit = arg(args, 1).filter(|v| !v.is_null()).map(Value::to_int);
            split(&text, &delim, limit)?
        }
        Striptags => {
            let allowed = parse_allowed_tags(arg(args, 0))?;
            Value::string(strip_tags(&str_param(input, "striptags")?, &allowed))
        }
        Trim => {
            let mask = match arg(args, 0) {
                Some(m) if !m.is_null() => Some(s(m)?.into_owned()),
                _ => None,
            };
            let side = match arg(args, 1) {
                Some(v) => s(v)?.into_owned(),
                None => "both".into(),
            };
            let text = str_param(input, "trim")?;
            Value::str(php_trim(&text, mask.as_deref(), &side)?)
        }
        UrlEncode => match input {
            Value::Array(a) => {
                let mut parts = Vec::new();
                http_build_query(a, None, &mut parts)?;
                Value::string(parts.join("&"))
            }
            other => {
                let mut o = String::new();
                rawurlencode(&s(other)?, &mut o);
                Value::string(o)
            }
        },
        Default | Escape | Map | Filter | Reduce => {
            return Err("internal: filter evaluated out of place".into());
        }
    })
}

fn spaceless_regex() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r">\s+<").unwrap_or_else(|_| unreachable!()))
}

/// PHP `range()` for what templates use: integers, floats and single characters.
pub(crate) fn range(start: &Value, end: &Value, step: Option<&Value>) -> FResult {
    const MAX: usize = 1_000_000;
    let step_v = step.cloned().unwrap_or(Value::Int(1));
    let is_char = |v: &Value| matches!(v, Value::Str(t) if t.chars().count() == 1 && crate::value::numeric_str(t).is_none());
    if is_char(start) && is_char(end) {
        let a = s(start)?.chars().next().unwrap_or('a') as u32;
        let b = s(end)?.chars().next().unwrap_or('a') as u32;
        let st = step_v.to_int().unsigned_abs().max(1) as u32;
        let mut out = Vec::new();
        if a <= b {
            let mut c = a;
            while c <= b {
                out.push(Value::string(char::from_u32(c).unwrap_or('?').to_string()));
                c += st;
            }
        } else {
            let mut c = a as i64;
            while c >= b as i64 {
                out.push(Value::string(
                    char::from_u32(c as u32).unwrap_or('?').to_string(),
                ));
                c -= st as i64;
            }
        }
        return Ok(Value::list(out));
    }
    let to_num = |v: &Value| -> Num {
        match v {
            Value::Int(i) => Num::Int(*i),
            Value::Float(f) => Num::Float(*f),
            Value::Str(t) => crate::value::numeric_str(t).unwrap_or(Num::Int(0)),
            other => Num::Int(other.to_int()),
        }
    };
    let (a, b, st) = (to_num(start), to_num(end), to_num(&step_v));
    let stf = st.as_f64().abs();
    if stf == 0.0 {
        return Err("range(): Argument #3 ($step) cannot be 0".into());
    }
    let floats = matches!(a, Num::Float(_))
        || matches!(b, Num::Float(_))
        || matches!(st, Num::Float(f) if f.fract() != 0.0);
    let (af, bf) = (a.as_f64(), b.as_f64());
    let n = ((af - bf).abs() / stf).floor() as usize + 1;
    if n > MAX {
        return Err("range(): the range has too many elements".into());
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let x = if af <= bf {
            af + stf * i as f64
        } else {
            af - stf * i as f64
        };
        out.push(if floats {
            Value::Float(x)
        } else {
            Value::Int(x as i64)
        });
    }
    Ok(Value::list(out))
}

pub(crate) fn min_max(args: &[Value], max: bool) -> FResult {
    let items: Vec<Value> = if args.len() == 1 {
        match &args[0] {
            Value::Array(a) => to_list(a),
            _ => {
                return Err(format!(
                    "{}(): Argument #1 ($value) must be of type array, {} given",
                    if max { "max" } else { "min" },
                    args[0].type_name()
                ));
            }
        }
    } else {
        args.to_vec()
    };
    let mut it = items.into_iter();
    let Some(mut best) = it.next() else {
        return Err(format!(
            "{}(): Argument #1 ($value) must contain at least one element",
            if max { "max" } else { "min" }
        ));
    };
    for v in it {
        let c = php_compare(&v, &best);
        if (max && c == std::cmp::Ordering::Greater) || (!max && c == std::cmp::Ordering::Less) {
            best = v;
        }
    }
    Ok(best)
}

pub(crate) fn cycle(values: &Value, position: &Value) -> FResult {
    match values {
        Value::Array(a) if !a.is_empty() => {
            let p = position.to_int().rem_euclid(a.len() as i64);
            Ok(a.get(&Key::Int(p)).cloned().unwrap_or(Value::Null))
        }
        Value::Array(_) => Err("Modulo by zero".into()),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CVE-2026-46637 fixed XSS in the HTML-emitting filters of PHP Twig's extras (Debian
    /// `php-twig-*-extra`). We implement none of the extras' filters, so templates using them
    /// fail to compile as they do in PHP without the extras; adding one means following its
    /// patched `pre_escape`/`is_safe` and covering it in the parity corpus with the extra
    /// installed (`.ci/run`, `tests/php/render.php`).
    #[test]
    fn no_filter_of_the_twig_extras_is_builtin() {
        let extras = [
            "markdown_to_html",
            "html_to_markdown",
            "inline_css",
            "inky_to_html",
            "data_uri",
            "u",
            "slug",
            "country_name",
            "currency_name",
            "currency_symbol",
            "language_name",
            "locale_name",
            "timezone_name",
            "format_currency",
            "format_number",
            "format_datetime",
            "format_date",
            "format_time",
        ];
        for name in extras {
            assert!(builtin_filter(name).is_none(), "{name} is an extras filter");
        }
    }
}
