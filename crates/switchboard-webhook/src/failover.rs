//! The failover policy for one TwiML fetch, pure and sans-IO (twilio-behaviour.md §1.6).
//!
//! Shape: [`Failover::poll_next`] says what to do next (send a request, record an alert, finish),
//! [`Failover::handle_outcome`] feeds back what a request produced. A failed fetch is recorded,
//! then the session's fallback URL is requested at once with the original parameters plus
//! `ErrorCode` and `ErrorUrl`; a usable fallback answer continues the session; a failing fallback
//! never falls back again; with no usable answer the verdict is "give up" and the engines decide
//! (voice: the platform prompt, then hang up; messaging: no reply). The policy needs no clock:
//! the fallback is immediate and every timeout belongs to the request itself.

use std::collections::VecDeque;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use switchboard_core::ErrorCode;

use crate::alert::AlertRecord;
use crate::request::{Method, redact_url};

/// product.md `--fallback-scope`: which TwiML fetches of a session may fall back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FallbackScope {
    /// Every TwiML fetch (initial URL, actions, `<Redirect>`, live-call updates). The default.
    #[default]
    All,
    /// Only the first fetch of a session.
    Initial,
}

/// `--fallback-scope` was neither `all` nor `initial`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fallback scope must be `all` or `initial`, not {0:?}")]
pub struct InvalidFallbackScope(pub String);

impl FromStr for FallbackScope {
    type Err = InvalidFallbackScope;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "all" => Ok(FallbackScope::All),
            "initial" => Ok(FallbackScope::Initial),
            other => Err(InvalidFallbackScope(other.to_string())),
        }
    }
}

/// A URL and method as configured (URL may carry userinfo and an override fragment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub url: String,
    pub method: Method,
}

impl Endpoint {
    pub fn new(url: impl Into<String>, method: Method) -> Self {
        Endpoint {
            url: url.into(),
            method,
        }
    }
}

/// One TwiML fetch of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchPlan {
    pub primary: Endpoint,
    /// The session's fallback URL (from the number, application or Calls create/update).
    pub fallback: Option<Endpoint>,
    /// The parameters of the request (standard and verb-specific ones).
    pub params: Vec<(String, String)>,
    /// Whether this is the first TwiML fetch of the session (for `FallbackScope::Initial`).
    pub initial: bool,
    pub scope: FallbackScope,
    /// Whether the primary's origin is guarded by its circuit breaker (`SwitchboardBreaker`):
    /// the request is skipped while the breaker is open.
    pub breaker: bool,
}

/// A request the driver must send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRequest {
    pub endpoint: Endpoint,
    pub params: Vec<(String, String)>,
    /// Whether this is the fallback request.
    pub fallback: bool,
    /// Whether the request's origin is guarded by its circuit breaker (the primary's, when the
    /// plan says so; never the fallback's).
    pub breaker: bool,
}

/// What a request produced, as the policy needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchReport {
    /// A usable answer (document, audio or text); `warnings` are recorded first.
    Usable { warnings: Vec<AlertRecord> },
    /// No usable answer: `alert` describes it. Its `request_variables` must be the parameters
    /// the request was sent with (as [`AlertRecord::from_exchange`] records them): the fallback
    /// request is built from them.
    Failed {
        code: ErrorCode,
        alert: Box<AlertRecord>,
        warnings: Vec<AlertRecord>,
    },
    /// The request was not sent: its origin's circuit breaker is open. It fails over like a
    /// failure with `code` (the origin's last), but is not alerted again: the breaker's opening
    /// was. `request_url` is the request's URL as `ErrorUrl` shows it.
    Skipped {
        code: ErrorCode,
        request_url: String,
        params: Vec<(String, String)>,
    },
}

/// How the fetch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Use the answer of the last request (which was the fallback when `from_fallback`).
    UseAnswer { from_fallback: bool },
    /// Neither URL gave a usable answer; `error_code` is the first failure's.
    GiveUp { error_code: ErrorCode },
}

/// The next thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Send(PlannedRequest),
    /// An alert to store (and push to the debugger webhook).
    Alert(AlertRecord),
    Finish(Verdict),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Primary,
    Fallback { first_error: ErrorCode },
    Done,
}

/// The policy state of one TwiML fetch.
#[derive(Clone, Debug)]
pub struct Failover {
    plan: FetchPlan,
    stage: Stage,
    queue: VecDeque<Action>,
    /// The parameters were moved into the primary request (no copy on the success path); a
    /// failure then takes them back from its alert's `request_variables`.
    params_sent: bool,
}

