//! The scheduling parameters of Messages create (`ScheduleType=fixed` with `SendAt`), checked
//! as Twilio checks them: a Messaging Service is required, and `SendAt` must lie between
//! `--schedule-min-ahead` (Twilio's 15 minutes by default) and 35 days ahead.

use switchboard_core::{date, error_code};

use crate::error::{ApiError, ApiResult};
use crate::form::Params;

/// How far ahead a message may be scheduled at most.
const MAX_AHEAD_MS: i64 = 35 * 86_400_000;

/// When the message is to be sent (epoch milliseconds), or `None` to send it now; `now_ms`
/// and `min_ahead_ms` bound `SendAt`, `has_service` says whether `MessagingServiceSid` was
/// given.
pub(crate) fn send_at(
    params: &Params,
    has_service: bool,
    now_ms: i64,
    min_ahead_ms: i64,
) -> ApiResult<Option<i64>> {
    let given = |name: &str| params.get(name).filter(|value| !value.is_empty());
    let (schedule_type, send_at) = (given("ScheduleType"), given("SendAt"));
    match (schedule_type, send_at) {
        (None, None) => return Ok(None),
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                error_code::SCHEDULE_INVALID,
                "SendAt is only taken with ScheduleType=fixed",
            ));
        }
        (Some("fixed"), _) => {}
        (Some(other), _) => {
            return Err(ApiError::bad_request(
                error_code::SCHEDULE_INVALID,
                format!("ScheduleType must be fixed, not {other:?}"),
            ));
        }
    }
    if !has_service {
        return Err(ApiError::bad_request(
            error_code::SCHEDULE_NEEDS_MESSAGING_SERVICE,
            "MessagingServiceSid is required to schedule a message",
        ));
    }
    let Some(text) = send_at else {
        return Err(ApiError::bad_request(
            error_code::SCHEDULE_INVALID,
            "SendAt is required with ScheduleType=fixed",
        ));
    };
    let at = date::parse_iso8601(text).ok_or_else(|| {
        ApiError::bad_request(
            error_code::SCHEDULE_SEND_AT_INVALID,
            format!("SendAt must be an ISO 8601 date and time, not {text:?}"),
        )
    })?;
    let ahead = at.saturating_sub(now_ms);
    if ahead < min_ahead_ms || ahead > MAX_AHEAD_MS {
        return Err(ApiError::bad_request(
            error_code::SCHEDULE_SEND_AT_INVALID,
            format!(
                "SendAt must be between {} seconds and 35 days in the future, not {text}",
                min_ahead_ms / 1000
            ),
        ));
    }
    Ok(Some(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const MIN: i64 = 900_000;

    fn check(body: &str, has_service: bool) -> Result<Option<i64>, u32> {
        let params = Params::parse(body.as_bytes()).expect("params");
        send_at(&params, has_service, NOW, MIN).map_err(|error| error.code.code)
    }

    #[test]
    fn schedules_only_fixed_times_in_the_window_through_a_service() {
        let at = |ms: i64| date::iso8601(NOW + ms);
        let fixed = |ms: i64| format!("ScheduleType=fixed&SendAt={}", at(ms));
        assert_eq!(check("Body=hi", false), Ok(None));
        let in_an_hour = (NOW + 3_600_000) / 1000 * 1000;
        assert_eq!(check(&fixed(3_600_000), true), Ok(Some(in_an_hour)));
        assert_eq!(check(&fixed(3_600_000), false), Err(35118));
        assert_eq!(check(&fixed(60_000), true), Err(35114));
        assert_eq!(check(&fixed(36 * 86_400_000), true), Err(35114));
        assert_eq!(
            check("ScheduleType=fixed&SendAt=tomorrow", true),
            Err(35114)
        );
        assert_eq!(check("ScheduleType=fixed", true), Err(35111));
        assert_eq!(check("ScheduleType=later&SendAt=x", true), Err(35111));
        assert_eq!(
            check(&format!("SendAt={}", at(3_600_000)), true),
            Err(35111)
        );
    }
}
