//! Conferences: the rooms of one engine, owned by the `Engine` (`Inner::conferences`), keyed by
//! account and name while they run.
//!
//! A room holds its participants (each a call running on this engine, whose driver is told
//! through its inbox when the conference starts and when it is out: `RoomInput`), the status
//! callback the first participant that gave one set (Twilio's rule: later ones are ignored)
//! with its `SequenceNumber`, and a small task of its own that writes the stored conference
//! (`Kind::Conference`, which the REST API lists) and sends the status callbacks through the
//! outbox, one after another, so they arrive in `SequenceNumber` order without any caller
//! waiting on HTTP. Every change happens under the registry's lock, so two participants joining
//! at once cannot both start a conference or both see themselves alone.
//!
//! A conference starts when it has at least two participants and one of them joined with
//! `startConferenceOnEnter`; until then every participant holds (its `waitUrl` loop). It ends
//! when a participant with `endConferenceOnExit` leaves, when the last one leaves, or by REST
//! (`Status=completed`); whoever is left is out (their `<Dial>` ends `answered` and their TwiML
//! goes on). A conference lives on the node whose call created it: participants joining the same
//! name on another node of a cluster get a conference of their own there (cross-node rooms
//! would need media relayed between nodes, which this engine does not do).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use switchboard_core::{Sid, SidKind, date};
use switchboard_flow::JoinConference;
use switchboard_store::{Kind, Record};
use switchboard_webhook::{Channel, Endpoint, WebhookRequest};
use tokio::sync::mpsc;

use crate::sandbox::Log;
use crate::voice::live::{CallInput, RoomInput};
use crate::{Engine, now_ms, outbox};

/// The conferences running on this engine.
#[derive(Debug, Default)]
pub(crate) struct Conferences {
    rooms: Mutex<Rooms>,
}

#[derive(Debug, Default)]
struct Rooms {
    /// (account, name) → SID of the running conference of that name.
    by_name: HashMap<(String, String), String>,
    by_sid: HashMap<String, Room>,
}

#[derive(Debug)]
struct Room {
    sid: String,
    account_sid: String,
    name: String,
    started: bool,
    created_ms: i64,
    updated_ms: i64,
    participants: Vec<Participant>,
    callback: Option<RoomCallback>,
    sequence: u32,
    /// The room's writer: stored conference and status callbacks, in order.
    jobs: mpsc::UnboundedSender<Job>,
    /// The mixer of its real calls' audio, started when the first one needs it.
    mixer: Option<switchboard_media::session::MixerHandle>,
    /// `record="record-from-start"` on a participant: the conference is recorded from its start.
    record: bool,
    /// When the recording began (wall clock), once the conference started.
    recording_since: Option<i64>,
}

#[derive(Debug)]
struct RoomCallback {
    endpoint: Endpoint,
    /// `StatusCallbackEvent` values subscribed (`conference-start`, `participant-join`, …).
    events: Vec<&'static str>,
}

#[derive(Debug)]
struct Participant {
    view: ParticipantView,
    log: Arc<Log>,
}

/// A participant as the REST API shows it.
#[derive(Clone, Debug)]
pub struct ParticipantView {
    pub call_sid: String,
    pub conference_sid: String,
    pub account_sid: String,
    pub label: Option<String>,
    pub muted: bool,
    pub hold: bool,
    pub start_conference_on_enter: bool,
    pub end_conference_on_exit: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// What a REST update changes of a participant.
#[derive(Clone, Debug, Default)]
pub struct ParticipantUpdate {
    pub muted: Option<bool>,
    pub hold: Option<bool>,
    /// `AnnounceUrl` (with its method): fetched and played to the participant.
    pub announce: Option<Endpoint>,
}

#[derive(Debug)]
enum Job {
    Store { record: Box<Record>, insert: bool },
    Callback(WebhookRequest),
}

/// What a join came to.
pub(crate) enum Joined {
    /// In the room; `waiting` while the conference has not started.
    In { sid: String, waiting: bool },
    /// `maxParticipants` reached.
    Full,
}

/// Why a conference ended (`ReasonConferenceEnded`).
#[derive(Clone, Copy, Debug)]
enum Ending {
    ModeratorLeft,
    LastLeft,
    Api,
}

impl Ending {
    fn reason(self) -> &'static str {
        match self {
            Ending::ModeratorLeft => "participant-with-end-conference-on-exit-left",
            Ending::LastLeft => "last-participant-left",
            Ending::Api => "conference-ended-via-api",
        }
    }
}

