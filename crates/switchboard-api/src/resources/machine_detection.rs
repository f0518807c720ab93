//! The answering-machine detection parameters of `POST …/Calls.json`: `MachineDetection`,
//! `AsyncAmd`, `AsyncAmdStatusCallback(Method)` and the four thresholds, read into the
//! engine's `MachineDetection`.
//!
//! Values Twilio's description types as integers but that are not numbers are refused (400,
//! 20422). Numbers outside Twilio's documented ranges are clamped to the range and the call is
//! placed with a WARNING alert (20422) naming the parameter, the value and what was used
//! (product.md Decision 18, as for webhook overrides): Twilio's own answer to such values is
//! not documented, and refusing a call for a threshold would lose the call.
//! Without `MachineDetection` the other parameters have no effect, as on Twilio.

use switchboard_amd::{Mode, Settings};
use switchboard_core::{ErrorCode, error_code};
use switchboard_engine::voice::MachineDetection;
use switchboard_webhook::alert::{AlertLevel, AlertRecord, alert_text};
use switchboard_webhook::{Endpoint, Method};

use super::scoped::Scoped;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::validate;

/// One threshold: its parameter, Twilio's range and default, and the unit it is given in
/// (`Settings` keeps milliseconds; the timeout is given in seconds).
struct Threshold {
    name: &'static str,
    min: u32,
    max: u32,
    default: u32,
    ms_per_unit: u32,
    set: fn(&mut Settings, u32),
}

const THRESHOLDS: [Threshold; 4] = [
    Threshold {
        name: "MachineDetectionTimeout",
        min: 3,
        max: 60,
        default: 30,
        ms_per_unit: 1000,
        set: |settings, ms| settings.timeout_ms = ms,
    },
    Threshold {
        name: "MachineDetectionSpeechThreshold",
        min: 1000,
        max: 6000,
        default: 2400,
        ms_per_unit: 1,
        set: |settings, ms| settings.speech_threshold_ms = ms,
    },
    Threshold {
        name: "MachineDetectionSpeechEndThreshold",
        min: 500,
        max: 5000,
        default: 1200,
        ms_per_unit: 1,
        set: |settings, ms| settings.speech_end_threshold_ms = ms,
    },
    Threshold {
        name: "MachineDetectionSilenceTimeout",
        min: 2000,
        max: 10000,
        default: 5000,
        ms_per_unit: 1,
        set: |settings, ms| settings.silence_timeout_ms = ms,
    },
];

/// What the request asked for, and the clamped values to warn about.
pub(crate) struct Requested {
    pub detection: Option<MachineDetection>,
    pub clamped: Vec<String>,
}

fn bad(code: ErrorCode, message: String) -> ApiError {
    ApiError::bad_request(code, message)
}

/// Reads the detection parameters (their enums were checked with the create's other enums).
pub(crate) fn requested(params: &Params) -> ApiResult<Requested> {
    let mut clamped = Vec::new();
    let mut settings = Settings::new(Mode::Enable);
    for threshold in &THRESHOLDS {
        let value = threshold_value(params, threshold, &mut clamped)?;
        (threshold.set)(&mut settings, value * threshold.ms_per_unit);
    }
    let callback = match params.get("AsyncAmdStatusCallback") {
        Some(url) => {
            validate::webhook_url("AsyncAmdStatusCallback", url, error_code::CALL_INVALID_URL)?
        }
        None => String::new(),
    };
    let method = match params
        .get("AsyncAmdStatusCallbackMethod")
        .filter(|m| !m.is_empty())
    {
        None => Method::Post,
        Some(value) => Method::parse(value).ok_or_else(|| {
            bad(
                error_code::CALL_INVALID_METHOD,
                format!("AsyncAmdStatusCallbackMethod must be GET or POST, not {value:?}"),
            )
        })?,
    };
    let asynchronous = match params.get("AsyncAmd").filter(|v| !v.is_empty()) {
        Some(value) => validate::boolean("AsyncAmd", value)?,
        None => false,
    };
    let mode = params
        .get("MachineDetection")
        .filter(|v| !v.is_empty())
        .map(|value| {
            Mode::parse(value).ok_or_else(|| {
                bad(
                    error_code::INVALID_PARAMETER,
                    format!(
                        "MachineDetection must be one of Enable, DetectMessageEnd, not {value:?}"
                    ),
                )
            })
        })
        .transpose()?;
    let detection = mode.map(|mode| MachineDetection {
        settings: Settings { mode, ..settings },
        asynchronous,
        callback: (!callback.is_empty()).then(|| Endpoint::new(callback, method)),
    });
    Ok(Requested { detection, clamped })
}

