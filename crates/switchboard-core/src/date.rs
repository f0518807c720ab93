//! The two date formats of Twilio's APIs: RFC 2822 in the 2010-04-01 API, ISO 8601 in v1 APIs.
//!
//! Timestamps are carried as milliseconds since the Unix epoch (UTC); the caller reads the clock.

use chrono::{DateTime, NaiveDate, Utc};

fn to_datetime(epoch_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(epoch_ms).unwrap_or_default()
}

/// `Thu, 04 Jul 2024 17:03:24 +0000`, as the 2010-04-01 API writes dates.
pub fn rfc2822(epoch_ms: i64) -> String {
    to_datetime(epoch_ms)
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

/// `2024-07-04T17:03:24Z`, as the v1 APIs write dates.
pub fn iso8601(epoch_ms: i64) -> String {
    to_datetime(epoch_ms)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Parses an ISO 8601 date-time (`2024-07-04T17:03:24Z`, offsets allowed) or a bare date
/// (`2024-07-04`, midnight UTC) into epoch milliseconds.
pub fn parse_iso8601(text: &str) -> Option<i64> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp_millis());
    }
    parse_day(text)
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
