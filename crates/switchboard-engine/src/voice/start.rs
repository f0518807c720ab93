//! Starting legs: inbound sandbox calls (the number's Voice URL or its application's), outbound
//! REST calls to virtual handsets, and `<Dial>` legs to this engine's own numbers; and the
//! supervisor that turns a failing driver into a `failed` call with an alert, never a failing
//! engine.

use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use switchboard_core::{Sid, SidKind, error_code};
use switchboard_flow::{Call, CallSetup, Direction, GeoOverrides, Initial};
use switchboard_store::{Kind, Record};

use switchboard_webhook::{CookieJar, Endpoint};
use tokio::sync::oneshot;

use crate::account::Account;
use crate::error::EngineResult;
use crate::last_resort::Resilience;
use crate::sandbox::Log;
use crate::voice::amd::MachineDetection;
use crate::voice::callbacks::{CallbackQueue, StatusCallback};
use crate::voice::clock::Clock;
use crate::voice::driver::{Driver, FarEnd, LegEnd};
use crate::voice::leg::{self, LegInfo};
use crate::voice::live::CallInput;
use crate::voice::media::{Keys, MediaEnd};
use crate::voice::perform::flow_alert;
use crate::voice::sip::SipLeg;
use crate::voice::timers::Timers;
use crate::{Engine, alerts, session};

/// Everything needed to run one leg.
pub struct LegStart {
    pub account: Account,
    pub setup: CallSetup,
    pub fallback: Option<Endpoint>,
    /// The number's `SwitchboardBreaker` (the session's fetches consult the circuit breaker of
    /// their primary's origin).
    pub breaker: bool,
    /// The number's last-known-good and last-resort settings (`None` for API calls, whose
    /// TwiML comes from the request).
    pub resilience: Option<Resilience>,
    pub status_callback: Option<StatusCallback>,
    pub far_end: FarEnd,
    /// `Clock=fast`: the virtual clock.
    pub fast: bool,
    pub time_limit_s: Option<u32>,
    pub phone_number_sid: Option<String>,
    /// Calls `Record=true` with its recording options: record the whole call from the answer
    /// (`RecordingUrl` in the completed callback).
    pub record: Option<crate::voice::call_recording::RecordingOptions>,
    /// Calls `SendDigits`: keys played to the callee once it answers.
    pub send_digits: Option<String>,
    /// A drill (`switchboard drill`): the session's first fetch goes to the fallback as if the
    /// primary had failed with 11200.
    pub drill: bool,
    /// Calls `MachineDetection`: answering-machine detection once answered.
    pub amd: Option<MachineDetection>,
}

/// Stores the leg, opens its transcript and starts its driver; the receiver learns its end.
pub async fn start_leg(
    state: &Engine,
    start: LegStart,
) -> EngineResult<(Record, oneshot::Receiver<LegEnd>)> {
    start_leg_with(state, start, None).await
}

/// `start_leg` for a real call: its media actions run on `sip`'s RTP session.
pub(crate) async fn start_sip_leg(
    state: &Engine,
    start: LegStart,
    sip: SipLeg,
) -> EngineResult<(Record, oneshot::Receiver<LegEnd>)> {
    start_leg_with(state, start, Some(sip)).await
}

async fn start_leg_with(
    state: &Engine,
    mut start: LegStart,
    sip: Option<SipLeg>,
) -> EngineResult<(Record, oneshot::Receiver<LegEnd>)> {
    start.setup.error_prompt = state.error_prompt.to_string();
    start.setup.machine_detection = start.amd.as_ref().is_some_and(|amd| !amd.asynchronous);
    let setup = &start.setup;
    let status = match setup.direction {
        Direction::Inbound => "ringing",
        Direction::OutboundApi | Direction::OutboundDial => "queued",
    };
    let info = LegInfo {
        sid: setup.call_sid.as_str().to_owned(),
        account_sid: start.account.sid.clone(),
        from: setup.from.clone(),
        to: setup.to.clone(),
        direction: setup.direction.as_str(),
        status,
        parent_call_sid: setup
            .parent_call_sid
            .as_ref()
            .map(|sid| sid.as_str().to_owned()),
        phone_number_sid: start.phone_number_sid.clone(),
        caller_name: setup.caller_name.clone(),
        forwarded_from: setup.forwarded_from.clone(),
        status_callback: start.status_callback.clone(),
    };
    let resilience = start.resilience.clone();
    let record = leg::new_record(&info, &state.node_id);
    state.store.insert(&record).await?;
    let sid = info.sid.clone();
    let log = state.sandbox.open_log(&sid);
    let inputs = state.live.register(&sid);
    let driver = Driver {
        state: state.clone(),
        account: start.account,
        call: Call::new(start.setup),
        log,
        clock: Clock::new(start.fast),
        stored_status: status,
        inputs,
        fallback: start.fallback,
        breaker: start.breaker,
        document_initial: true,
        resilience,
        last_resort_used: false,
        cookies: CookieJar::default(),
        fetch: None,
        timers: Timers::default(),
        keys: Keys::default(),
        dial: None,
        callbacks: CallbackQueue::new(start.status_callback),
        far_end: start.far_end,
        time_limit_s: start.time_limit_s,
        answered_at_ms: None,
        record_call: start.record,
        recordings: Default::default(),
        seat: None,
        send_digits: start.send_digits,
        drill: start.drill,
        amd: start.amd.map(Box::new),
        ready: Default::default(),
        media: sip.map_or_else(MediaEnd::sandbox, MediaEnd::Sip),
        streams: Default::default(),
        transcribe: None,
    };
    Ok((record, supervise(state.clone(), driver)))
}