/// The status callback events a `<Conference statusCallbackEvent>` word subscribes to.
fn events_of(words: &[String]) -> Vec<&'static str> {
    let words: Vec<&str> = if words.is_empty() {
        vec!["start", "end"]
    } else {
        words.iter().map(String::as_str).collect()
    };
    let mut events = Vec::new();
    for word in words {
        events.extend_from_slice(match word {
            "start" => &["conference-start"][..],
            "end" => &["conference-end"],
            "join" => &["participant-join"],
            "leave" => &["participant-leave"],
            "mute" => &["participant-mute", "participant-unmute"],
            "hold" => &["participant-hold", "participant-unhold"],
            "modify" => &["participant-modify"],
            "speaker" => &["participant-speech-start", "participant-speech-stop"],
            "announcement" => &["announcement-end", "announcement-fail"],
            _ => &[],
        });
    }
    events
}

impl Rooms {
    fn room_of(&mut self, account_sid: &str, sid: &str) -> Option<&mut Room> {
        self.by_sid
            .get_mut(sid)
            .filter(|room| room.account_sid == account_sid)
    }
}

impl Room {
    fn doc(&self, status: &str, ending: Option<(Ending, &str)>) -> Value {
        json!({
            "sid": self.sid, "account_sid": self.account_sid, "friendly_name": self.name,
            "status": status, "region": "us1", "api_version": "2010-04-01",
            "date_created": self.created_ms, "date_updated": self.updated_ms,
            "reason_conference_ended": ending.map(|(ending, _)| ending.reason()),
            "call_sid_ending_conference": ending.map(|(_, call)| call).filter(|call| !call.is_empty()),
        })
    }

    fn store(&self, status: &str, ending: Option<(Ending, &str)>, insert: bool) {
        let mut record = Record::new(
            Kind::Conference,
            self.sid.clone(),
            self.account_sid.clone(),
            self.created_ms,
            self.doc(status, ending),
        );
        record.friendly_name = Some(self.name.clone());
        record.status = Some(status.to_owned());
        record.date_key = Some(self.updated_ms);
        let _ = self.jobs.send(Job::Store {
            record: Box::new(record),
            insert,
        });
    }

    /// Sends `event` to the room's status callback if it is subscribed, with the participant's
    /// fields when it is about one.
    fn callback(
        &mut self,
        event: &'static str,
        about: Option<&ParticipantView>,
        extra: &[(&str, String)],
    ) {
        let Some(callback) = &self.callback else {
            return;
        };
        if !callback.events.contains(&event) {
            return;
        }
        self.sequence += 1;
        let mut params: Vec<(String, String)> = vec![
            ("AccountSid".into(), self.account_sid.clone()),
            ("ConferenceSid".into(), self.sid.clone()),
            ("FriendlyName".into(), self.name.clone()),
            ("StatusCallbackEvent".into(), event.to_owned()),
            ("SequenceNumber".into(), self.sequence.to_string()),
            ("Timestamp".into(), date::rfc2822(now_ms())),
        ];
        if let Some(participant) = about {
            params.push(("CallSid".into(), participant.call_sid.clone()));
            params.push(("Muted".into(), participant.muted.to_string()));
            params.push(("Hold".into(), participant.hold.to_string()));
            params.push(("Coaching".into(), "false".into()));
            params.push((
                "EndConferenceOnExit".into(),
                participant.end_conference_on_exit.to_string(),
            ));
            params.push((
                "StartConferenceOnEnter".into(),
                participant.start_conference_on_enter.to_string(),
            ));
            if let Some(label) = &participant.label {
                params.push(("ParticipantLabel".into(), label.clone()));
            }
        }
        for (name, value) in extra {
            params.push(((*name).to_owned(), value.clone()));
        }
        let request = WebhookRequest::form(
            callback.endpoint.url.clone(),
            callback.endpoint.method,
            params,
        );
        let _ = self.jobs.send(Job::Callback(request));
    }

    /// The transcript event `conference` in one participant's log.
    fn log(&self, log: &Log, action: &str) {
        log.push(
            "conference",
            json!({"name": self.name, "conference_sid": self.sid, "action": action}),
        );
    }

    fn start(&mut self, by: &str) {
        self.started = true;
        self.updated_ms = now_ms();
        if self.record {
            self.recording_since = Some(self.updated_ms);
            if let Some(mixer) = &self.mixer {
                mixer.start_recording();
            }
        }
        self.store("in-progress", None, false);
        let about = self
            .participants
            .iter()
            .find(|p| p.view.call_sid == by)
            .map(|p| p.view.clone());
        self.callback("conference-start", about.as_ref(), &[]);
        for participant in &self.participants {
            self.log(&participant.log, "start");
        }
    }