impl Failover {
    /// Starts a fetch: the first action is the primary request.
    pub fn new(mut plan: FetchPlan) -> Self {
        let method = plan.primary.method;
        let primary = PlannedRequest {
            endpoint: std::mem::replace(&mut plan.primary, Endpoint::new(String::new(), method)),
            params: std::mem::take(&mut plan.params),
            fallback: false,
            breaker: plan.breaker,
        };
        Failover {
            plan,
            stage: Stage::Primary,
            queue: VecDeque::from([Action::Send(primary)]),
            params_sent: true,
        }
    }

    /// Enters the policy after a runtime failure of a document that was fetched from
    /// `plan.primary` (e.g. an ERROR-level 13xxx): `ErrorUrl` is that document's URL.
    pub fn after_execution_failure(plan: FetchPlan, code: ErrorCode, alert: AlertRecord) -> Self {
        let alert = Box::new(alert);
        let mut failover = Failover {
            plan,
            stage: Stage::Primary,
            queue: VecDeque::new(),
            params_sent: false,
        };
        failover.handle_outcome(FetchReport::Failed {
            code,
            alert,
            warnings: Vec::new(),
        });
        failover
    }

    /// Whether a failure of the primary may go to the fallback URL.
    fn may_fall_back(&self) -> bool {
        self.plan.fallback.is_some() && (self.plan.scope == FallbackScope::All || self.plan.initial)
    }

    /// Feeds the outcome of the request last returned by [`poll_next`](Self::poll_next).
    pub fn handle_outcome(&mut self, report: FetchReport) {
        let (failure, warnings) = match report {
            FetchReport::Usable { warnings } => (None, warnings),
            FetchReport::Failed {
                code,
                alert,
                warnings,
            } => (Some((code, Some(alert))), warnings),
            FetchReport::Skipped {
                code,
                request_url,
                params,
            } => {
                if self.stage == Stage::Primary {
                    self.fall_back(code, &params, request_url, None);
                } else {
                    self.finish(Verdict::GiveUp { error_code: code });
                }
                return;
            }
        };
        self.queue.extend(warnings.into_iter().map(Action::Alert));
        match (self.stage, failure) {
            (Stage::Done, _) => {}
            (stage, None) => {
                let from_fallback = matches!(stage, Stage::Fallback { .. });
                self.finish(Verdict::UseAnswer { from_fallback });
            }
            (Stage::Primary, Some((code, Some(alert)))) => {
                // After `new`, the primary's URL and parameters live in the request it became; the
                // alert recorded both (URL redacted, without fragment: exactly `ErrorUrl`).
                let alert = *alert;
                if self.params_sent {
                    let (params, url) =
                        (alert.request_variables.clone(), alert.request_url.clone());
                    self.fall_back(code, &params, url, Some(alert));
                } else {
                    let params = std::mem::take(&mut self.plan.params);
                    let url = redact_url(&self.plan.primary.url);
                    self.fall_back(code, &params, url, Some(alert));
                }
            }
            (Stage::Primary, Some((code, None))) => {
                self.finish(Verdict::GiveUp { error_code: code })
            }
            (Stage::Fallback { first_error }, Some((_, alert))) => {
                if let Some(alert) = alert {
                    self.queue.push_back(Action::Alert(*alert));
                }
                self.finish(Verdict::GiveUp {
                    error_code: first_error,
                });
            }
        }
    }

    /// The primary failed (or was skipped) with `code`: its alert, if any, then the fallback
    /// request with `ErrorCode` and `ErrorUrl`, or the verdict when no fallback applies.
    fn fall_back(
        &mut self,
        code: ErrorCode,
        originals: &[(String, String)],
        error_url: String,
        alert: Option<AlertRecord>,
    ) {
        let fallback = self.plan.fallback.clone().filter(|_| self.may_fall_back());
        if let Some(alert) = alert {
            self.queue.push_back(Action::Alert(alert));
        }
        match fallback {
            Some(endpoint) => {
                self.queue.push_back(Action::Send(PlannedRequest {
                    endpoint,
                    params: fallback_params(originals, code, error_url),
                    fallback: true,
                    breaker: false,
                }));
                self.stage = Stage::Fallback { first_error: code };
            }
            None => self.finish(Verdict::GiveUp { error_code: code }),
        }
    }

