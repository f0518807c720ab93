//! Answering-machine detection of an outbound API leg (`MachineDetection` on `Calls.json`).
//!
//! Detection starts when the leg is answered and ends with one verdict (`switchboard_amd`):
//! - a sandbox handset is modelled (`switchboard_amd::script`: its `AnsweredBy` setting, a
//!   person by default, as a timeline of speech, silence and tones), and the verdict is due
//!   after the time the same rules take on that timeline, on the call's clock;
//! - a SIP leg's RTP session runs the detector over the audio the callee sends
//!   (`MediaHandle::detect_machine`); a timer at `MachineDetectionTimeout` plus a second ends it
//!   `unknown` should the audio stop arriving altogether.
//!
//! The verdict is written to the call (`answered_by`) and the transcript (`amd` event). Then,
//! synchronous detection feeds the flow `MachineDetected`, which was holding the first TwiML
//! fetch; with `AsyncAmd` the TwiML already runs, and the verdict goes to
//! `AsyncAmdStatusCallback` through the outbox (durable, signed, retried like every callback).

use serde_json::json;
use switchboard_amd::{AnsweredBy, Settings, Verdict, script};
use switchboard_flow::Input;
use switchboard_webhook::{Channel, CookieJar, Endpoint, WebhookRequest};

use crate::Engine;
use crate::outbox;
use crate::voice::callbacks::{self, AlertTarget};
use crate::voice::driver::{Driver, FarEnd};
use crate::voice::media::MediaEnd;
use crate::voice::timers::Due;

/// How a leg detects (from the create request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineDetection {
    pub settings: Settings,
    /// `AsyncAmd=true`: the TwiML runs at once, the verdict goes to `callback`.
    pub asynchronous: bool,
    /// `AsyncAmdStatusCallback` and its method.
    pub callback: Option<Endpoint>,
}

/// Slack past `MachineDetectionTimeout` before a SIP leg whose audio stopped is `unknown`.
const BACKSTOP_MS: u64 = 1_000;

impl Driver {
    /// The leg was answered: detection starts on its far end.
    pub(crate) fn start_detection(&mut self) {
        let Some(amd) = &self.amd else {
            return;
        };
        let settings = amd.settings;
        let now = self.clock.now_ms();
        if let MediaEnd::Sip(leg) = &self.media {
            leg.detect_machine(settings);
            let at = now + u64::from(settings.timeout_ms) + BACKSTOP_MS;
            self.timers.add(at, Due::DetectionTimeout);
            return;
        }
        let answered_by = match &self.far_end {
            FarEnd::Handset { handset, .. } => handset.answered_by.unwrap_or(AnsweredBy::Human),
            _ => AnsweredBy::Human,
        };
        let verdict = match script::Handset::of(answered_by) {
            Some(model) => model.detect(settings),
            None => Verdict {
                answered_by,
                duration_ms: settings.timeout_ms,
            },
        };
        self.timers.add(
            now + u64::from(verdict.duration_ms),
            Due::MachineDetected(verdict),
        );
    }

    /// The detection timeout passed on a SIP leg with no verdict from its audio.
    pub(crate) async fn detection_timed_out(&mut self) {
        let Some(amd) = &self.amd else {
            return;
        };
        let verdict = Verdict {
            answered_by: AnsweredBy::Unknown,
            duration_ms: amd.settings.timeout_ms,
        };
        self.machine_detected(verdict).await;
    }

    /// The verdict (once): stored, logged, then given to the flow or the async callback.
    pub(crate) async fn machine_detected(&mut self, verdict: Verdict) {
        let Some(amd) = self.amd.take() else {
            return;
        };
        self.timers
            .cancel_where(|due| matches!(due, Due::DetectionTimeout));
        let answered_by = verdict.answered_by.as_str();
        self.log.push(
            "amd",
            json!({"answered_by": answered_by, "duration_ms": verdict.duration_ms,
                   "mode": amd.settings.mode.as_str(), "async": amd.asynchronous}),
        );
        let state = self.state.clone();
        store_answered_by(&state, self.call_sid(), answered_by).await;
        if !amd.asynchronous {
            self.feed(Input::MachineDetected {
                answered_by: answered_by.to_owned(),
                duration_ms: verdict.duration_ms,
            });
        } else if let Some(callback) = amd.callback {
            send_amd_callback(self.alert_target(), callback, verdict).await;
        }
    }
}

/// Writes the verdict to the stored call (`answered_by`).
async fn store_answered_by(state: &Engine, sid: &str, answered_by: &str) {
    let result = match state.store.get(switchboard_store::Kind::Call, sid).await {
        Ok(Some(mut record)) => {
            record.doc["answered_by"] = json!(answered_by);
            record.doc["date_updated"] = json!(crate::now_ms());
            state.store.update(&record).await
        }
        Ok(None) => return,
        Err(error) => Err(error),
    };
    if let Err(error) = result {
        tracing::error!(?error, call = %sid, "storing answered_by failed");
    }
}

/// `AsyncAmdStatusCallback`: written to the outbox, then attempted on a task of its own (a
/// failure is an alert about the call; the outbox retries it).
async fn send_amd_callback(target: AlertTarget, callback: Endpoint, verdict: Verdict) {
    let params = [
        ("AccountSid", target.account_sid.clone()),
        ("CallSid", target.call_sid.clone()),
        ("AnsweredBy", verdict.answered_by.as_str().to_owned()),
        ("MachineDetectionDuration", verdict.duration_ms.to_string()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let request = WebhookRequest::form(callback.url, callback.method, params);
    let pending = outbox::enqueue(
        &target.state,
        &target.account_sid,
        Some(&target.call_sid),
        outbox::Kind::AmdStatus,
        Channel::Voice,
        request,
    )
    .await;
    let state = target.state.clone();
    state.spawn(async move {
        callbacks::send(&target, &mut CookieJar::default(), pending).await;
    });
}
