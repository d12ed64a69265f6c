//! The export's day (`dt=YYYY-MM-DD`) and where a day's file goes.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

use crate::error::ExportError;

/// The name of a day's one file inside its partition.
pub const FILE_NAME: &str = "user_statistics.parquet";

/// The day a snapshot is filed under: the calendar day, in the schedule's time zone, on which it
/// was taken (the 02:00 Asia/Tokyo run of 1 December writes `dt=2026-12-01`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(NaiveDate);

impl Day {
    /// The day of a date.
    pub fn new(date: NaiveDate) -> Day {
        Day(date)
    }

    /// The date.
    pub fn date(self) -> NaiveDate {
        self.0
    }
}

impl FromStr for Day {
    type Err = ExportError;

    /// Reads exactly `YYYY-MM-DD` (four-digit year, two-digit month and day, a real date).
    fn from_str(text: &str) -> Result<Day, ExportError> {
        let bad = || ExportError::BadDate(text.chars().take(40).collect());
        let bytes = text.as_bytes();
        let shaped = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shaped {
            return Err(bad());
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Day)
            .map_err(|_| bad())
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// The partition of `day` under `prefix` (`user_statistics/` gives
/// `user_statistics/dt=2026-12-01/`): a prefix has no leading slash and one trailing slash.
pub fn partition_prefix(prefix: &str, day: Day) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        format!("dt={day}/")
    } else {
        format!("{prefix}/dt={day}/")
    }
}

/// The key of `day`'s one file under `prefix`.
pub fn object_key(prefix: &str, day: Day) -> String {
    format!("{}{FILE_NAME}", partition_prefix(prefix, day))
}

/// Today in the time zone `timezone` (an IANA name such as `Asia/Tokyo`), as the database's clock
/// and time zone tables have it; an unknown zone is [`ExportError::BadTimezone`].
pub async fn today_in(pool: &sqlx::PgPool, timezone: &str) -> Result<Day, ExportError> {
    let known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
            .bind(timezone)
            .fetch_one(pool)
            .await
            .map_err(ExportError::database)?;
    if !known {
        return Err(ExportError::BadTimezone(
            timezone.chars().take(64).collect(),
        ));
    }
    let date: NaiveDate = sqlx::query_scalar("SELECT (now() AT TIME ZONE $1)::date")
        .bind(timezone)
        .fetch_one(pool)
        .await
        .map_err(ExportError::database)?;
    Ok(Day(date))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<&str, &str>) {
        let got = text
            .parse::<Day>()
            .map(|day| day.to_string())
            .map_err(|err| format!("{}: {err}", err.code()));
        assert_eq!(
            got.as_ref().map(String::as_str).map_err(String::as_str),
            expected,
            "{text:?}"
        );
    }

    #[test]
    fn days_are_exactly_year_month_day() {
        check("2026-12-01", Ok("2026-12-01"));
        check("2028-02-29", Ok("2028-02-29"));
        let bad = |t: &str| {
            format!("BadExportDate: `{t}` is not a day: give one as YYYY-MM-DD (e.g. 2026-12-01)")
        };
        for text in [
            "2026-2-01",
            "2026-12-1",
            "20261201",
            "2026-13-01",
            "2027-02-29",
            "+2026-12-01",
            " 2026-12-01",
            "2026-12-01T00:00:00Z",
            "",
        ] {
            check(text, Err(&bad(text)));
        }
    }

    #[test]
    fn keys_sit_in_the_days_partition() {
        let day: Day = "2026-12-01".parse().unwrap();
        assert_eq!(
            object_key("user_statistics/", day),
            "user_statistics/dt=2026-12-01/user_statistics.parquet"
        );
        assert_eq!(
            object_key("/lake/user_statistics", day),
            "lake/user_statistics/dt=2026-12-01/user_statistics.parquet"
        );
        assert_eq!(object_key("", day), "dt=2026-12-01/user_statistics.parquet");
    }
}