/// A threshold's value in its own unit: the default when absent, clamped into the range.
fn threshold_value(
    params: &Params,
    threshold: &Threshold,
    clamped: &mut Vec<String>,
) -> ApiResult<u32> {
    let name = threshold.name;
    let Some(text) = params.get(name).filter(|v| !v.is_empty()) else {
        return Ok(threshold.default);
    };
    let value: i64 = text.trim().parse().map_err(|_| {
        bad(
            error_code::INVALID_PARAMETER,
            format!("{name} must be a whole number, not {text:?}"),
        )
    })?;
    let used = value.clamp(i64::from(threshold.min), i64::from(threshold.max));
    if used != value {
        clamped.push(format!(
            "{name}={value} is outside {}–{}; clamped to {used}",
            threshold.min, threshold.max
        ));
    }
    // Clamped into a u32 range just above.
    Ok(u32::try_from(used).unwrap_or(threshold.default))
}

impl<P, C> Scoped<P, C> {
    /// One WARNING alert (20422) about the call for each clamped threshold.
    pub(crate) async fn warn_clamped(&self, call_sid: &str, clamped: &[String]) {
        for message in clamped {
            let code = error_code::INVALID_PARAMETER;
            let url = format!("{}{}", self.state.public_url, self.uri.path());
            let alert = AlertRecord {
                error_code: code.code,
                level: AlertLevel::Warning,
                alert_text: alert_text(message, "api", code, None, AlertLevel::Warning, &url),
                message: message.clone(),
                source_component: "api".into(),
                request_url: url,
                request_method: "POST".into(),
                request_variables: Vec::new(),
                request_headers: Vec::new(),
                response_status: None,
                response_headers: Vec::new(),
                response_body: String::new(),
                attempts: 0,
                duration_ms: 0,
                fallback: false,
            };
            let engine = &self.state.engine;
            if let Err(error) = switchboard_engine::alerts::record(
                engine,
                &self.account.sid,
                Some(call_sid),
                &alert,
            )
            .await
            {
                tracing::warn!(%error, "recording a clamped-parameter alert failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> ApiResult<Requested> {
        requested(&Params::parse(body.as_bytes()).expect("params"))
    }

    #[test]
    fn defaults_ranges_and_modes() {
        let none = read("To=%2B1").expect("ok");
        assert!(none.detection.is_none() && none.clamped.is_empty());
        let plain = read("MachineDetection=DetectMessageEnd").expect("ok");
        let detection = plain.detection.expect("detection");
        assert_eq!(detection.settings, Settings::new(Mode::DetectMessageEnd));
        assert!(!detection.asynchronous && detection.callback.is_none());
        let given = read(
            "MachineDetection=Enable&MachineDetectionTimeout=99&MachineDetectionSpeechThreshold=1500\
             &MachineDetectionSpeechEndThreshold=100&MachineDetectionSilenceTimeout=2500\
             &AsyncAmd=true&AsyncAmdStatusCallback=https%3A%2F%2Fa.example%2Famd&AsyncAmdStatusCallbackMethod=GET",
        )
        .expect("ok");
        let detection = given.detection.expect("detection");
        assert_eq!(detection.settings.timeout_ms, 60_000);
        assert_eq!(detection.settings.speech_threshold_ms, 1500);
        assert_eq!(detection.settings.speech_end_threshold_ms, 500);
        assert_eq!(detection.settings.silence_timeout_ms, 2500);
        assert!(detection.asynchronous);
        let callback = detection.callback.expect("callback");
        assert_eq!(
            (callback.url.as_str(), callback.method),
            ("https://a.example/amd", Method::Get)
        );
        assert_eq!(given.clamped.len(), 2);
        assert!(given.clamped[0].starts_with("MachineDetectionTimeout=99 is outside 3–60"));
    }

    #[test]
    fn unreadable_values_are_refused() {
        for body in [
            "MachineDetection=enable",
            "MachineDetection=Enable&MachineDetectionTimeout=soon",
            "MachineDetection=Enable&AsyncAmd=maybe",
            "MachineDetection=Enable&AsyncAmdStatusCallbackMethod=PUT",
            "MachineDetection=Enable&AsyncAmdStatusCallback=not%20a%20url",
        ] {
            assert!(read(body).is_err(), "{body}");
        }
    }
}