    fn should_start(&self) -> bool {
        !self.started
            && self.participants.len() >= 2
            && self
                .participants
                .iter()
                .any(|p| p.view.start_conference_on_enter)
    }
}

impl Engine {
    /// Joins `call_sid` to the account's conference `join.name` (created if none runs).
    pub(crate) fn conference_join(
        &self,
        account_sid: &str,
        auth_token: &str,
        call_sid: &str,
        log: &Arc<Log>,
        join: &JoinConference,
    ) -> Joined {
        let mut rooms = self.conferences.lock();
        let key = (account_sid.to_owned(), join.name.clone());
        let sid = match rooms.by_name.get(&key) {
            Some(sid) => sid.clone(),
            None => {
                let sid = self.new_room(account_sid, auth_token, &join.name);
                rooms.by_name.insert(key, sid.sid.clone());
                let room_sid = sid.sid.clone();
                rooms.by_sid.insert(room_sid.clone(), sid);
                room_sid
            }
        };
        let Some(room) = rooms.by_sid.get_mut(&sid) else {
            return Joined::Full;
        };
        if room.participants.len() >= join.max_participants as usize {
            return Joined::Full;
        }
        if room.callback.is_none()
            && let Some(callback) = &join.status_callback
        {
            room.callback = Some(RoomCallback {
                endpoint: Endpoint::new(callback.url.clone(), callback.method),
                events: events_of(&callback.events),
            });
        }
        let now = now_ms();
        let view = ParticipantView {
            call_sid: call_sid.to_owned(),
            conference_sid: sid.clone(),
            account_sid: account_sid.to_owned(),
            label: join.label.clone(),
            muted: join.muted,
            hold: false,
            start_conference_on_enter: join.start_conference_on_enter,
            end_conference_on_exit: join.end_conference_on_exit,
            created_ms: now,
            updated_ms: now,
        };
        room.record |= join.record;
        room.log(log, "join");
        room.callback("participant-join", Some(&view), &[]);
        room.participants.push(Participant {
            view,
            log: log.clone(),
        });
        if room.should_start() {
            room.start(call_sid);
            for participant in &room.participants {
                if participant.view.call_sid != call_sid {
                    self.live.send(
                        &participant.view.call_sid,
                        CallInput::Room(RoomInput::Started),
                    );
                }
            }
        }
        Joined::In {
            sid,
            waiting: !room.started,
        }
    }

    fn new_room(&self, account_sid: &str, auth_token: &str, name: &str) -> Room {
        let sid = Sid::generate(SidKind::Conference).into_string();
        let (jobs, receiver) = mpsc::unbounded_channel();
        self.spawn(run_jobs(
            self.clone(),
            account_sid.to_owned(),
            auth_token.to_owned(),
            sid.clone(),
            receiver,
        ));
        let now = now_ms();
        let room = Room {
            sid,
            account_sid: account_sid.to_owned(),
            name: name.to_owned(),
            started: false,
            created_ms: now,
            updated_ms: now,
            participants: Vec::new(),
            callback: None,
            sequence: 0,
            jobs,
            mixer: None,
            record: false,
            recording_since: None,
        };
        room.store("init", None, true);
        room
    }

    /// `call_sid` leaves conference `sid` (its `<Dial>` ended, it hung up, or it was removed):
    /// the conference ends if it was the moderator or the last one. Whether it was in it.
    pub(crate) fn conference_leave(&self, sid: &str, call_sid: &str) -> bool {
        let mut rooms = self.conferences.lock();
        let Some(room) = rooms.by_sid.get_mut(sid) else {
            return false;
        };
        let Some(index) = room
            .participants
            .iter()
            .position(|p| p.view.call_sid == call_sid)
        else {
            return false;
        };
        let participant = room.participants.remove(index);
        room.log(&participant.log, "leave");
        room.callback("participant-leave", Some(&participant.view), &[]);
        let ending = if participant.view.end_conference_on_exit {
            Some(Ending::ModeratorLeft)
        } else if room.participants.is_empty() {
            Some(Ending::LastLeft)
        } else {
            None
        };
        if let Some(ending) = ending {
            self.end_room(&mut rooms, sid, ending, call_sid);
        }
        true
    }