/// Runs the driver on its own task; a panic ends the call `failed` with an ERROR alert.
fn supervise(state: Engine, driver: Driver) -> oneshot::Receiver<LegEnd> {
    let sid = driver.call_sid().to_owned();
    let account_sid = driver.account.sid.clone();
    let log = driver.log.clone();
    supervise_run(state, sid, account_sid, log, driver.run())
}

/// Runs `run` (a leg's driver) on a task of its own and reports how the leg ended. When the task
/// fails (a panic: a bug), the leg is recorded `failed`, an ERROR alert (12400) is stored and
/// shown in its transcript, and the transcript is closed: the engine and other calls go on.
pub(crate) fn supervise_run(
    state: Engine,
    sid: String,
    account_sid: String,
    log: Arc<Log>,
    run: impl Future<Output = LegEnd> + Send + 'static,
) -> oneshot::Receiver<LegEnd> {
    let (sender, receiver) = oneshot::channel();
    metrics::gauge!("switchboard_calls_active").increment(1.0);
    let engine = state.clone();
    engine.spawn(async move {
        let end = match state.spawn(run).await {
            Ok(end) => end,
            Err(error) => {
                let reason = if error.is_panic() {
                    "panicked"
                } else {
                    "was cancelled"
                };
                tracing::error!(call = %sid, "the call's driver {reason}");
                record_failure(&state, &sid, &account_sid, &log, reason).await;
                LegEnd {
                    status: switchboard_flow::CallStatus::Failed,
                    duration_s: 0,
                    sip_response_code: None,
                }
            }
        };
        state.live.unregister(&sid);
        metrics::gauge!("switchboard_calls_active").decrement(1.0);
        let _ = sender.send(end);
    });
    receiver
}

async fn record_failure(state: &Engine, sid: &str, account_sid: &str, log: &Log, reason: &str) {
    let alert = switchboard_flow::Alert {
        code: error_code::INTERNAL_FAILURE,
        level: switchboard_twiml::Level::Error,
        message: format!(
            "The engine failed while running this call (its driver {reason}); the call ended as failed"
        ),
        url: None,
    };
    let record = flow_alert(&alert);
    match alerts::record(state, account_sid, Some(sid), &record).await {
        Ok(alert_sid) => log.push(
            "alert",
            json!({"sid": alert_sid, "error_code": record.error_code, "level": "error"}),
        ),
        Err(error) => tracing::error!(?error, "recording an alert failed"),
    }
    log.push("status", json!({"status": "failed"}));
    if let Ok(Some(mut stored)) = state.store.get(Kind::Call, sid).await
        && !leg::is_terminal(stored.status.as_deref().unwrap_or_default())
        && let Err(error) = leg::set_status(state, &mut stored, "failed", true, Some(0)).await
    {
        tracing::error!(?error, "storing a failed call failed");
    }
    state.live.unregister(sid);
    log.finish();
}

/// Where a number's calls go: its voice application's URLs, else its own.
#[derive(Clone, Debug, Default)]
pub struct VoiceHandler {
    pub primary: Option<Endpoint>,
    pub fallback: Option<Endpoint>,
    pub status_callback: Option<StatusCallback>,
    pub application_sid: Option<String>,
    pub breaker: bool,
    /// The number's last-known-good and last-resort settings.
    pub resilience: Option<Resilience>,
}

