//! PHP's number formatting: `round()`, `number_format()` and `sprintf()`.
//!
//! Templates print amounts, and the bytes must match PHP's, including PHP's "pre-rounding"
//! (`round(1.005, 2)` is `1.01` in PHP, although 1.005 is stored as 1.00499…).

use std::fmt::Write as _;

use crate::value::Value;

fn intpow10(p: i64) -> f64 {
    10f64.powi(p.clamp(-400, 400) as i32)
}

fn round_helper(v: f64) -> f64 {
    if v >= 0.0 {
        (v + 0.5).floor()
    } else {
        (v - 0.5).ceil()
    }
}

fn round_basic(value: f64, places: i64) -> f64 {
    let f = intpow10(places.abs());
    if places >= 0 { value * f } else { value / f }
}

/// PHP 8.2 `round($value, $places)` (half away from zero, with pre-rounding to the precision
/// a double can hold so that decimal literals round as written).
pub(crate) fn php_round(value: f64, places: i64) -> f64 {
    if !value.is_finite() || value == 0.0 {
        return value;
    }
    let places = places.clamp(-10_000, 10_000);
    let precision_places = 14 - value.abs().log10().floor() as i64;
    let f1 = intpow10(places.abs());
    let mut tmp;
    if precision_places > places && precision_places - 15 < places {
        let use_precision = precision_places.max(-60);
        tmp = round_helper(round_basic(value, use_precision));
        let back = (places - use_precision).max(-60);
        tmp /= intpow10(back.abs());
    } else {
        tmp = if places >= 0 { value * f1 } else { value / f1 };
        if tmp.abs() >= 1e15 {
            return value;
        }
    }
    tmp = round_helper(tmp);
    if places.abs() < 23 {
        if places > 0 { tmp / f1 } else { tmp * f1 }
    } else {
        let s = format!("{tmp:.15}e{}", -places);
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => value,
        }
    }
}

/// PHP `number_format()`.
pub(crate) fn number_format(num: f64, decimals: i64, point: &str, sep: &str) -> String {
    let dec = decimals.clamp(0, 100) as usize;
    let mut d = php_round(num, dec as i64);
    let mut negative = false;
    if d < 0.0 {
        negative = true;
        d = -d;
    }
    if d == 0.0 {
        // PHP prints no sign for a negative zero.
        d = 0.0;
    }
    let formatted = format!("{d:.dec$}");
    if !d.is_finite() {
        return formatted;
    }
    if negative && d == 0.0 {
        negative = false;
    }
    let (int_part, frac_part) = match formatted.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (formatted.as_str(), None),
    };
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    let digits = int_part.as_bytes();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push_str(sep);
        }
        out.push(*c as char);
    }
    if dec > 0 {
        out.push_str(point);
        out.push_str(frac_part.unwrap_or(""));
    }
    out
}