    /// Ends a running conference: everyone left is out, the stored conference is `completed`.
    fn end_room(&self, rooms: &mut Rooms, sid: &str, ending: Ending, call_sid: &str) {
        let Some(mut room) = rooms.by_sid.remove(sid) else {
            return;
        };
        rooms
            .by_name
            .remove(&(room.account_sid.clone(), room.name.clone()));
        room.updated_ms = now_ms();
        let mut extra = vec![("ReasonConferenceEnded", ending.reason().to_owned())];
        if !call_sid.is_empty() {
            extra.push(("CallSidEndingConference", call_sid.to_owned()));
        }
        room.callback("conference-end", None, &extra);
        room.store("completed", Some((ending, call_sid)), false);
        if let Some(since) = room.recording_since {
            let recording = Recording {
                account_sid: room.account_sid.clone(),
                conference_sid: room.sid.clone(),
                since_ms: since,
                until_ms: room.updated_ms,
                mixer: room.mixer.take(),
            };
            self.spawn(store_recording(self.clone(), recording));
        }
        for participant in std::mem::take(&mut room.participants) {
            room.log(&participant.log, "end");
            self.live
                .send(&participant.view.call_sid, CallInput::Room(RoomInput::Out));
        }
    }

    /// REST `Conferences/{Sid}` `Status=completed`; whether it was running here.
    pub fn end_conference(&self, account_sid: &str, sid: &str) -> bool {
        let mut rooms = self.conferences.lock();
        if rooms.room_of(account_sid, sid).is_none() {
            return false;
        }
        self.end_room(&mut rooms, sid, Ending::Api, "");
        true
    }

    /// The participants of a conference running here (`None`: not running on this engine).
    pub fn conference_participants(
        &self,
        account_sid: &str,
        sid: &str,
    ) -> Option<Vec<ParticipantView>> {
        let mut rooms = self.conferences.lock();
        let room = rooms.room_of(account_sid, sid)?;
        Some(room.participants.iter().map(|p| p.view.clone()).collect())
    }

    /// The mixer of conference `sid`'s real-call audio (started on first use); `None` once the
    /// conference ended.
    pub(crate) fn conference_mixer(
        &self,
        sid: &str,
    ) -> Option<switchboard_media::session::MixerHandle> {
        let mut rooms = self.conferences.lock();
        let room = rooms.by_sid.get_mut(sid)?;
        let recording = room.recording_since.is_some();
        let mixer = room.mixer.get_or_insert_with(|| {
            let mixer = switchboard_media::session::MixerHandle::start();
            if recording {
                mixer.start_recording();
            }
            mixer
        });
        Some(mixer.clone())
    }

    /// Whether conference `sid` of the account runs on this engine.
    pub fn conference_is_live(&self, account_sid: &str, sid: &str) -> bool {
        self.conferences.lock().room_of(account_sid, sid).is_some()
    }

    /// REST participant update: `Muted`, `Hold`, `AnnounceUrl`. `who` is a call SID or a
    /// participant label. `None` when no such participant is in a conference running here.
    pub fn update_participant(
        &self,
        account_sid: &str,
        sid: &str,
        who: &str,
        update: ParticipantUpdate,
    ) -> Option<ParticipantView> {
        let mut rooms = self.conferences.lock();
        let room = rooms.room_of(account_sid, sid)?;
        let index = room
            .participants
            .iter()
            .position(|p| p.view.call_sid == who || p.view.label.as_deref() == Some(who))?;
        let now = now_ms();
        if let Some(muted) = update.muted
            && muted != room.participants[index].view.muted
        {
            let participant = &mut room.participants[index];
            participant.view.muted = muted;
            participant.view.updated_ms = now;
            let (view, log) = (participant.view.clone(), participant.log.clone());
            let action = if muted { "mute" } else { "unmute" };
            room.log(&log, action);
            let event = if muted {
                "participant-mute"
            } else {
                "participant-unmute"
            };
            room.callback(event, Some(&view), &[]);
            self.live
                .send(&view.call_sid, CallInput::Room(RoomInput::Muted(muted)));
        }
        if let Some(hold) = update.hold
            && hold != room.participants[index].view.hold
        {
            let participant = &mut room.participants[index];
            participant.view.hold = hold;
            participant.view.updated_ms = now;
            let (view, log) = (participant.view.clone(), participant.log.clone());
            room.log(&log, if hold { "hold" } else { "unhold" });
            let event = if hold {
                "participant-hold"
            } else {
                "participant-unhold"
            };
            room.callback(event, Some(&view), &[]);
            self.live
                .send(&view.call_sid, CallInput::Room(RoomInput::Hold(hold)));
        }
        let view = room.participants[index].view.clone();
        if let Some(endpoint) = update.announce {
            self.live.send(
                &view.call_sid,
                CallInput::Room(RoomInput::Announce(endpoint)),
            );
        }
        Some(view)
    }

