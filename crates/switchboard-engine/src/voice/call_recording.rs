//! Recordings of a live call as a whole: started mid-call by the REST API
//! (`Calls/{Sid}/Recordings`, source `StartCallRecordingAPI`) or at the answer by `Record=true`
//! on call create (source `OutboundAPI`); paused (`skip` or `silence`), resumed and stopped by
//! the API; finished with the call otherwise.
//!
//! The driver owns every recording of its call (`CallRecordings`), so a recording's state
//! changes only in the call's task, like the call's own. A REST request reaches it as a
//! `CallInput::Recording` carrying a reply channel: the driver answers with the stored
//! resource, or a refusal (a call not in progress, a recording that is not this call's or has
//! ended). A call that ends while a request waits drops the channel, which the API reports as
//! the call not being in progress.
//!
//! What a recording holds depends on the far end:
//! - the sandbox keeps, per recording, the stretches of call time it covers (`spans`, paused
//!   time absent with `skip` and kept as silence with `silence`), and the call keeps what the
//!   caller said while any recording runs (`talk`: tones and WAVs sent with `/Audio`, one after
//!   another); at the end the inbound track is that talk inside the spans, silence elsewhere.
//!   The sandbox makes no audio for its own prompts, so its outbound track is silence.
//! - a SIP call's RTP session records both directions itself (`switchboard_media`'s call
//!   recorder, paused and resumed there); the driver asks for the audio when it stops.
//!
//! Either way the result is stored as `Piece`s per channel (`engine_tracks`): mono mixes the
//! chosen tracks, dual keeps inbound and outbound apart. `Trim=trim-silence` cuts leading and
//! trailing silence; a recording left with nothing is `absent`. Status callbacks
//! (`RecordingStatusCallback`, events `in-progress`, `completed`, `absent`) are written to the
//! outbox and leave from the leg's callback queue, in order with the call's own.

use serde_json::{Value, json};
use switchboard_core::{Sid, SidKind, date};
pub use switchboard_media::session::Pause;
use switchboard_store::{Kind, Record};
use switchboard_webhook::{Endpoint, WebhookRequest};
use tokio::sync::oneshot;

use crate::error::EngineError;
use crate::voice::driver::Driver;
use crate::voice::media::MediaEnd;
use crate::voice::pieces::sandbox_track;
use crate::voice::recording::{self, Clip, Piece};
use crate::{Engine, now_ms};

/// Which audio a recording keeps (`RecordingTrack`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track {
    /// What the far end sends.
    Inbound,
    /// What the engine sends.
    Outbound,
    Both,
}

impl Track {
    pub fn parse(text: &str) -> Option<Track> {
        match text {
            "inbound" => Some(Track::Inbound),
            "outbound" => Some(Track::Outbound),
            "both" => Some(Track::Both),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Track::Inbound => "inbound",
            Track::Outbound => "outbound",
            Track::Both => "both",
        }
    }
}

/// Where a recording's status callbacks go, and for which events (`in-progress`,
/// `completed`, `absent`; `completed` when none were given).
#[derive(Clone, Debug)]
pub struct RecordingCallback {
    pub endpoint: Endpoint,
    pub events: Vec<String>,
}

/// How to record a call.
#[derive(Clone, Debug)]
pub struct RecordingOptions {
    /// `RecordingChannels=dual`: inbound and outbound in two channels.
    pub dual: bool,
    pub track: Track,
    /// `Trim=trim-silence`.
    pub trim: bool,
    pub callback: Option<RecordingCallback>,
    /// `RecordingSource`: `StartCallRecordingAPI` or `OutboundAPI`.
    pub source: &'static str,
}

/// Which recording an update is about.
#[derive(Clone, Debug)]
pub enum Which {
    Sid(String),
    /// `Twilio.CURRENT`: the call's most recently started recording that has not ended.
    Current,
}

/// A change of a recording's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Pause(Pause),
    Resume,
    Stop,
}

/// What the REST API asks of a live call's recordings.
#[derive(Debug)]
pub enum RecordingCommand {
    Start(RecordingOptions),
    Update(Which, Change),
    /// Ends a recording without keeping it (its resource is being deleted).
    Discard(String),
}

/// Why a recording request was refused.
#[derive(Debug)]
pub enum RecordingRefusal {
    /// The call is not live on this engine, or not answered (21220).
    CallNotInProgress,
    /// No recording of this call that has not ended has that SID (or none at all, for
    /// `Twilio.CURRENT`).
    NotActive,
    Failed(EngineError),
}

/// The driver's answer: the recording resource as stored (an update that stopped it shows
/// `stopped`), or why not.
pub type RecordingReply = Result<Value, RecordingRefusal>;

/// A command as it travels to the driver, with its reply channel.
pub type RecordingRequest = (RecordingCommand, oneshot::Sender<RecordingReply>);

