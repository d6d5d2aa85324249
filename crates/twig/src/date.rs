//! Dates as the `date` and `date_modify` filters see them: PHP's `DateTime` parsing (the common
//! formats), `DateTime::modify` (relative terms) and `DateTime::format` letters, in the
//! environment's time zone.
//!
//! Submission timestamps arrive as Unix-second strings (`"1778586315"`) and element values as
//! ISO dates (`"2035-01-10"`); both must print exactly as PHP prints them in the site's time
//! zone (Europe/Copenhagen, with its DST switches), hence a real tz database (chrono-tz). Where a
//! local time occurs twice or not at all, PHP's answer comes from how timelib reads a wall-clock
//! time (`localize`), not from a rule like "the earlier one"; the parity corpus pins it for
//! zones east and west of UTC and south of the equator.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc,
};
use chrono_tz::{OffsetName, Tz};

use crate::env::Environment;
use crate::value::Value;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
}

/// A point in time plus the zone it is shown in (PHP `DateTime`).
#[derive(Clone, Copy, Debug)]
pub struct PhpDate {
    pub(crate) utc: DateTime<Utc>,
    pub(crate) zone: Zone,
}

impl PhpDate {
    /// Seconds since the Unix epoch (PHP `getTimestamp()`).
    pub fn timestamp(&self) -> i64 {
        self.utc.timestamp()
    }

    fn local(&self) -> (NaiveDateTime, i32, String, bool, String) {
        // (local time, offset seconds, abbreviation, dst, identifier)
        match self.zone {
            Zone::Named(tz) => {
                let dt = self.utc.with_timezone(&tz);
                let off = dt.offset();
                let secs = off.fix().local_minus_utc();
                // chrono-tz leaves out the tz database's numeric abbreviations ("-03",
                // "+0530"), which PHP prints as they are.
                let abbr = off
                    .abbreviation()
                    .map(str::to_string)
                    .unwrap_or_else(|| numeric_abbreviation(secs));
                let dst = {
                    use chrono_tz::OffsetComponents;
                    !off.dst_offset().is_zero()
                };
                (dt.naive_local(), secs, abbr, dst, tz.name().to_string())
            }
            Zone::Fixed(off) => {
                let dt = self.utc.with_timezone(&off);
                let secs = off.local_minus_utc();
                // PHP names an offset zone "GMT+0100" for `T` and "+01:00" for `e`.
                let abbr = format!("GMT{}", offset_string(secs, false));
                (
                    dt.naive_local(),
                    secs,
                    abbr,
                    false,
                    offset_string(secs, true),
                )
            }
        }
    }
}

/// What PHP shows of a `DateTime` as an array (`json_encode`): the local time, and the zone
/// as an identifier (type 3) or an offset (type 1).
pub(crate) fn public_properties(d: &PhpDate) -> Value {
    let (zone_type, zone) = match d.zone {
        Zone::Named(tz) => (3, tz.name().to_string()),
        Zone::Fixed(off) => (1, offset_string(off.local_minus_utc(), true)),
    };
    Value::array(
        [
            ("date", Value::string(format(d, "Y-m-d H:i:s.u"))),
            ("timezone_type", Value::Int(zone_type)),
            ("timezone", Value::string(zone)),
        ]
        .into_iter()
        .map(|(k, v)| (crate::value::Key::normalize(k), v))
        .collect(),
    )
}

/// The tz database's abbreviation for a zone without letters: "-03", "+0530".
fn numeric_abbreviation(secs: i32) -> String {
    let full = offset_string(secs, false);
    match full.strip_suffix("00") {
        Some(hours) => hours.to_string(),
        None => full,
    }
}

fn offset_string(secs: i32, colon: bool) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.abs();
    if colon {
        format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
    } else {
        format!("{sign}{:02}{:02}", a / 3600, (a % 3600) / 60)
    }
}

fn parse_tz(name: &str) -> Result<Zone, String> {
    if name.eq_ignore_ascii_case("utc") {
        return Ok(Zone::Named(chrono_tz::UTC));
    }
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(Zone::Named(tz));
    }
    if let Some(off) = parse_offset(name).and_then(FixedOffset::east_opt) {
        return Ok(Zone::Fixed(off));
    }
    Err("DateTimeZone::__construct(): Unknown or bad timezone".into())
}