pub async fn number_handler(
    state: &Engine,
    number: &serde_json::Value,
) -> EngineResult<VoiceHandler> {
    let handler = session::handler(state, number, switchboard_webhook::Channel::Voice).await?;
    Ok(VoiceHandler {
        primary: handler.primary,
        fallback: handler.fallback,
        status_callback: handler
            .status_callback
            .map(|endpoint| StatusCallback::new(endpoint.url, endpoint.method, Vec::new())),
        application_sid: handler.application_sid,
        breaker: handler.breaker,
        resilience: Resilience::of_settings(number),
    })
}

/// The first TwiML of a handler: its URL, or (no URL configured) an empty document.
pub(crate) fn initial_of(handler: &VoiceHandler) -> Initial {
    match &handler.primary {
        Some(endpoint) => Initial::Fetch {
            url: endpoint.url.clone(),
            method: endpoint.method,
        },
        None => Initial::Inline(Default::default()),
    }
}

pub(crate) fn account_sid_of(account: &Account) -> Sid {
    Sid::parse(SidKind::Account, &account.sid).unwrap_or_else(|| Sid::generate(SidKind::Account))
}

/// A sandbox caller dialling a provisioned number.
#[derive(Clone, Debug)]
pub struct InboundCall {
    pub from: String,
    pub to: String,
    pub caller_name: Option<String>,
    pub forwarded_from: Option<String>,
    pub fast: bool,
    /// Keys the caller types ahead (a sandbox extension of `POST /sandbox/Calls`).
    pub digits: Option<String>,
    /// `Drill=true`: the first request treats the primary as failed (11200) without
    /// requesting it, so the fallback answers the call.
    pub drill: bool,
    /// `FromState`, `ToCountry`, … set over what the numbers tell (sandbox).
    pub geo: GeoOverrides,
}

/// How an inbound sandbox call began: its SID and its status (`ringing`, or `failed` when
/// the number's account is not active and the call was refused).
#[derive(Clone, Debug)]
pub struct InboundStarted {
    pub sid: String,
    pub status: &'static str,
}

/// Starts an inbound call to `number`; a number whose account is suspended or closed (or whose
/// parent is) does not answer: see `refuse_inbound`.
pub async fn inbound(
    state: &Engine,
    account: &Account,
    number: &Record,
    call: InboundCall,
) -> EngineResult<InboundStarted> {
    if !crate::account::is_active(&*state.store, account).await? {
        return refuse_inbound(state, account, number, call).await;
    }
    let handler = number_handler(state, &number.doc).await?;
    let call_sid = Sid::generate(SidKind::Call);
    let mut setup = CallSetup::new(
        call_sid.clone(),
        account_sid_of(account),
        call.from,
        call.to,
        Direction::Inbound,
        initial_of(&handler),
    );
    setup.caller_name = call.caller_name;
    setup.forwarded_from = call.forwarded_from;
    call.geo.apply(&mut setup.from_geo, &mut setup.to_geo);
    setup.application_sid = handler
        .application_sid
        .as_deref()
        .and_then(|sid| Sid::parse(SidKind::Application, sid));
    let start = LegStart {
        account: account.clone(),
        setup,
        fallback: handler.fallback,
        breaker: handler.breaker,
        resilience: handler.resilience,
        status_callback: handler.status_callback,
        far_end: FarEnd::Caller,
        fast: call.fast,
        time_limit_s: None,
        phone_number_sid: Some(number.sid.clone()),
        record: None,
        send_digits: None,
        drill: call.drill,
        amd: None,
    };
    start_leg(state, start).await?;
    if let Some(digits) = call.digits {
        state
            .live
            .send(call_sid.as_str(), CallInput::Digits(digits));
    }
    Ok(InboundStarted {
        sid: call_sid.into_string(),
        status: "ringing",
    })
}