impl Engine {
    /// Sends `command` to the live call `call_sid` and waits for its answer.
    pub async fn control_recording(
        &self,
        call_sid: &str,
        command: RecordingCommand,
    ) -> RecordingReply {
        let (reply, answer) = oneshot::channel();
        let input = crate::voice::CallInput::Recording(Box::new((command, reply)));
        if !self.live.send(call_sid, input) {
            return Err(RecordingRefusal::CallNotInProgress);
        }
        answer
            .await
            .unwrap_or(Err(RecordingRefusal::CallNotInProgress))
    }
}

/// One recording that has not ended.
#[derive(Debug)]
struct LiveRecording {
    sid: Sid,
    options: RecordingOptions,
    record: Record,
    /// Sandbox: the stretches of call time kept so far, `(from, until, silent)`.
    spans: Vec<(u64, u64, bool)>,
    /// Sandbox: the stretch open now (`None` while paused with `skip`).
    open: Option<(u64, bool)>,
    /// SIP: the RTP session's id of this recording.
    media_id: Option<u64>,
}

/// The recordings of one call.
#[derive(Debug, Default)]
pub(crate) struct CallRecordings {
    live: Vec<LiveRecording>,
    /// Sandbox: what the caller said while a recording ran, `(from, clip)`.
    talk: Vec<(u64, Clip)>,
    talk_until: u64,
}

impl CallRecordings {
    /// The sandbox caller talks at `now`: kept while a recording runs.
    pub(crate) fn caller_talks(&mut self, now: u64, clip: &Clip) {
        if self.live.is_empty() {
            return;
        }
        let from = now.max(self.talk_until);
        self.talk_until = from + clip.ms;
        self.talk.push((from, clip.clone()));
    }
}

impl Driver {
    /// A REST request about this call's recordings.
    pub(crate) async fn on_recording_request(&mut self, request: RecordingRequest) {
        let (command, reply) = request;
        let answer = match command {
            RecordingCommand::Start(options) if self.call.answered_at_ms().is_some() => {
                self.start_recording(options).await
            }
            RecordingCommand::Start(_) => Err(RecordingRefusal::CallNotInProgress),
            RecordingCommand::Update(which, change) => self.change_recording(which, change).await,
            RecordingCommand::Discard(sid) => match self.take_recording(&Which::Sid(sid)) {
                Some(recording) => {
                    self.discard_audio(&recording);
                    Ok(recording.record.doc)
                }
                None => Err(RecordingRefusal::NotActive),
            },
        };
        // The API may have stopped waiting (its client went away): nothing to tell then.
        let _ = reply.send(answer);
    }

    /// `Record=true`: the whole call is recorded from the answer.
    pub(crate) async fn record_from_answer(&mut self) {
        if let Some(options) = self.record_call.clone()
            && let Err(error) = self.start_recording(options).await
        {
            tracing::error!(?error, call = %self.call_sid(), "starting the call's recording failed");
        }
    }

    async fn start_recording(&mut self, options: RecordingOptions) -> RecordingReply {
        let sid = Sid::generate(SidKind::Recording);
        let now = now_ms();
        let doc = json!({
            "sid": sid.as_str(), "account_sid": self.account.sid, "call_sid": self.call_sid(),
            "conference_sid": null, "date_created": now, "date_updated": now, "start_time": now,
            "duration": "-1", "price": null, "price_unit": "USD", "status": "in-progress",
            "channels": if options.dual { 2 } else { 1 }, "source": options.source,
            "error_code": null, "track": options.track.as_str(), "api_version": "2010-04-01",
            "encryption_details": null,
            "engine_callback": options.callback.as_ref().map(|callback| json!({
                "url": callback.endpoint.url,
                "method": callback.endpoint.method.as_str(),
                "events": callback.events,
            })),
        });
        let mut record = Record::new(
            Kind::Recording,
            sid.as_str().to_owned(),
            self.account.sid.clone(),
            now,
            doc,
        );
        record.parent_sid = Some(self.call_sid().to_owned());
        record.status = Some("in-progress".into());
        record.date_key = Some(now);
        self.state
            .store
            .insert(&record)
            .await
            .map_err(|error| RecordingRefusal::Failed(error.into()))?;
        let media_id = match &self.media {
            MediaEnd::Sip(leg) => leg.start_call_recording(),
            MediaEnd::Sandbox(_) => None,
        };
        let at = self.clock.now_ms();
        let recording = LiveRecording {
            sid,
            options,
            record,
            spans: Vec::new(),
            open: Some((at, false)),
            media_id,
        };
        self.log.push(
            "call_recording",
            json!({"recording_sid": recording.sid.as_str(), "action": "start"}),
        );
        self.recording_callback(&recording, "in-progress", None)
            .await;
        let doc = recording.record.doc.clone();
        self.recordings.live.push(recording);
        Ok(doc)
    }

