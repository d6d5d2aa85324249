//! Instants as the portals show them: wall-clock time in Copenhagen, written the way each
//! language writes dates.
//!
//! Instants are stored as milliseconds since the Unix epoch (UTC). The conversion goes
//! through the tz database rather than a fixed offset, so times either side of a daylight
//! saving change read as the clocks on the wall did.

use super::Lang;
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Copenhagen;

/// `ms_since_epoch` as date and minute in Copenhagen: `05.12.2026 17:04` in Danish,
/// `2026-12-05 17:04` in English. An instant chrono cannot represent (over 262,000 years
/// away) is shown as `?`.
pub fn local_time(ms_since_epoch: i64, lang: Lang) -> String {
    let format = match lang {
        Lang::Da => "%d.%m.%Y %H:%M",
        Lang::En => "%Y-%m-%d %H:%M",
    };
    local(ms_since_epoch, format)
}

/// The date of `ms_since_epoch` in Copenhagen: `05.12.2026` in Danish, `2026-12-05` in
/// English; `?` as in [`local_time`].
pub fn local_date(ms_since_epoch: i64, lang: Lang) -> String {
    let format = match lang {
        Lang::Da => "%d.%m.%Y",
        Lang::En => "%Y-%m-%d",
    };
    local(ms_since_epoch, format)
}

fn local(ms_since_epoch: i64, format: &str) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms_since_epoch) {
        Some(utc) => utc.with_timezone(&Copenhagen).format(format).to_string(),
        None => "?".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid instant")
            .timestamp_millis()
    }

    #[test]
    fn each_language_writes_its_own_format() {
        let t = ms("2026-12-05T16:04:59.999Z");
        assert_eq!(local_time(t, Lang::Da), "05.12.2026 17:04");
        assert_eq!(local_time(t, Lang::En), "2026-12-05 17:04");
        assert_eq!(local_date(t, Lang::Da), "05.12.2026");
        assert_eq!(local_date(t, Lang::En), "2026-12-05");
    }

    #[test]
    fn winter_and_summer_time() {
        assert_eq!(
            local_time(ms("2026-01-15T10:30:00Z"), Lang::En),
            "2026-01-15 11:30"
        );
        // Clocks go forward at 01:00 UTC on the last Sunday of March.
        assert_eq!(
            local_time(ms("2026-03-29T00:59:00Z"), Lang::En),
            "2026-03-29 01:59"
        );
        assert_eq!(
            local_time(ms("2026-03-29T01:30:00Z"), Lang::En),
            "2026-03-29 03:30"
        );
        assert_eq!(
            local_time(ms("2026-07-01T10:30:00Z"), Lang::Da),
            "01.07.2026 12:30"
        );
        // ... and back at 01:00 UTC on the last Sunday of October: 02:30 happens twice.
        assert_eq!(
            local_time(ms("2026-10-25T00:30:00Z"), Lang::En),
            "2026-10-25 02:30"
        );
        assert_eq!(
            local_time(ms("2026-10-25T01:30:00Z"), Lang::En),
            "2026-10-25 02:30"
        );
    }

    #[test]
    fn the_date_is_copenhagens_not_utcs() {
        assert_eq!(
            local_date(ms("2026-12-31T23:30:00Z"), Lang::Da),
            "01.01.2027"
        );
        assert_eq!(
            local_date(ms("2026-06-30T22:30:00Z"), Lang::En),
            "2026-07-01"
        );
    }

    #[test]
    fn instants_out_of_range_do_not_panic() {
        assert_eq!(local_time(i64::MAX, Lang::Da), "?");
        assert_eq!(local_date(i64::MIN, Lang::En), "?");
        assert_eq!(local_time(0, Lang::Da), "01.01.1970 01:00");
    }
}