/// `Z`, `+01:00`, `+0100`, `+01`.
fn parse_offset(s: &str) -> Option<i32> {
    if s == "Z" || s == "z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        3 => (
            digits[..1].parse::<i32>().ok()?,
            digits[1..].parse::<i32>().ok()?,
        ),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    Some(sign * (h * 3600 + m * 60))
}

fn zone_of(env: &Environment, tz: Option<&Value>) -> Result<Option<Zone>, String> {
    match tz {
        None | Some(Value::Null) => Ok(Some(Zone::Named(env.timezone))),
        Some(Value::Bool(false)) => Ok(None),
        Some(v) => {
            let name = v.to_str().map_err(|e| e.to_string())?;
            parse_tz(&name).map(Some)
        }
    }
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

/// `twig_date_converter`.
pub(crate) fn convert(env: &Environment, v: &Value, tz: Option<&Value>) -> Result<PhpDate, String> {
    let target = zone_of(env, tz)?;
    let default_zone = Zone::Named(env.timezone);
    let as_string = match v {
        // A `DateTime` is cloned, then shown in the target zone.
        Value::Date(d) => {
            let mut date = *d;
            if let Some(z) = target {
                date.zone = z;
            }
            return Ok(date);
        }
        Value::Null => None,
        Value::Array(_) => {
            return Err("DateTime::__construct(): Argument #1 ($datetime) must be of type string, array given".into());
        }
        other => Some(other.to_str().map_err(|e| e.to_string())?.into_owned()),
    };
    let mut date = match as_string.as_deref() {
        None | Some("now") => PhpDate {
            utc: now(),
            zone: default_zone,
        },
        Some(s) if is_timestamp(s) => {
            let ts: i64 = s
                .parse()
                .map_err(|_| "Failed to parse time string".to_string())?;
            let utc = Utc
                .timestamp_opt(ts, 0)
                .single()
                .ok_or("Failed to parse time string")?;
            PhpDate {
                utc,
                zone: Zone::Fixed(FixedOffset::east_opt(0).ok_or("bad offset")?),
            }
        }
        Some(s) => parse_datetime(s, default_zone)?,
    };
    if let Some(z) = target {
        date.zone = z;
    }
    Ok(date)
}

fn is_timestamp(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Which way an ambiguous or skipped local time leans, as timelib (PHP's date library) decides
/// it: `None` when the zone came from the default (a string without a zone), else the DST flag
/// the time carries. A zone named in the string carries timelib's unset flag, which counts as
/// DST; a `DateTime` being modified carries its own current flag. That is why `date_modify`
/// across the autumn change steps by wall clock yet keeps the occurrence it started in.
type DstHint = Option<bool>;

/// Local wall-clock time to an instant, exactly as timelib's `do_adjust_timezone` does it.
///
/// The wall-clock reading taken as UTC gives a first offset; the offset at the instant that
/// implies is the answer unless the two straddle a transition. So a time that occurs twice is
/// standard time east of UTC and summer time west of it (Europe/Copenhagen
/// `2026-10-25 02:30:00` is CET, America/New_York `2026-11-01 01:30:00` is EDT), unless the
/// hint says otherwise; a time in the spring gap moves forward by the gap.
fn localize(naive: NaiveDateTime, zone: Zone, hint: DstHint) -> Result<DateTime<Utc>, String> {
    let fail = || "Failed to parse time string".to_string();
    let tz = match zone {
        Zone::Named(tz) => tz,
        Zone::Fixed(off) => {
            return off
                .from_local_datetime(&naive)
                .single()
                .map(|d| d.with_timezone(&Utc))
                .ok_or_else(fail);
        }
    };
    let wall = naive.and_utc();
    let s = wall.timestamp();
    // The offset in force at an instant: (seconds east of UTC, DST?, the span it belongs to).
    let at = |t: i64| -> Result<(i64, bool, chrono_tz::TzOffset), String> {
        use chrono_tz::OffsetComponents;
        let utc = DateTime::from_timestamp(t, 0).ok_or_else(fail)?;
        let off = tz.offset_from_utc_datetime(&utc.naive_utc());
        Ok((
            i64::from(off.fix().local_minus_utc()),
            !off.dst_offset().is_zero(),
            off,
        ))
    };
    // Does instant `t` lie before the start of the span in force at `u`? Only asked for
    // instants hours apart, where at most one transition lies between them.
    let before_span_of =
        |t: i64, u: i64| -> Result<bool, String> { Ok(t < u && at(t)?.2 != at(u)?.2) };
    let (current, current_dst, _) = at(s)?;
    let after_at = s - current;
    let (after, _, _) = at(after_at)?;
    let (mut actual, mut actual_at) = (after, after_at);
    if current == after
        && let Some(dst) = hint
    {
        if current >= 0 && dst && !current_dst {
            // East of UTC the reading as UTC has already left DST: look two hours back.
            let earlier_at = after_at - 7200;
            let (earlier, _, _) = at(earlier_at)?;
            if earlier != after && before_span_of(s - earlier, after_at)? {
                (actual, actual_at) = (earlier, earlier_at);
            }
        } else if current <= 0 && current_dst && !dst {
            // West of UTC it has not left DST yet: look two hours ahead.
            let later_at = after_at + 7200;
            let (later, _, _) = at(later_at)?;
            if later != after && !before_span_of(s - later, later_at)? {
                (actual, actual_at) = (later, later_at);
            }
        }
    }
    let in_transition =
        !before_span_of(s - current, actual_at)? && before_span_of(s - actual, actual_at)?;
    let offset = if current != actual && !in_transition {
        actual
    } else {
        current
    };
    DateTime::from_timestamp(s - offset, wall.timestamp_subsec_nanos()).ok_or_else(fail)
}

fn is_dst(d: &PhpDate) -> bool {
    d.local().3
}

/// Seconds east of UTC (PHP `DateTime::getOffset`).
pub(crate) fn offset(d: &PhpDate) -> i32 {
    d.local().1
}

/// The subset of PHP's date parser that form data uses: ISO dates and date-times (with an
/// optional offset), `d-m-Y`, `d.m.Y`, `m/d/Y`, `@timestamp`, and the words now, today,
/// midnight, tomorrow and yesterday.
pub(crate) fn parse_datetime(input: &str, default_zone: Zone) -> Result<PhpDate, String> {
    let fail = || "Failed to parse time string".to_string();
    let s = input.trim();
    if let Some(ts) = s.strip_prefix('@') {
        let ts: i64 = ts.parse().map_err(|_| fail())?;
        let utc = Utc.timestamp_opt(ts, 0).single().ok_or_else(fail)?;
        return Ok(PhpDate {
            utc,
            zone: Zone::Fixed(FixedOffset::east_opt(0).ok_or_else(fail)?),
        });
    }
    let lower = s.to_ascii_lowercase();
    let today = || -> Result<NaiveDate, String> {
        let n = PhpDate {
            utc: now(),
            zone: default_zone,
        };
        Ok(n.local().0.date())
    };
    let midnight = NaiveTime::from_hms_opt(0, 0, 0).ok_or_else(fail)?;
    let word_date = match lower.as_str() {
        "now" | "" => {
            return Ok(PhpDate {
                utc: now(),
                zone: default_zone,
            });
        }
        "today" | "midnight" => Some(today()?),
        "tomorrow" => Some(today()? + Duration::days(1)),
        "yesterday" => Some(today()? - Duration::days(1)),
        _ => None,
    };
    if let Some(d) = word_date {
        let utc = localize(d.and_time(midnight), default_zone, None)?;
        return Ok(PhpDate {
            utc,
            zone: default_zone,
        });
    }

    // Split date and time parts.
    let (date_part, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let date = parse_date_part(date_part).ok_or_else(fail)?;
    let (time, zone) = if rest.is_empty() {
        (midnight, None)
    } else {
        parse_time_part(rest).ok_or_else(fail)?
    };
    // A zone named in the string leaves timelib's DST flag unset, which counts as set.
    let (zone, hint) = match zone {
        Some(z) => (z, Some(true)),
        None => (default_zone, None),
    };
    let utc = localize(date.and_time(time), zone, hint)?;
    Ok(PhpDate { utc, zone })
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_date_part(s: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = s.split(['-', '.', '/']).collect();
    if parts.len() != 3 {
        return None;
    }
    let sep = s.chars().find(|c| matches!(c, '-' | '.' | '/'))?;
    let (y, m, d) = if parts[0].len() == 4 {
        (num(parts[0])?, num(parts[1])?, num(parts[2])?)
    } else if sep == '/' {
        (num(parts[2])?, num(parts[0])?, num(parts[1])?)
    } else if parts[2].len() == 4 {
        (num(parts[2])?, num(parts[1])?, num(parts[0])?)
    } else {
        return None;
    };
    if m == 0 || m > 12 || d == 0 || d > 31 {
        return None;
    }
    // PHP accepts day overflow (2035-02-30 is 2 March).
    let first = NaiveDate::from_ymd_opt(y as i32, m, 1)?;
    first.checked_add_signed(Duration::days(d as i64 - 1))
}

fn parse_time_part(s: &str) -> Option<(NaiveTime, Option<Zone>)> {
    // Time digits, then an optional zone (`Z`, `+01:00`, ` UTC`, ` Europe/Copenhagen`).
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(s.len());
    let (t, z) = (&s[..end], s[end..].trim());
    let mut it = t.split(':');
    let h = num(it.next()?)?;
    let m = num(it.next()?)?;
    let (sec, micro) = match it.next() {
        Some(sp) => {
            let (si, frac) = sp.split_once('.').unwrap_or((sp, ""));
            let mut micro = 0u32;
            if !frac.is_empty() {
                let f: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
                micro = num(&f)?;
            }
            (num(si)?, micro)
        }
        None => (0, 0),
    };
    if it.next().is_some() {
        return None;
    }
    let time = NaiveTime::from_hms_micro_opt(h, m, sec, micro)?;
    let zone = if z.is_empty() {
        None
    } else if let Some(off) = parse_offset(z) {
        Some(Zone::Fixed(FixedOffset::east_opt(off)?))
    } else {
        Some(parse_tz(z).ok()?)
    };
    Some((time, zone))
}

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn days_in_month(y: i32, m: u32) -> u32 {
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    let this = NaiveDate::from_ymd_opt(y, m, 1);
    match (this, next) {
        (Some(a), Some(b)) => (b - a).num_days() as u32,
        _ => 30,
    }
}

/// PHP `DateTime::format`.
pub(crate) fn format(d: &PhpDate, fmt: &str) -> String {
    let (l, off, abbr, dst, ident) = d.local();
    let mut out = String::with_capacity(fmt.len() * 2);
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        match c {
            'd' => out.push_str(&format!("{:02}", l.day())),
            'D' => out.push_str(&DAYS[l.weekday().num_days_from_monday() as usize][..3]),
            'j' => out.push_str(&l.day().to_string()),
            'l' => out.push_str(DAYS[l.weekday().num_days_from_monday() as usize]),
            'N' => out.push_str(&l.weekday().number_from_monday().to_string()),
            'S' => out.push_str(match l.day() {
                1 | 21 | 31 => "st",
                2 | 22 => "nd",
                3 | 23 => "rd",
                _ => "th",
            }),
            'w' => out.push_str(&l.weekday().num_days_from_sunday().to_string()),
            'z' => out.push_str(&(l.ordinal0()).to_string()),
            'W' => out.push_str(&format!("{:02}", l.iso_week().week())),
            'F' => out.push_str(MONTHS[l.month0() as usize]),
            'm' => out.push_str(&format!("{:02}", l.month())),
            'M' => out.push_str(&MONTHS[l.month0() as usize][..3]),
            'n' => out.push_str(&l.month().to_string()),
            't' => out.push_str(&days_in_month(l.year(), l.month()).to_string()),
            'L' => out.push(if NaiveDate::from_ymd_opt(l.year(), 2, 29).is_some() {
                '1'
            } else {
                '0'
            }),
            'o' => out.push_str(&l.iso_week().year().to_string()),
            'Y' => {
                let y = l.year();
                if y < 0 {
                    out.push_str(&format!("-{:04}", -y));
                } else {
                    out.push_str(&format!("{y:04}"));
                }
            }
            'y' => out.push_str(&format!("{:02}", l.year().rem_euclid(100))),
            'a' => out.push_str(if l.hour() < 12 { "am" } else { "pm" }),
            'A' => out.push_str(if l.hour() < 12 { "AM" } else { "PM" }),
            'B' => {
                let utc = d.utc;
                let secs = (utc.timestamp() + 3600).rem_euclid(86400);
                let beat = (secs * 10 / 864) % 1000;
                out.push_str(&format!("{beat:03}"));
            }
            'g' => out.push_str(&((l.hour() + 11) % 12 + 1).to_string()),
            'G' => out.push_str(&l.hour().to_string()),
            'h' => out.push_str(&format!("{:02}", (l.hour() + 11) % 12 + 1)),
            'H' => out.push_str(&format!("{:02}", l.hour())),
            'i' => out.push_str(&format!("{:02}", l.minute())),
            's' => out.push_str(&format!("{:02}", l.second())),
            'u' => out.push_str(&format!("{:06}", l.nanosecond() / 1000)),
            'v' => out.push_str(&format!("{:03}", l.nanosecond() / 1_000_000)),
            'e' => out.push_str(&ident),
            'I' => out.push(if dst { '1' } else { '0' }),
            'O' => out.push_str(&offset_string(off, false)),
            'P' => out.push_str(&offset_string(off, true)),
            'p' => {
                if off == 0 {
                    out.push('Z')
                } else {
                    out.push_str(&offset_string(off, true))
                }
            }
            'T' => out.push_str(&abbr),
            'Z' => out.push_str(&off.to_string()),
            'c' => out.push_str(&format(d, "Y-m-d\\TH:i:sP")),
            'r' => out.push_str(&format(d, "D, d M Y H:i:s O")),
            'U' => out.push_str(&d.utc.timestamp().to_string()),
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A small part of PHP's `DateTime::modify`: `+N unit` / `-N unit` terms. As timelib does, all
/// terms are added to the wall-clock fields at once and the result is normalised (so
/// `+1 day +1 month` from 31 January is 4 March), then read back in the date's own zone with
/// its current DST flag as the hint.
pub(crate) fn modify(d: &PhpDate, modifier: &str) -> Result<PhpDate, String> {
    let fail = || "DateTime::modify(): Failed to parse time string".to_string();
    let (local, _, _, _, _) = d.local();
    let words: Vec<&str> = modifier.split_whitespace().collect();
    // Relative years, months, days and seconds, summed over the terms.
    let (mut years, mut months, mut days, mut seconds) = (0i64, 0i64, 0i64, 0i64);
    let mut i = 0;
    while i < words.len() {
        let (n, unit) = if let Ok(n) = words[i].parse::<i64>() {
            i += 1;
            (n, *words.get(i).ok_or_else(fail)?)
        } else {
            let w = words[i];
            let split = w.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(fail)?;
            (w[..split].parse::<i64>().map_err(|_| fail())?, &w[split..])
        };
        i += 1;
        let unit = unit.to_ascii_lowercase();
        let (total, factor) = match unit.trim_end_matches('s') {
            "sec" | "second" => (&mut seconds, 1),
            "min" | "minute" => (&mut seconds, 60),
            "hour" => (&mut seconds, 3600),
            "day" => (&mut days, 1),
            "week" => (&mut days, 7),
            "month" => (&mut months, 1),
            "year" => (&mut years, 1),
            _ => return Err(fail()),
        };
        *total = n
            .checked_mul(factor)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(fail)?;
    }
    // Seconds carry into days, months into years, then the day overflows the month.
    let secs_of_day = seconds
        .checked_add(i64::from(local.num_seconds_from_midnight()))
        .ok_or_else(fail)?;
    let days = days
        .checked_add(secs_of_day.div_euclid(86_400))
        .ok_or_else(fail)?;
    let time = NaiveTime::from_num_seconds_from_midnight_opt(
        secs_of_day.rem_euclid(86_400) as u32,
        local.nanosecond(),
    )
    .ok_or_else(fail)?;
    let month_index = i64::from(local.year()) * 12 + i64::from(local.month0());
    let month_index = years
        .checked_mul(12)
        .and_then(|m| m.checked_add(months))
        .and_then(|m| m.checked_add(month_index))
        .ok_or_else(fail)?;
    let year = i32::try_from(month_index.div_euclid(12)).map_err(|_| fail())?;
    let first =
        NaiveDate::from_ymd_opt(year, month_index.rem_euclid(12) as u32 + 1, 1).ok_or_else(fail)?;
    let date = days
        .checked_add(i64::from(local.day()) - 1)
        .and_then(Duration::try_days)
        .and_then(|offset| first.checked_add_signed(offset))
        .ok_or_else(fail)?;
    Ok(PhpDate {
        utc: localize(date.and_time(time), d.zone, Some(is_dst(d)))?,
        zone: d.zone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_copenhagen() {
        let env = Environment::new();
        let d = convert(&env, &Value::str("1778586315"), None).unwrap();
        assert_eq!(
            format(&d, "Y-m-d H:i:s T P e"),
            "2026-05-12 13:45:15 CEST +02:00 Europe/Copenhagen"
        );
        let d = convert(&env, &Value::str("2035-01-10"), None).unwrap();
        assert_eq!(
            format(&d, "d.m.Y D N jS z W t L"),
            "10.01.2035 Wed 3 10th 9 02 31 0"
        );
    }
}
