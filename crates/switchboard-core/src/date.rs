//! The two date formats of Twilio's APIs: RFC 2822 in the 2010-04-01 API, ISO 8601 in v1 APIs.
//!
//! Timestamps are carried as milliseconds since the Unix epoch (UTC); the caller reads the clock.

use std::fmt::Write;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

fn to_datetime(epoch_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(epoch_ms).unwrap_or_default()
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Thu, 04 Jul 2024 17:03:24 +0000`, as the 2010-04-01 API writes dates.
///
/// Written field by field: every resource a request renders carries two or three dates, and
/// chrono's `format` parses its pattern anew on each call (5% of a REST fetch).
pub fn rfc2822(epoch_ms: i64) -> String {
    let at = to_datetime(epoch_ms);
    let mut out = String::with_capacity(31);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[at.weekday().num_days_from_monday() as usize],
        at.day(),
        MONTHS[at.month0() as usize],
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    );
    out
}

/// `2024-07-04T17:03:24Z`, as the v1 APIs write dates.
pub fn iso8601(epoch_ms: i64) -> String {
    let at = to_datetime(epoch_ms);
    let mut out = String::with_capacity(20);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    out
}

/// Parses an ISO 8601 date-time (`2024-07-04T17:03:24Z`, offsets allowed) or a bare date
/// (`2024-07-04`, midnight UTC) into epoch milliseconds.
pub fn parse_iso8601(text: &str) -> Option<i64> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp_millis());
    }
    parse_day(text)
}

/// Parses an RFC 2822 date (the 2010 API's `date_*` fields) into epoch milliseconds.
pub fn parse_rfc2822(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|at| at.timestamp_millis())
}

/// Parses `YYYY-MM-DD` (the 2010 API's date filters) into the epoch milliseconds of its midnight UTC.
pub fn parse_day(text: &str) -> Option<i64> {
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_formats_agree_with_chrono_from_1970_to_2100() {
        // A step that is not a whole number of days, so every weekday, month and hour comes up.
        let step = 86_400_000 * 7 + 3_723_456;
        let mut at = 0;
        while at < 4_102_444_800_000 {
            let chrono = to_datetime(at);
            assert_eq!(
                rfc2822(at),
                chrono.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
            );
            assert_eq!(iso8601(at), chrono.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            at += step;
        }
    }

    #[test]
    fn formats_match_twilio() {
        let at = 1_720_112_604_000; // 2024-07-04T17:03:24Z
        assert_eq!(rfc2822(at), "Thu, 04 Jul 2024 17:03:24 +0000");
        assert_eq!(iso8601(at), "2024-07-04T17:03:24Z");
        assert_eq!(parse_iso8601("2024-07-04T17:03:24Z"), Some(at));
        assert_eq!(parse_iso8601("2024-07-04T19:03:24+02:00"), Some(at));
        assert_eq!(parse_day("2024-07-04"), Some(1_720_051_200_000));
        assert_eq!(parse_day("2024-13-04"), None);
        assert_eq!(parse_iso8601("yesterday"), None);
    }
}