/// A call to a number of an account that is not active: nothing of the account runs, so no
/// webhook is requested, no status callback sent and no alert pushed to its debugger webhook.
/// The call is stored at once as `failed` (inbound, duration 0; Twilio's caller would hear the
/// number is unavailable, the SIP side answers `403`) so the parent sees it in the account's
/// call log, and its transcript is one `refused` event (`error_code` 20005) and the `failed`
/// status, already finished.
async fn refuse_inbound(
    state: &Engine,
    account: &Account,
    number: &Record,
    call: InboundCall,
) -> EngineResult<InboundStarted> {
    let sid = Sid::generate(SidKind::Call).into_string();
    let info = LegInfo {
        sid: sid.clone(),
        account_sid: account.sid.clone(),
        from: call.from,
        to: call.to,
        direction: "inbound",
        status: "failed",
        parent_call_sid: None,
        phone_number_sid: Some(number.sid.clone()),
        caller_name: call.caller_name,
        forwarded_from: call.forwarded_from,
        status_callback: None,
    };
    let mut record = leg::new_record(&info, &state.node_id);
    record.doc["end_time"] = record.doc["start_time"].clone();
    record.doc["duration"] = json!("0");
    record.date_key = Some(record.created_ms);
    state.store.insert(&record).await?;
    let log = state.sandbox.open_log(&sid);
    let code = error_code::ACCOUNT_NOT_ACTIVE;
    log.push(
        "refused",
        json!({"error_code": code.code, "message": code.message}),
    );
    log.push("status", json!({"status": "failed"}));
    log.finish();
    metrics::counter!("switchboard_calls_refused_total", "reason" => "account_not_active")
        .increment(1);
    Ok(InboundStarted {
        sid,
        status: "failed",
    })
}

/// The calling leg of a `<Dial>`, as its child needs it.
pub(crate) struct DialParent {
    pub state: Engine,
    pub account: Account,
    pub call_sid: Sid,
    pub fast: bool,
}

/// A `<Dial>` to this engine's own `number`: a child leg running the number's Voice URL.
pub(crate) async fn dial_child(
    parent: DialParent,
    number: &Record,
    child_sid: &str,
    caller_id: &str,
    to: &str,
) -> EngineResult<oneshot::Receiver<LegEnd>> {
    let state = &parent.state;
    let handler = number_handler(state, &number.doc).await?;
    let call_sid =
        Sid::parse(SidKind::Call, child_sid).unwrap_or_else(|| Sid::generate(SidKind::Call));
    let mut setup = CallSetup::new(
        call_sid,
        account_sid_of(&parent.account),
        caller_id,
        to,
        Direction::OutboundDial,
        initial_of(&handler),
    );
    setup.parent_call_sid = Some(parent.call_sid);
    let start = LegStart {
        account: parent.account.clone(),
        setup,
        fallback: handler.fallback,
        breaker: handler.breaker,
        resilience: handler.resilience,
        status_callback: handler.status_callback,
        far_end: FarEnd::EngineNumber,
        fast: parent.fast,
        time_limit_s: None,
        phone_number_sid: Some(number.sid.clone()),
        record: None,
        send_digits: None,
        drill: false,
        amd: None,
    };
    Ok(start_leg(state, start).await?.1)
}

/// A `<Number url>` to a virtual handset: the child leg runs the whisper TwiML once the handset
/// answers (`whisper: true`), then stays bridged until either side hangs up.
pub(crate) async fn whisper_child(
    parent: DialParent,
    child_sid: &str,
    caller_id: &str,
    target: &switchboard_flow::DialTarget,
    handset: crate::sandbox::Handset,
    ring_timeout_s: u32,
) -> EngineResult<oneshot::Receiver<LegEnd>> {
    let initial = Initial::Fetch {
        url: target.url.clone().unwrap_or_default(),
        method: target.method,
    };
    let far_end = FarEnd::Handset {
        handset,
        ring_timeout_s,
    };
    bridged_child(parent, child_sid, caller_id, target, initial, far_end).await
}

/// A `<Dial>` to a SIP URI: the child leg sends the INVITE; once answered it runs the
/// `<Sip url>` whisper if any, then stays bridged to the caller (`whisper: true`).
pub(crate) async fn sip_child(
    parent: DialParent,
    child_sid: &str,
    caller_id: &str,
    target: &switchboard_flow::DialTarget,
    uri: String,
    ring_timeout_s: u32,
) -> EngineResult<oneshot::Receiver<LegEnd>> {
    let initial = match &target.url {
        Some(url) => Initial::Fetch {
            url: url.clone(),
            method: target.method,
        },
        None => Initial::Inline(Default::default()),
    };
    let far_end = FarEnd::Sip {
        uri,
        auth: target.sip_auth.clone(),
        ring_timeout_s,
    };
    bridged_child(parent, child_sid, caller_id, target, initial, far_end).await
}

