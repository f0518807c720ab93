//! The per-call driver task: owns one `switchboard_flow::Call`, performs what it asks against
//! the far end of the call's media (`media::MediaEnd`: the sandbox model or a SIP leg), and
//! feeds back what happened. This is the only place of a call with a `select!`: caller input,
//! REST updates and SIP/RTP reports (the inbox), the outstanding TwiML fetch, a dialled engine
//! leg ending, and the earliest timer.
//!
//! Inputs produced while performing actions are queued (`ready`) and fed after the current
//! batch of actions is drained, so the flow's contract ("drain completely after every input")
//! holds without recursion.

use std::collections::VecDeque;
use std::sync::Arc;

use switchboard_flow::{Call, CallStatus, Input};
use switchboard_webhook::{CookieJar, Endpoint, TwimlOutcome};

use crate::account::Account;
use crate::last_resort::Resilience;
use crate::sandbox::{Handset, Log};
use crate::voice::call_recording::{CallRecordings, RecordingOptions};
use crate::voice::callbacks::{AlertTarget, CallbackQueue};
use crate::voice::clock::Clock;
use crate::voice::dial::DialLeg;
use crate::voice::fetch::{self, FetchDone, PendingFetch};
use crate::voice::live::{CallInput, Inbox};
use crate::voice::media::{Keys, MediaEnd};
use crate::voice::timers::{Due, Timers};
use crate::{Engine, session};

/// Who is at the other end of the leg.
#[derive(Clone, Debug)]
pub enum FarEnd {
    /// A sandbox caller driven through `/sandbox/Calls/{Sid}/…` (inbound calls).
    Caller,
    /// A virtual handset reached by an outbound call; it rings at most `ring_timeout_s`.
    Handset {
        handset: Handset,
        ring_timeout_s: u32,
    },
    /// A `<Dial>` reached this engine's own number: the leg answers at once.
    EngineNumber,
    /// A SIP URI (or a number through `--sip-gateway`): a real INVITE.
    Sip {
        uri: String,
        auth: Option<(String, String)>,
        ring_timeout_s: u32,
    },
}

/// How a leg ended, for whoever waits on it (a parent's `<Dial>`).
#[derive(Clone, Copy, Debug)]
pub struct LegEnd {
    pub status: CallStatus,
    pub duration_s: u64,
    /// A SIP leg's final SIP response (`SipResponseCode` on the parent's `<Dial>` action).
    pub sip_response_code: Option<u16>,
}

/// One running leg.
pub(crate) struct Driver {
    pub(crate) state: Engine,
    pub(crate) account: Account,
    pub(crate) call: Call,
    pub(crate) log: Arc<Log>,
    pub(crate) clock: Clock,
    /// The status the stored call shows (REST spelling).
    pub(crate) stored_status: &'static str,
    pub(crate) inputs: Arc<Inbox>,
    pub(crate) fallback: Option<Endpoint>,
    /// Whether the session's primary origin is guarded by its circuit breaker.
    pub(crate) breaker: bool,
    /// A drill whose first fetch has not happened yet: it goes to the fallback at once.
    pub(crate) drill: bool,
    /// Whether the running document is the session's first (under `--fallback-scope initial`
    /// only its failures fall back).
    pub(crate) document_initial: bool,
    /// The number's last-known-good and last-resort settings (`None`: neither is on, or the
    /// leg runs no number's Voice URL).
    pub(crate) resilience: Option<Resilience>,
    /// Whether the last-resort document already ran on this leg (it runs at most once).
    pub(crate) last_resort_used: bool,
    pub(crate) cookies: CookieJar,
    pub(crate) fetch: Option<PendingFetch>,
    pub(crate) timers: Timers,
    /// Who listens for the caller's keys, and the keys typed ahead.
    pub(crate) keys: Keys,
    pub(crate) dial: Option<DialLeg>,
    /// The conference or queue the leg is in (`voice::rooms`).
    pub(crate) seat: Option<crate::voice::rooms::Seat>,
    pub(crate) callbacks: CallbackQueue,
    pub(crate) far_end: FarEnd,
    /// Outbound `TimeLimit` in seconds.
    pub(crate) time_limit_s: Option<u32>,
    /// When the call was answered (on its clock), from which `TimeLimit` counts.
    pub(crate) answered_at_ms: Option<u64>,
    /// Calls `Record=true`: how the whole call is recorded from its answer.
    pub(crate) record_call: Option<RecordingOptions>,
    /// The call's recordings that have not ended.
    pub(crate) recordings: CallRecordings,
    pub(crate) send_digits: Option<String>,
    /// Answering-machine detection still to run or running (taken when it decides).
    pub(crate) amd: Option<Box<crate::voice::amd::MachineDetection>>,
    pub(crate) ready: VecDeque<Input>,
    /// The far end of the call's audio: the sandbox media model, or a real call's SIP leg.
    pub(crate) media: MediaEnd,
    /// The call's running media streams.
    pub(crate) streams: crate::voice::stream::Streams,
    /// The running `<Record>`'s transcription request, if it asked for one.
    pub(crate) transcribe: Option<crate::voice::transcription::Wanted>,
}