    fn finish(&mut self, verdict: Verdict) {
        self.queue.push_back(Action::Finish(verdict));
        self.stage = Stage::Done;
    }

    /// Whether the next action is a request (rather than an alert or the verdict).
    pub fn next_is_request(&self) -> bool {
        matches!(self.queue.front(), Some(Action::Send(_)))
    }

    /// The next action, or `None` while a request is outstanding or after `Finish`.
    pub fn poll_next(&mut self) -> Option<Action> {
        self.queue.pop_front()
    }
}

/// The original parameters plus `ErrorCode` and `ErrorUrl` (`error_url`: the failing URL with
/// its query, without fragment, password redacted — see [`redact_url`]). Any earlier
/// `ErrorCode`/`ErrorUrl` is replaced.
pub fn fallback_params(
    params: &[(String, String)],
    code: ErrorCode,
    error_url: String,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = params
        .iter()
        .filter(|(name, _)| name != "ErrorCode" && name != "ErrorUrl")
        .cloned()
        .collect();
    params.push(("ErrorCode".to_string(), code.code.to_string()));
    params.push(("ErrorUrl".to_string(), error_url));
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertLevel;
    use switchboard_core::error_code::{
        HTTP_RETRIEVAL_FAILURE, INVALID_URL_FORMAT, TCP_CONNECTION_REFUSED,
    };

    fn alert(code: u32, level: AlertLevel) -> AlertRecord {
        AlertRecord {
            error_code: code,
            level,
            message: String::new(),
            source_component: "12000".into(),
            request_url: "https://u:***@a.example/voice?x=1".into(),
            request_method: "POST".into(),
            request_variables: vec![
                ("CallSid".into(), "CA1".into()),
                ("Digits".into(), "12".into()),
            ],
            request_headers: Vec::new(),
            response_status: None,
            response_headers: Vec::new(),
            response_body: String::new(),
            attempts: 1,
            duration_ms: 0,
            fallback: false,
            alert_text: String::new(),
        }
    }

    fn plan(fallback: bool, initial: bool, scope: FallbackScope) -> FetchPlan {
        FetchPlan {
            primary: Endpoint::new("https://u:secret@a.example/voice?x=1#ct=100", Method::Post),
            fallback: fallback.then(|| Endpoint::new("https://b.example/fallback", Method::Get)),
            params: vec![
                ("CallSid".into(), "CA1".into()),
                ("Digits".into(), "12".into()),
            ],
            initial,
            scope,
            breaker: false,
        }
    }

    fn failed(code: ErrorCode) -> FetchReport {
        FetchReport::Failed {
            code,
            alert: Box::new(alert(code.code, AlertLevel::Error)),
            warnings: Vec::new(),
        }
    }

    fn drain(failover: &mut Failover) -> Vec<Action> {
        std::iter::from_fn(|| failover.poll_next()).collect()
    }

    fn expect_send(actions: &[Action], fallback: bool) -> PlannedRequest {
        match actions.last() {
            Some(Action::Send(request)) if request.fallback == fallback => request.clone(),
            other => panic!("expected a send, got {other:?}"),
        }
    }

    #[test]
    fn a_skipped_primary_goes_to_the_fallback_without_an_alert() {
        let mut failover = Failover::new(plan(true, true, FallbackScope::All));
        let primary = expect_send(&drain(&mut failover), false);
        failover.handle_outcome(FetchReport::Skipped {
            code: switchboard_core::error_code::HTTP_CONNECTION_FAILURE,
            request_url: "https://u:***@a.example/voice?x=1".into(),
            params: primary.params,
        });
        let actions = drain(&mut failover);
        assert!(
            !actions
                .iter()
                .any(|action| matches!(action, Action::Alert(_))),
            "{actions:?}"
        );
        let fallback = expect_send(&actions, true);
        assert!(
            fallback
                .params
                .contains(&("ErrorCode".into(), "11205".into()))
        );
        assert!(fallback.params.contains(&(
            "ErrorUrl".into(),
            "https://u:***@a.example/voice?x=1".into()
        )));
        assert!(fallback.params.contains(&("Digits".into(), "12".into())));
        // Without a fallback, a skipped primary gives up with its code.
        let mut alone = Failover::new(plan(false, true, FallbackScope::All));
        drain(&mut alone);
        alone.handle_outcome(FetchReport::Skipped {
            code: switchboard_core::error_code::HTTP_CONNECTION_FAILURE,
            request_url: String::new(),
            params: Vec::new(),
        });
        assert_eq!(
            drain(&mut alone),
            vec![Action::Finish(Verdict::GiveUp {
                error_code: switchboard_core::error_code::HTTP_CONNECTION_FAILURE
            })]
        );
    }

    #[test]
    fn primary_success() {
        let mut failover = Failover::new(plan(true, true, FallbackScope::All));
        expect_send(&drain(&mut failover), false);
        let warning = alert(11100, AlertLevel::Warning);
        failover.handle_outcome(FetchReport::Usable {
            warnings: vec![warning.clone()],
        });
        assert_eq!(
            drain(&mut failover),
            [
                Action::Alert(warning),
                Action::Finish(Verdict::UseAnswer {
                    from_fallback: false
                })
            ]
        );
    }

    #[test]
    fn failure_goes_to_fallback_once_with_error_params() {
        let mut failover = Failover::new(plan(true, false, FallbackScope::All));
        drain(&mut failover);
        failover.handle_outcome(failed(HTTP_RETRIEVAL_FAILURE));
        let actions = drain(&mut failover);
        assert!(matches!(&actions[0], Action::Alert(a) if a.error_code == 11200));
        let request = expect_send(&actions, true);
        assert_eq!(request.endpoint.url, "https://b.example/fallback");
        assert_eq!(
            request.params,
            [
                ("CallSid".to_string(), "CA1".to_string()),
                ("Digits".to_string(), "12".to_string()),
                ("ErrorCode".to_string(), "11200".to_string()),
                (
                    "ErrorUrl".to_string(),
                    "https://u:***@a.example/voice?x=1".to_string()
                ),
            ]
        );
        failover.handle_outcome(FetchReport::Usable {
            warnings: Vec::new(),
        });
        assert_eq!(
            drain(&mut failover),
            [Action::Finish(Verdict::UseAnswer {
                from_fallback: true
            })]
        );
    }

    #[test]
    fn failing_fallback_gives_up_without_looping() {
        let mut failover = Failover::new(plan(true, true, FallbackScope::All));
        drain(&mut failover);
        failover.handle_outcome(failed(TCP_CONNECTION_REFUSED));
        drain(&mut failover);
        failover.handle_outcome(failed(HTTP_RETRIEVAL_FAILURE));
        let actions = drain(&mut failover);
        assert_eq!(actions.len(), 2);
        assert!(matches!(&actions[0], Action::Alert(a) if a.error_code == 11200));
        assert_eq!(
            actions[1],
            Action::Finish(Verdict::GiveUp {
                error_code: TCP_CONNECTION_REFUSED
            })
        );
        failover.handle_outcome(failed(HTTP_RETRIEVAL_FAILURE));
        assert!(drain(&mut failover).is_empty());
    }

    #[test]
    fn no_fallback_or_out_of_scope_gives_up() {
        for plan in [
            plan(false, true, FallbackScope::All),
            plan(true, false, FallbackScope::Initial),
        ] {
            let mut failover = Failover::new(plan);
            drain(&mut failover);
            failover.handle_outcome(failed(HTTP_RETRIEVAL_FAILURE));
            let actions = drain(&mut failover);
            assert_eq!(actions.len(), 2);
            assert_eq!(
                actions[1],
                Action::Finish(Verdict::GiveUp {
                    error_code: HTTP_RETRIEVAL_FAILURE
                })
            );
        }
        let mut initial = Failover::new(plan(true, true, FallbackScope::Initial));
        drain(&mut initial);
        initial.handle_outcome(failed(HTTP_RETRIEVAL_FAILURE));
        expect_send(&drain(&mut initial), true);
    }

    #[test]
    fn execution_failure_enters_fallback() {
        let mut failover = Failover::after_execution_failure(
            plan(true, false, FallbackScope::All),
            INVALID_URL_FORMAT,
            alert(11100, AlertLevel::Error),
        );
        let request = expect_send(&drain(&mut failover), true);
        assert!(
            request
                .params
                .contains(&("ErrorCode".to_string(), "11100".to_string()))
        );
    }

    #[test]
    fn scope_parses() {
        assert_eq!(
            "initial".parse::<FallbackScope>(),
            Ok(FallbackScope::Initial)
        );
        assert!("sometimes".parse::<FallbackScope>().is_err());
    }
}