/// PHP's `%e`: the exponent has no zero padding (`1.5e+3`).
fn php_exp(v: f64, prec: usize, upper: bool) -> String {
    let s = format!("{v:.prec$e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let e = if upper { 'E' } else { 'e' };
    format!("{mant}{e}{}{}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// PHP `sprintf()`.
pub(crate) fn sprintf(fmt: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::with_capacity(fmt.len() + 16);
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let mut next_arg = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        if i >= chars.len() {
            return Err("Missing format specifier at end of string".into());
        }
        if chars[i] == '%' {
            out.push('%');
            i += 1;
            continue;
        }
        // Argument number `n$`.
        let mut argnum: Option<usize> = None;
        let mut j = i;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        if j > i && j < chars.len() && chars[j] == '$' {
            let n: usize = chars[i..j].iter().collect::<String>().parse().unwrap_or(0);
            if n == 0 {
                return Err(
                    "Argument number specifier must be greater than zero and less than 2147483647"
                        .into(),
                );
            }
            argnum = Some(n - 1);
            i = j + 1;
        }
        let mut left = false;
        let mut plus = false;
        let mut pad = ' ';
        loop {
            match chars.get(i) {
                Some('-') => left = true,
                Some('+') => plus = true,
                Some('0') => pad = '0',
                Some(' ') => pad = ' ',
                Some('\'') => {
                    i += 1;
                    pad = *chars.get(i).ok_or("Missing padding character")?;
                }
                _ => break,
            }
            i += 1;
        }
        let mut width = 0usize;
        while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
            width = (width * 10 + d as usize).min(10_000);
            i += 1;
        }
        let mut precision: Option<usize> = None;
        if chars.get(i) == Some(&'.') {
            i += 1;
            let mut p = 0usize;
            while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
                p = (p * 10 + d as usize).min(500);
                i += 1;
            }
            precision = Some(p);
        }
        // PHP accepts (and ignores) a length modifier `l`.
        if chars.get(i) == Some(&'l') {
            i += 1;
        }
        let Some(&spec) = chars.get(i) else {
            return Err("Missing format specifier at end of string".into());
        };
        i += 1;
        let idx = match argnum {
            Some(n) => n,
            None => {
                let n = next_arg;
                next_arg += 1;
                n
            }
        };
        let Some(v) = args.get(idx) else {
            return Err(format!(
                "{} arguments are required, {} given",
                idx + 2,
                args.len() + 1
            ));
        };
        let s_val = |v: &Value| {
            v.to_str()
                .map(|c| c.into_owned())
                .map_err(|e| e.to_string())
        };
        let (body, numeric): (String, bool) = match spec {
            's' => {
                let mut t = s_val(v)?;
                if let Some(p) = precision {
                    t = t.chars().take(p).collect();
                }
                (t, false)
            }
            'd' | 'i' => {
                let n = v.to_int();
                let mut t = n.to_string();
                if plus && n >= 0 {
                    t.insert(0, '+');
                }
                (t, true)
            }
            'u' => ((v.to_int() as u64).to_string(), true),
            'f' | 'F' => {
                let x = v.to_float();
                let p = precision.unwrap_or(6);
                let mut t = format!("{x:.p$}");
                if plus && x >= 0.0 {
                    t.insert(0, '+');
                }
                (t, true)
            }
            'e' | 'E' => {
                let x = v.to_float();
                let p = precision.unwrap_or(6);
                let mut t = php_exp(x, p, spec == 'E');
                if plus && x >= 0.0 {
                    t.insert(0, '+');
                }
                (t, true)
            }
            'g' | 'G' => {
                let x = v.to_float();
                let p = precision.unwrap_or(6).max(1);
                let mut t = crate::value::format_float_prec(x, p);
                if spec == 'g' {
                    t = t.replace('E', "e");
                }
                (t, true)
            }
            'x' => (format!("{:x}", v.to_int()), false),
            'X' => (format!("{:X}", v.to_int()), false),
            'o' => (format!("{:o}", v.to_int()), false),
            'b' => (format!("{:b}", v.to_int()), false),
            'c' => {
                let code = (v.to_int() & 0xff) as u8;
                (String::from_utf8_lossy(&[code]).into_owned(), false)
            }
            other => return Err(format!("Unknown format specifier \"{other}\"")),
        };
        let len = body.chars().count();
        if len >= width {
            out.push_str(&body);
        } else if left {
            out.push_str(&body);
            let fill = if pad == '0' { ' ' } else { pad };
            let fill = if numeric && pad == '0' { '0' } else { fill };
            for _ in len..width {
                out.push(fill);
            }
        } else if pad == '0' && numeric && (body.starts_with('-') || body.starts_with('+')) {
            let (sign, rest) = body.split_at(1);
            out.push_str(sign);
            for _ in len..width {
                out.push('0');
            }
            out.push_str(rest);
        } else {
            for _ in len..width {
                out.push(pad);
            }
            let _ = write!(out, "{body}");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_matches_php() {
        assert_eq!(php_round(1.005, 2), 1.01);
        assert_eq!(php_round(2.5, 0), 3.0);
        assert_eq!(php_round(-2.5, 0), -3.0);
        assert_eq!(php_round(1.955, 2), 1.96);
        assert_eq!(php_round(1234.5678, -2), 1200.0);
    }

    #[test]
    fn number_format_like_php() {
        assert_eq!(number_format(1234.5678, 2, ",", "."), "1.234,57");
        assert_eq!(number_format(-0.004, 2, ".", ","), "0.00");
        assert_eq!(number_format(1234567.0, 0, ".", ","), "1,234,567");
    }

    #[test]
    fn sprintf_basics() {
        let a = [Value::Int(5), Value::str("x"), Value::Float(1.5)];
        assert_eq!(sprintf("%03d|%s|%.2f", &a).unwrap(), "005|x|1.50");
        assert_eq!(sprintf("%2$s %1$d", &a).unwrap(), "x 5");
        assert_eq!(
            sprintf("%e", &[Value::Float(12.3456)]).unwrap(),
            "1.234560e+1"
        );
    }
}
