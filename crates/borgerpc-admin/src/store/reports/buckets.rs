//! The periods of the jobs and security reports' charts: a local date's or an ISO week's
//! rows, counted from rows grouped by UTC hour. A row's bucket is the local date (in
//! [`TIME_ZONE`]) of its timestamp; Copenhagen's offset from UTC is whole hours, so every UTC
//! hour lies within one local date and the database only has to group by `at / 3600000`,
//! the same expression on SQLite and PostgreSQL, whatever the clock did that day.

use super::{Period, TIME_ZONE};
use chrono::{Datelike, NaiveDate, TimeZone};

pub(super) const HOUR_MS: i64 = 3_600_000;

/// How the chart's rows are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// One row per local date.
    Day,
    /// One row per ISO week (Monday to Sunday), as far as it is in the period.
    Week,
}

impl Bucket {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
    }

    pub fn parse(s: &str) -> Option<Bucket> {
        [Bucket::Day, Bucket::Week]
            .into_iter()
            .find(|b| b.as_str() == s)
    }

    /// The first date of the bucket `d` is in (for a week, its Monday, which may be before
    /// the period).
    pub fn start(self, d: NaiveDate) -> NaiveDate {
        match self {
            Bucket::Day => d,
            Bucket::Week => {
                d - chrono::Duration::days(i64::from(d.weekday().num_days_from_monday()))
            }
        }
    }

    /// Every bucket the period touches, oldest first: its first date and how many of its
    /// dates are in the period.
    pub fn of(self, p: &Period) -> Vec<(NaiveDate, u32)> {
        let mut out: Vec<(NaiveDate, u32)> = Vec::new();
        for d in p.dates() {
            let start = self.start(d);
            match out.last_mut() {
                Some((s, n)) if *s == start => *n += 1,
                _ => out.push((start, 1)),
            }
        }
        out
    }
}

/// The local date of a UTC hour (hours since 1970).
pub(super) fn date_of_hour(hour: i64) -> NaiveDate {
    TIME_ZONE
        .timestamp_millis_opt(hour.saturating_mul(HOUR_MS))
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{Bucket, HOUR_MS, date_of_hour};
    use crate::store::reports::{Period, day_start};
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn hours_fall_on_their_local_dates() {
        // 29 March 2026 has 23 hours, 25 October 25: every one of them is on its date.
        for (date, hours) in [("2026-03-29", 23), ("2026-10-25", 25)] {
            let start = day_start(d(date)) / HOUR_MS;
            for h in start..start + hours {
                assert_eq!(date_of_hour(h), d(date), "{date} hour {}", h - start);
            }
            assert_ne!(date_of_hour(start + hours), d(date));
            assert_ne!(date_of_hour(start - 1), d(date));
        }
    }

    #[test]
    fn weeks_start_on_monday_and_are_cut_by_the_period() {
        let p = Period::new(d("2026-03-26"), d("2026-04-07")).unwrap();
        assert_eq!(
            Bucket::Week.of(&p),
            vec![
                (d("2026-03-23"), 4),
                (d("2026-03-30"), 7),
                (d("2026-04-06"), 1)
            ]
        );
        assert_eq!(Bucket::Day.of(&p).len(), 12);
        assert_eq!(Bucket::parse("week"), Some(Bucket::Week));
        assert_eq!(Bucket::parse("month"), None);
    }
}
