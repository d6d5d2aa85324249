//! The periods of the jobs and security reports' charts: a local date's or an ISO week's
//! rows, added up from counts per local date (in [`super::TIME_ZONE`]), as the daily
//! roll-ups (`ops_rollup.rs`) keep them and a group's rows are counted.

use super::Period;
use chrono::{Datelike, NaiveDate};

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

/// A local date from its number (days since 1970-01-01), as the roll-ups keep it.
pub(super) fn date_of_day(day: i64) -> NaiveDate {
    NaiveDate::default() + chrono::Duration::days(day)
}

#[cfg(test)]
mod tests {
    use super::{Bucket, date_of_day};
    use crate::store::history::epoch_day;
    use crate::store::reports::Period;
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn day_numbers_are_dates() {
        for date in ["1970-01-01", "2026-03-29", "2026-10-25", "2099-12-31"] {
            assert_eq!(date_of_day(epoch_day(d(date))), d(date));
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