    async fn change_recording(&mut self, which: Which, change: Change) -> RecordingReply {
        if change == Change::Stop {
            let recording = self
                .take_recording(&which)
                .ok_or(RecordingRefusal::NotActive)?;
            let mut doc = self.finish_recording(recording).await?.doc;
            doc["status"] = json!("stopped");
            return Ok(doc);
        }
        let now = self.clock.now_ms();
        let index = self
            .recording_index(&which)
            .ok_or(RecordingRefusal::NotActive)?;
        let recording = &mut self.recordings.live[index];
        let (status, pause) = match change {
            Change::Pause(pause) => ("paused", Some(pause)),
            _ => ("in-progress", None),
        };
        if let Some((from, silent)) = recording.open.take() {
            recording.spans.push((from, now, silent));
        }
        recording.open = match pause {
            Some(Pause::Skip) => None,
            Some(Pause::Silence) => Some((now, true)),
            None => Some((now, false)),
        };
        if let (MediaEnd::Sip(leg), Some(id)) = (&self.media, recording.media_id) {
            leg.pause_call_recording(id, pause);
        }
        recording.record.doc["status"] = json!(status);
        recording.record.doc["date_updated"] = json!(now_ms());
        recording.record.status = Some(status.into());
        let action = if pause.is_some() { "pause" } else { "resume" };
        self.log.push(
            "call_recording",
            json!({"recording_sid": recording.sid.as_str(), "action": action}),
        );
        let record = recording.record.clone();
        self.state
            .store
            .update(&record)
            .await
            .map_err(|error| RecordingRefusal::Failed(error.into()))?;
        Ok(record.doc)
    }

    fn recording_index(&self, which: &Which) -> Option<usize> {
        match which {
            Which::Current => self.recordings.live.len().checked_sub(1),
            Which::Sid(sid) => self
                .recordings
                .live
                .iter()
                .position(|recording| recording.sid.as_str() == sid),
        }
    }

    fn take_recording(&mut self, which: &Which) -> Option<LiveRecording> {
        let index = self.recording_index(which)?;
        Some(self.recordings.live.remove(index))
    }

    fn discard_audio(&mut self, recording: &LiveRecording) {
        if let (MediaEnd::Sip(leg), Some(id)) = (&self.media, recording.media_id) {
            // Paused with `skip` for good: the session keeps nothing more of it, and the
            // audio is dropped with the session.
            leg.pause_call_recording(id, Some(Pause::Skip));
        }
        self.log.push(
            "call_recording",
            json!({"recording_sid": recording.sid.as_str(), "action": "discard"}),
        );
        if self.recordings.live.is_empty() {
            self.recordings.talk.clear();
        }
    }

    /// The call reached its terminal status: every recording ends with it. The one
    /// `Record=true` started is announced in the completed callback's `params`.
    pub(crate) async fn finish_recordings(&mut self, params: &mut Vec<(String, String)>) {
        while let Some(recording) = self.recordings.live.pop() {
            let whole_call = recording.options.source == "OutboundAPI";
            match self.finish_recording(recording).await {
                Ok(record) if whole_call && record.status.as_deref() == Some("completed") => {
                    let url = recording::url(&self.state, &self.account.sid, &record.sid);
                    params.push(("RecordingUrl".into(), url));
                    params.push(("RecordingSid".into(), record.sid.clone()));
                    let duration = record.doc["duration"].as_str().unwrap_or("0");
                    params.push(("RecordingDuration".into(), duration.to_owned()));
                }
                Ok(_) => {}
                Err(error) => tracing::error!(?error, "finishing a call recording failed"),
            }
        }
    }

    /// Ends `recording`: its audio is gathered, stored, and its callback queued.
    async fn finish_recording(
        &mut self,
        mut recording: LiveRecording,
    ) -> Result<Record, RecordingRefusal> {
        let now = self.clock.now_ms();
        if let Some((from, silent)) = recording.open.take() {
            recording.spans.push((from, now, silent));
        }
        let (inbound, outbound) = self.gathered_audio(&recording).await;
        if self.recordings.live.is_empty() {
            self.recordings.talk.clear();
        }
        let tracks = channels(&recording.options, inbound, outbound);
        let samples = tracks
            .first()
            .map_or(0, |track| track.iter().map(Piece::len).sum::<usize>());
        let duration_s = (samples as u64 + 4000) / 8000;
        let status = if samples == 0 { "absent" } else { "completed" };
        let doc = &mut recording.record.doc;
        doc["status"] = json!(status);
        doc["duration"] = json!(duration_s.to_string());
        doc["date_updated"] = json!(now_ms());
        doc["engine_tracks"] = serde_json::to_value(&tracks).unwrap_or_default();
        recording.record.status = Some(status.into());
        self.log.push(
            "call_recording",
            json!({"recording_sid": recording.sid.as_str(), "action": "stop",
                   "status": status, "duration": duration_s}),
        );
        self.state
            .store
            .update(&recording.record)
            .await
            .map_err(|error| RecordingRefusal::Failed(error.into()))?;
        self.recording_callback(&recording, status, Some(duration_s))
            .await;
        Ok(recording.record)
    }