/// A child leg that runs `initial` as a whisper once `far_end` answers, then stays bridged.
async fn bridged_child(
    parent: DialParent,
    child_sid: &str,
    caller_id: &str,
    target: &switchboard_flow::DialTarget,
    initial: Initial,
    far_end: FarEnd,
) -> EngineResult<oneshot::Receiver<LegEnd>> {
    let state = &parent.state;
    let call_sid =
        Sid::parse(SidKind::Call, child_sid).unwrap_or_else(|| Sid::generate(SidKind::Call));
    let mut setup = CallSetup::new(
        call_sid,
        account_sid_of(&parent.account),
        caller_id,
        target.number.clone(),
        Direction::OutboundDial,
        initial,
    );
    setup.parent_call_sid = Some(parent.call_sid);
    setup.whisper = true;
    let status_callback = target.status_callback.as_ref().map(|callback| {
        StatusCallback::new(
            callback.url.clone(),
            callback.method,
            callback.events.clone(),
        )
    });
    let start = LegStart {
        account: parent.account.clone(),
        setup,
        fallback: None,
        breaker: false,
        resilience: None,
        status_callback,
        far_end,
        fast: parent.fast,
        time_limit_s: None,
        phone_number_sid: None,
        record: None,
        send_digits: None,
        drill: false,
        amd: None,
    };
    Ok(start_leg(state, start).await?.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_store::ListQuery;
    use switchboard_webhook::{ClientSettings, FallbackScope, WebhookClient};

    /// A state on a fresh SQLite file in a scratch directory (removed by the caller).
    async fn state(dir: &std::path::Path) -> Engine {
        std::fs::create_dir_all(dir).expect("scratch directory");
        let url = format!("sqlite://{}", dir.join("switchboard.db").display());
        Engine::new(crate::Parts {
            store: switchboard_store::open(&url).await.expect("store"),
            webhooks: Arc::new(WebhookClient::new(ClientSettings::default()).expect("client")),
            telephony: None,
            settings: crate::Settings {
                public_url: "http://127.0.0.1:1".into(),
                error_prompt: switchboard_flow::DEFAULT_ERROR_PROMPT.into(),
                fallback_scope: FallbackScope::All,
                node_id: "test".into(),
                sole_node: true,
                lkg_max_age: std::time::Duration::from_secs(86_400),
                stream_retry_for: std::time::Duration::from_secs(10),
                node_lease: std::time::Duration::from_secs(10),
                callback_retry_for: std::time::Duration::from_secs(4 * 3600),
                schedule_min_ahead: std::time::Duration::from_secs(900),
            },
        })
    }

    /// A bug in one call's driver ends that call `failed` with an alert; the engine goes on.
    #[tokio::test]
    async fn a_panicking_driver_fails_its_call_with_an_alert() {
        let dir =
            std::env::temp_dir().join(format!("switchboard-voice-{:016x}", rand::random::<u64>()));
        let state = state(&dir).await;
        let account = "AC0123456789abcdef0123456789abcdef";
        let info = LegInfo {
            sid: "CA0123456789abcdef0123456789abcdef".into(),
            account_sid: account.into(),
            from: "+15005550006".into(),
            to: "+15550000001".into(),
            direction: "inbound",
            status: "ringing",
            parent_call_sid: None,
            phone_number_sid: None,
            caller_name: None,
            forwarded_from: None,
            status_callback: None,
        };
        state
            .store
            .insert(&leg::new_record(&info, "test"))
            .await
            .expect("insert");
        let log = state.sandbox.open_log(&info.sid);
        let _inputs = state.live.register(&info.sid);
        let run = async {
            let bug: Vec<LegEnd> = Vec::new();
            bug.into_iter()
                .next()
                .expect("a deliberate bug in a driver")
        };
        let end = supervise_run(
            state.clone(),
            info.sid.clone(),
            account.into(),
            log.clone(),
            run,
        )
        .await
        .expect("the supervisor reports");
        assert_eq!(end.status, switchboard_flow::CallStatus::Failed);
        assert!(!state.live.is_live(&info.sid));
        let (events, done, _) = log.snapshot();
        assert!(done);
        let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(kinds, ["alert", "status"]);
        assert_eq!(events[0]["error_code"], 12400);
        assert_eq!(events[1]["status"], "failed");
        let stored = state
            .store
            .get(Kind::Call, &info.sid)
            .await
            .expect("get")
            .expect("call");
        assert_eq!(stored.status.as_deref(), Some("failed"));
        let alerts = state
            .store
            .list(&ListQuery::new(Kind::Alert, account))
            .await
            .expect("alerts");
        assert_eq!(alerts.len(), 1);
        drop(state);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
