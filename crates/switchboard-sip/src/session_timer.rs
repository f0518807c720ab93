//! Session timers (RFC 4028): keeping a long call's dialog alive by periodic refresh
//! (re-INVITE or UPDATE) and ending a session the other side stopped refreshing.
//!
//! The UAS side is decided here from the request alone: `uas_timer` reads `Session-Expires`,
//! `Min-SE`, `Supported`/`Require: timer` and answers either a `SessionTimer` for the 2xx, or
//! `422 Session Interval Too Small` with our `Min-SE`, or nothing (no timer asked for, or the
//! UAC does not support one, in which case the session runs without a timer, as RFC 4028 §9
//! lets a UAS treat a request from a UAC without timer support). Once a timer runs, the
//! refresher refreshes at half the interval and the other side ends the session at the
//! interval minus the lesser of 32 s and a third of it (§10); `SessionTimer::deadline_ms`
//! and `refresh_at_ms` say when.

use crate::message::Headers;

/// The lowest interval RFC 4028 allows a `Min-SE` to be (§4).
pub const MIN_SE_FLOOR_S: u32 = 90;

/// Who refreshes the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The side that sent the INVITE.
    Uac,
    /// The side that answered it.
    Uas,
}

impl Refresher {
    /// The `refresher` parameter's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// A running session timer, as agreed in a 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimer {
    /// The session interval in seconds.
    pub interval_s: u32,
    pub refresher: Refresher,
}

impl SessionTimer {
    /// The `Session-Expires` header value.
    pub fn header_value(&self) -> String {
        format!("{};refresher={}", self.interval_s, self.refresher.as_str())
    }

    /// When the refresher sends its refresh, counted from the last refresh.
    pub fn refresh_at_ms(&self, refreshed_ms: u64) -> u64 {
        refreshed_ms + u64::from(self.interval_s) * 500
    }

    /// When the side that does not refresh ends a session that was not refreshed since
    /// `refreshed_ms`: the interval minus the lesser of 32 s and a third of it (§10).
    pub fn deadline_ms(&self, refreshed_ms: u64) -> u64 {
        let interval_ms = u64::from(self.interval_s) * 1000;
        refreshed_ms + interval_ms - (interval_ms / 3).min(32_000)
    }
}

/// What a UAS answers to the session timer of an INVITE (or a refresh) it would accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UasTimer {
    /// No session timer for this session.
    None,
    /// Accept with this timer: `Session-Expires` (and `Require: timer`) in the 2xx.
    Run(SessionTimer),
    /// `422` with `Min-SE` of this many seconds.
    TooSmall(u32),
}

/// A `Session-Expires` value: delta-seconds and the optional refresher.
pub fn parse_session_expires(value: &str) -> Option<(u32, Option<Refresher>)> {
    let mut parts = value.split(';');
    let delta = parts.next()?.trim();
    if delta.is_empty() || delta.len() > 10 || !delta.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let delta: u32 = delta.parse().ok()?;
    let mut refresher = None;
    for part in parts {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        if name.trim().eq_ignore_ascii_case("refresher") {
            refresher = match value.trim().to_ascii_lowercase().as_str() {
                "uac" => Some(Refresher::Uac),
                "uas" => Some(Refresher::Uas),
                _ => return None,
            };
        }
    }
    Some((delta, refresher))
}

/// True when `option` is listed in a `Supported` or `Require` header (compact `k` included).
fn lists_option(headers: &Headers, option: &str) -> bool {
    ["Supported", "k", "Require"].iter().any(|name| {
        headers
            .get_all(name)
            .flat_map(|value| value.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case(option))
    })
}

/// The UAS's decision for a request carrying these headers, with our `min_se_s` (at least
/// 90). A `Session-Expires` that does not parse is treated as absent.
pub fn uas_timer(headers: &Headers, min_se_s: u32) -> UasTimer {
    let min_se_s = min_se_s.max(MIN_SE_FLOOR_S);
    let expires = headers
        .get("Session-Expires")
        .or_else(|| headers.get("x"))
        .and_then(parse_session_expires);
    let Some((interval_s, refresher)) = expires else {
        return UasTimer::None;
    };
    if interval_s < min_se_s {
        return UasTimer::TooSmall(min_se_s);
    }
    if !lists_option(headers, "timer") {
        return UasTimer::None;
    }
    // §9: the UAS copies a refresher the UAC chose; without one it picks, and the UAC, which
    // supports timers, refreshes.
    UasTimer::Run(SessionTimer {
        interval_s,
        refresher: refresher.unwrap_or(Refresher::Uac),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        let mut headers = Headers::new();
        for (name, value) in pairs {
            headers.push(*name, *value);
        }
        headers
    }

    #[test]
    fn parses_session_expires() {
        assert_eq!(parse_session_expires("1800"), Some((1800, None)));
        assert_eq!(
            parse_session_expires("90;refresher=uas"),
            Some((90, Some(Refresher::Uas)))
        );
        assert_eq!(
            parse_session_expires("120 ; Refresher=UAC"),
            Some((120, Some(Refresher::Uac)))
        );
        for bad in ["", "x", "-5", "90;refresher=both", "99999999999", "1.5"] {
            assert_eq!(parse_session_expires(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_uas_accepts_refuses_or_ignores() {
        let asked = headers(&[
            ("Session-Expires", "120;refresher=uac"),
            ("Supported", "timer"),
        ]);
        assert_eq!(
            uas_timer(&asked, 90),
            UasTimer::Run(SessionTimer {
                interval_s: 120,
                refresher: Refresher::Uac
            })
        );
        let no_refresher = headers(&[("Session-Expires", "300"), ("Supported", "100rel, timer")]);
        assert_eq!(
            uas_timer(&no_refresher, 90),
            UasTimer::Run(SessionTimer {
                interval_s: 300,
                refresher: Refresher::Uac
            })
        );
        let uas = headers(&[("x", "200;refresher=uas"), ("k", "timer")]);
        assert!(matches!(
            uas_timer(&uas, 90),
            UasTimer::Run(SessionTimer {
                refresher: Refresher::Uas,
                ..
            })
        ));
        let small = headers(&[("Session-Expires", "60"), ("Supported", "timer")]);
        assert_eq!(uas_timer(&small, 90), UasTimer::TooSmall(90));
        assert_eq!(
            uas_timer(&small, 30),
            UasTimer::TooSmall(90),
            "90 is the floor"
        );
        let below_ours = headers(&[("Session-Expires", "100"), ("Supported", "timer")]);
        assert_eq!(uas_timer(&below_ours, 120), UasTimer::TooSmall(120));
        let unsupported = headers(&[("Session-Expires", "1800")]);
        assert_eq!(uas_timer(&unsupported, 90), UasTimer::None);
        assert_eq!(uas_timer(&headers(&[]), 90), UasTimer::None);
    }

    #[test]
    fn refresh_and_deadline_follow_rfc_4028() {
        let timer = SessionTimer {
            interval_s: 90,
            refresher: Refresher::Uac,
        };
        assert_eq!(timer.refresh_at_ms(1_000), 46_000);
        assert_eq!(timer.deadline_ms(0), 60_000, "a third of 90 s is 30 s");
        let long = SessionTimer {
            interval_s: 1800,
            refresher: Refresher::Uas,
        };
        assert_eq!(long.deadline_ms(0), 1_768_000, "at most 32 s before");
        assert_eq!(long.header_value(), "1800;refresher=uas");
    }
}