impl Driver {
    pub(crate) fn call_sid(&self) -> &str {
        self.call.setup().call_sid.as_str()
    }

    pub(crate) fn alert_target(&self) -> AlertTarget {
        AlertTarget {
            state: self.state.clone(),
            account_sid: self.account.sid.clone(),
            auth_token: self.account.auth_token.clone(),
            call_sid: self.call_sid().to_owned(),
            log: self.log.clone(),
        }
    }

    /// Runs the leg to its end.
    pub(crate) async fn run(mut self) -> LegEnd {
        self.start_far_end().await;
        self.settle().await;
        while !self.call.is_finished() {
            self.wait_and_handle().await;
            self.settle().await;
        }
        Box::pin(self.finish()).await
    }

    /// Queues an input for the flow.
    pub(crate) fn feed(&mut self, input: Input) {
        self.ready.push_back(input);
    }

    /// Drains the flow's actions, then feeds queued inputs, until both are empty.
    async fn settle(&mut self) {
        loop {
            while let Some(action) = self.call.poll_action() {
                // Boxed: the driver future stays small while it waits (20,000 parked calls).
                Box::pin(self.perform(action)).await;
            }
            match self.ready.pop_front() {
                Some(input) => {
                    let now = self.clock.now_ms();
                    self.call.handle_input(now, input);
                }
                None => return,
            }
        }
    }