    /// The recording's inbound and outbound tracks as pieces.
    async fn gathered_audio(&mut self, recording: &LiveRecording) -> (Vec<Piece>, Vec<Piece>) {
        match (&self.media, recording.media_id) {
            (MediaEnd::Sip(leg), Some(id)) => {
                let audio = leg.stop_call_recording(id).await.unwrap_or_default();
                (
                    recording::pieces_of(&audio.inbound),
                    recording::pieces_of(&audio.outbound),
                )
            }
            _ => {
                let inbound = sandbox_track(&recording.spans, &self.recordings.talk);
                let total: u64 = recording.spans.iter().map(|(a, b, _)| b - a).sum();
                (inbound, vec![Piece::Silence { ms: total }])
            }
        }
    }

    /// Writes the recording's status callback for `status` to the outbox, when subscribed.
    async fn recording_callback(
        &mut self,
        recording: &LiveRecording,
        status: &str,
        duration_s: Option<u64>,
    ) {
        let doc = &recording.record.doc;
        if let Some(request) = callback_request(&self.state, doc, status, duration_s) {
            let target = self.alert_target();
            self.callbacks.push_recording(&target, request).await;
        }
    }
}

/// The status callback request for `status` of the recording `doc` (its `engine_callback`, as
/// written at its start), when that event is subscribed.
pub(crate) fn callback_request(
    engine: &Engine,
    doc: &Value,
    status: &str,
    duration_s: Option<u64>,
) -> Option<WebhookRequest> {
    let callback = &doc["engine_callback"];
    let url = callback["url"].as_str()?;
    let method = switchboard_webhook::Method::parse(callback["method"].as_str()?)?;
    let events: Vec<&str> = callback["events"]
        .as_array()
        .map(|events| events.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let subscribed = if events.is_empty() {
        status == "completed"
    } else {
        events.contains(&status)
    };
    if !subscribed {
        return None;
    }
    let text = |name: &str| doc[name].as_str().unwrap_or_default().to_owned();
    let (account_sid, sid) = (text("account_sid"), text("sid"));
    let mut params: Vec<(String, String)> = vec![
        ("AccountSid".into(), account_sid.clone()),
        ("CallSid".into(), text("call_sid")),
        ("RecordingSid".into(), sid.clone()),
        (
            "RecordingUrl".into(),
            recording::url(engine, &account_sid, &sid),
        ),
        ("RecordingStatus".into(), status.to_owned()),
        ("RecordingChannels".into(), doc["channels"].to_string()),
        (
            "RecordingStartTime".into(),
            date::rfc2822(doc["start_time"].as_i64().unwrap_or_default()),
        ),
        ("RecordingSource".into(), text("source")),
        ("RecordingTrack".into(), text("track")),
    ];
    if let Some(duration_s) = duration_s {
        params.push(("RecordingDuration".into(), duration_s.to_string()));
    }
    Some(WebhookRequest::form(url.to_owned(), method, params))
}

/// The channels of a finished recording: one (the chosen track, or both mixed) or, for `dual`,
/// inbound and outbound; trimmed of leading and trailing silence when asked.
fn channels(
    options: &RecordingOptions,
    inbound: Vec<Piece>,
    outbound: Vec<Piece>,
) -> Vec<Vec<Piece>> {
    let mut tracks = match (options.dual, options.track) {
        (true, _) => vec![inbound, outbound],
        (false, Track::Inbound) => vec![inbound],
        (false, Track::Outbound) => vec![outbound],
        (false, Track::Both) => vec![recording::mix(&inbound, &outbound)],
    };
    if options.trim {
        recording::trim(&mut tracks);
    }
    tracks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_follow_the_track_and_channel_options() {
        let options = |dual, track| RecordingOptions {
            dual,
            track,
            trim: false,
            callback: None,
            source: "StartCallRecordingAPI",
        };
        let inbound = vec![Piece::Tone { ms: 100 }];
        let outbound = vec![Piece::Silence { ms: 100 }];
        let of = |dual, track| channels(&options(dual, track), inbound.clone(), outbound.clone());
        assert_eq!(of(false, Track::Inbound), vec![inbound.clone()]);
        assert_eq!(of(false, Track::Outbound), vec![outbound.clone()]);
        assert_eq!(of(false, Track::Both), vec![inbound.clone()]);
        assert_eq!(of(true, Track::Both), [inbound.clone(), outbound.clone()]);
    }
}