    /// REST participant delete (kick): the participant is out and its TwiML goes on after its
    /// `<Dial>`. Whether it was in a conference running here.
    pub fn remove_participant(&self, account_sid: &str, sid: &str, who: &str) -> bool {
        let call_sid = {
            let mut rooms = self.conferences.lock();
            let Some(room) = rooms.room_of(account_sid, sid) else {
                return false;
            };
            let found = room
                .participants
                .iter()
                .find(|p| p.view.call_sid == who || p.view.label.as_deref() == Some(who));
            match found {
                Some(participant) => participant.view.call_sid.clone(),
                None => return false,
            }
        };
        // The driver leaves (and reports `answered`) when it reads `Out`; leaving here first
        // makes the REST answer true at once (a list right after the delete no longer shows it).
        let left = self.conference_leave(sid, &call_sid);
        self.live.send(&call_sid, CallInput::Room(RoomInput::Out));
        left
    }

    /// A participant's view, by call SID or label.
    pub fn participant(&self, account_sid: &str, sid: &str, who: &str) -> Option<ParticipantView> {
        let mut rooms = self.conferences.lock();
        let room = rooms.room_of(account_sid, sid)?;
        room.participants
            .iter()
            .find(|p| p.view.call_sid == who || p.view.label.as_deref() == Some(who))
            .map(|p| p.view.clone())
    }
}

impl Conferences {
    fn lock(&self) -> std::sync::MutexGuard<'_, Rooms> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A recorded conference at its end.
struct Recording {
    account_sid: String,
    conference_sid: String,
    since_ms: i64,
    until_ms: i64,
    /// The mixer of its real calls: what it recorded; none when no real call took part (the
    /// sandbox has no audio: the recording is silence of the conference's length).
    mixer: Option<switchboard_media::session::MixerHandle>,
}

/// Stores a conference's recording (one mixed mono track, source `Conference`, the
/// conference as its parent, so `Recordings.json?ConferenceSid=` lists it).
async fn store_recording(engine: Engine, recording: Recording) {
    use crate::voice::pieces::{Piece, pieces_of};
    let length_ms = u64::try_from(recording.until_ms - recording.since_ms).unwrap_or(0);
    let mixed = match &recording.mixer {
        Some(mixer) => mixer.stop_recording().await.ok().map(|audio| audio.inbound),
        None => None,
    };
    let (pieces, duration_ms) = match mixed {
        Some(samples) => {
            let ms = samples.len() as u64 / 8;
            (pieces_of(&samples), ms)
        }
        None => (vec![Piece::Silence { ms: length_ms }], length_ms),
    };
    let sid = Sid::generate(SidKind::Recording).into_string();
    let now = now_ms();
    let doc = json!({
        "sid": sid, "account_sid": recording.account_sid, "call_sid": null,
        "conference_sid": recording.conference_sid, "date_created": now, "date_updated": now,
        "start_time": recording.since_ms, "duration": (duration_ms / 1000).to_string(),
        "price": null, "price_unit": "USD", "status": "completed", "channels": 1,
        "source": "Conference", "error_code": null, "track": "both",
        "api_version": "2010-04-01", "encryption_details": null, "engine_tracks": [pieces],
    });
    let mut record = Record::new(
        Kind::Recording,
        sid,
        recording.account_sid.clone(),
        now,
        doc,
    );
    record.parent_sid = Some(recording.conference_sid.clone());
    record.status = Some("completed".into());
    record.date_key = Some(now);
    if let Err(error) = engine.store.insert(&record).await {
        tracing::error!(?error, conference = %recording.conference_sid, "storing a conference recording failed");
    }
}

/// The room's writer: stores the conference and sends its callbacks, in order, until the room
/// is gone and everything it queued is done.
async fn run_jobs(
    engine: Engine,
    account_sid: String,
    auth_token: String,
    sid: String,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Store { record, insert } => {
                let stored = if insert {
                    engine.store.insert(&record).await.map(|_| ())
                } else {
                    engine.store.update(&record).await.map(|_| ())
                };
                if let Err(error) = stored {
                    tracing::error!(?error, conference = %sid, "storing a conference failed");
                }
            }
            Job::Callback(request) => {
                let pending = outbox::enqueue(
                    &engine,
                    &account_sid,
                    Some(&sid),
                    outbox::Kind::ConferenceStatus,
                    Channel::Voice,
                    request,
                )
                .await;
                outbox::attempt_and_alert(&engine, pending, &account_sid, &auth_token, Some(&sid))
                    .await;
            }
        }
    }
}