    fn deadline(&self) -> Option<u64> {
        match (self.call.poll_timeout(), self.timers.next_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn wait_and_handle(&mut self) {
        let deadline = self.deadline();
        // In a conference or queue with nothing of its own to time (no pause, no hold music
        // playing), the leg waits on other calls: the virtual clock must not skip ahead to its
        // own far timers (the time limit).
        let in_room = self.seat.is_some()
            && self.call.poll_timeout().is_none()
            && !self.timers.any(|due| matches!(due, Due::PlaybackDone));
        let external =
            self.fetch.is_some() || self.dial.as_ref().is_some_and(DialLeg::is_external) || in_room;
        if self.clock.is_fast() && !external {
            if let Some(input) = self.inputs.try_next() {
                return Box::pin(self.on_input(input)).await;
            }
            if let Some(at) = deadline {
                let skipped = self.clock.skip_to(at);
                self.log.skip(skipped);
                return Box::pin(self.fire_due()).await;
            }
        }
        let wake = deadline.map(|at| self.clock.instant_of(at));
        let inputs = self.inputs.clone();
        tokio::select! {
            input = inputs.next() => Box::pin(self.on_input(input)).await,
            done = next_fetch(&mut self.fetch) => Box::pin(self.on_fetch_done(done)).await,
            end = DialLeg::next_external_end(&mut self.dial) => self.on_dial_external_end(end),
            () = sleep_until(wake) => Box::pin(self.fire_due()).await,
        }
    }

    async fn fire_due(&mut self) {
        let now = self.clock.now_ms();
        while let Some(due) = self.timers.pop_due(now) {
            self.on_due(due).await;
        }
        if self.call.poll_timeout().is_some_and(|at| at <= now) {
            self.feed(Input::Timer);
        }
    }

    async fn on_due(&mut self, due: Due) {
        match due {
            Due::PlaybackDone => self.sandbox_playback_done(),
            Due::RecordingDone => Box::pin(self.finish_sandbox_recording()).await,
            Due::Input(Input::Digits(digits)) => self.deliver_digits(digits),
            Due::Input(input) => self.feed(input),
            Due::Said(said) => self.deliver_speech(said.text.to_string(), said.confidence),
            Due::DialNoAnswer => Box::pin(self.dial_no_answer()).await,
            Due::DialHangup => Box::pin(self.end_dial()).await,
            Due::TimeLimit => self.feed(Input::ApiEnd(switchboard_flow::ApiEnd::Completed)),
            Due::MachineDetected(verdict) => Box::pin(self.machine_detected(verdict)).await,
            Due::DetectionTimeout => Box::pin(self.detection_timed_out()).await,
        }
    }

    async fn on_input(&mut self, input: CallInput) {
        match input {
            CallInput::Digits(digits) => {
                self.streams_hear_digits(&digits);
                self.press(&digits);
            }
            CallInput::Speech { result, confidence } => self.deliver_speech(result, confidence),
            CallInput::Hangup => self.feed(Input::CallerHungUp),
            CallInput::Audio(clip) => self.media_caller_talks(clip),
            CallInput::Update(update) => {
                let (initial, fallback) = *update;
                if fallback.is_some() {
                    self.fallback = fallback;
                }
                self.fetch = None;
                self.document_initial = false;
                self.feed(Input::LiveUpdate(initial));
            }
            CallInput::End(end) => {
                self.fetch = None;
                self.feed(Input::ApiEnd(end));
            }
            CallInput::Settings(settings) => self.apply_settings(*settings).await,
            CallInput::Recording(request) => Box::pin(self.on_recording_request(*request)).await,
            CallInput::Sip(input) => self.on_sip_input(*input).await,
            CallInput::Room(input) => Box::pin(self.on_room_input(input)).await,
            CallInput::Stream(report) => Box::pin(self.on_stream_report(*report)).await,
            CallInput::StreamControl(request) => self.on_stream_request(*request),
        }
    }

    async fn on_fetch_done(&mut self, done: FetchDone) {
        self.fetch = None;
        let FetchDone {
            result,
            cookies,
            primary_url,
            fallback_url,
            first,
        } = done;
        self.cookies = cookies;
        session::log_exchanges(&self.log, &result);
        self.record_alerts(&result.alerts).await;
        if first {
            self.remember_first_document(&result.outcome, &primary_url)
                .await;
        }
        let input = match result.outcome {
            TwimlOutcome::GiveUp { .. } => self.instead_of_giving_up(first).await,
            outcome => fetch::into_input(outcome, primary_url, fallback_url),
        };
        self.feed(input);
    }

    /// After the terminal status: the dialled leg is dropped, callbacks are drained, the
    /// transcript is closed.
    async fn finish(mut self) -> LegEnd {
        self.fetch = None;
        if let Some(dial) = self.dial.take() {
            dial.abandon(&self.state.live);
        }
        self.leave_seat();
        Box::pin(self.close_streams()).await;
        let sip_response_code = self.media_response_code(self.call.status());
        self.media_hang_up();
        self.callbacks.drain().await;
        self.state.live.unregister(self.call_sid());
        self.log.finish();
        LegEnd {
            status: self.call.status(),
            duration_s: self.call.call_duration_s().unwrap_or(0),
            sip_response_code,
        }
    }
}

async fn next_fetch(fetch: &mut Option<PendingFetch>) -> FetchDone {
    match fetch {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(wake: Option<tokio::time::Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
