//! What a leg does in a conference or a queue: the driver's side of `conference.rs` and
//! `queue.rs`. The leg's `Seat` says where it is; the flow is told when its wait starts and
//! ends (`Input::Waiting`) and how its `<Dial>` or `<Enqueue>` ended (`DialEnded`,
//! `QueueEnded`). Queue bridges are between two drivers: each tells the other, through its
//! inbox, when it leaves (`RoomInput::BridgeEnded`), so both record the end of the same bridge.
//! Queue time is counted on the caller's clock, so a sandbox call on the virtual clock
//! (`Clock=fast`) waits in virtual time like every other timer of the call.

use serde_json::json;
use switchboard_core::Sid;
use switchboard_flow::{
    DequeueCall, DialCallStatus, DialOutcome, Enqueue, FetchPurpose, FetchRequest, Initial, Input,
    JoinConference,
};
use switchboard_webhook::Endpoint;

use crate::voice::conference::Joined;
use crate::voice::driver::Driver;
use crate::voice::live::{CallInput, RoomInput};
use crate::voice::media::MediaEnd;
use crate::voice::queue::Enqueued;
use crate::voice::timers::Due;

/// Where a leg is.
#[derive(Debug)]
pub(crate) enum Seat {
    /// A participant of conference `sid`.
    Conference {
        sid: String,
        name: String,
        joined_ms: u64,
    },
    /// A caller in queue `sid`, bridged with `agent` once dequeued.
    Queued {
        sid: String,
        enqueued_ms: u64,
        max_size: u32,
        agent: Option<String>,
    },
    /// An agent's `<Dial><Queue>`: waiting for a caller, then bridged with `member`.
    Agent {
        sid: String,
        url: Option<Endpoint>,
        member: Option<String>,
        since_ms: u64,
    },
}

fn outcome(status: DialCallStatus, sid: &str, duration_ms: u64, bridged: bool) -> Input {
    Input::DialEnded(DialOutcome {
        status,
        dial_call_sid: Sid::from_trusted(sid.to_owned()),
        duration_s: u32::try_from(duration_ms / 1000).unwrap_or(u32::MAX),
        bridged,
        recording: None,
        sip_response_code: None,
    })
}

impl Driver {
    pub(crate) fn join_conference(&mut self, join: JoinConference) {
        let (account, token) = (self.account.sid.clone(), self.account.auth_token.clone());
        let call_sid = self.call_sid().to_owned();
        match self
            .state
            .conference_join(&account, &token, &call_sid, &self.log, &join)
        {
            Joined::Full => {
                self.log.push(
                    "conference",
                    json!({"name": join.name, "conference_sid": null, "action": "full"}),
                );
                self.feed(outcome(DialCallStatus::Failed, &call_sid, 0, false));
            }
            Joined::In { sid, waiting } => {
                self.seat = Some(Seat::Conference {
                    sid,
                    name: join.name,
                    joined_ms: self.clock.now_ms(),
                });
                self.media_mute(join.muted);
                if waiting {
                    self.feed(Input::Waiting(true));
                } else {
                    self.media_mix_in();
                }
            }
        }
    }

    pub(crate) async fn enqueue(&mut self, enqueue: Enqueue) {
        let account = self.account.sid.clone();
        let call_sid = self.call_sid().to_owned();
        let enqueued = self
            .state
            .queue_enqueue(&account, &enqueue.name, &call_sid, enqueue.max_size)
            .await;
        let (result, sid) = match enqueued {
            Enqueued::Waiting { sid, max_size } => {
                self.log
                    .push("enqueue", json!({"queue": enqueue.name, "queue_sid": sid}));
                self.seat = Some(Seat::Queued {
                    sid,
                    enqueued_ms: self.clock.now_ms(),
                    max_size,
                    agent: None,
                });
                return self.feed(Input::Waiting(true));
            }
            Enqueued::Full { sid } => ("queue-full", sid),
            Enqueued::Error => ("error", String::new()),
        };
        self.log
            .push("enqueue", json!({"queue": enqueue.name, "queue_sid": sid}));
        self.feed(Input::QueueEnded {
            result: result.to_owned(),
            queue_sid: sid,
            queue_time_s: 0,
        });
    }

    pub(crate) async fn dequeue_call(&mut self, dequeue: DequeueCall) {
        let account = self.account.sid.clone();
        let call_sid = self.call_sid().to_owned();
        let now = self.clock.now_ms();
        match self
            .state
            .queue_dial(&account, &dequeue.name, &call_sid)
            .await
        {
            None => self.feed(outcome(DialCallStatus::Failed, &call_sid, 0, false)),
            Some(sid) => {
                let url = dequeue.url.map(|wait| Endpoint::new(wait.url, wait.method));
                self.seat = Some(Seat::Agent {
                    sid,
                    url,
                    member: None,
                    since_ms: now,
                });
                let at = now + u64::from(dequeue.timeout_s) * 1000;
                self.timers.add(at, Due::DialNoAnswer);
            }
        }
    }

    /// `LeaveQueue`: out of the queue, or out of the bridge it is in.
    pub(crate) fn leave_queue(&mut self) {
        let now = self.clock.now_ms();
        let Some(Seat::Queued {
            sid,
            enqueued_ms,
            agent,
            ..
        }) = self.seat.take()
        else {
            return;
        };
        let result = match agent {
            Some(agent) => {
                self.state
                    .live
                    .send(&agent, CallInput::Room(RoomInput::BridgeEnded));
                "bridged"
            }
            None => {
                self.state.queue_leave(&sid, self.call_sid());
                "leave"
            }
        };
        self.feed(Input::QueueEnded {
            result: result.to_owned(),
            queue_sid: sid,
            queue_time_s: queue_seconds(now, enqueued_ms),
        });
    }

    /// `EndDial` while in a conference or a queue bridge: leave it. Whether it was.
    pub(crate) fn end_seat_dial(&mut self) -> bool {
        let now = self.clock.now_ms();
        match self.seat.take() {
            Some(Seat::Conference { sid, joined_ms, .. }) => {
                let call_sid = self.call_sid().to_owned();
                self.state.conference_leave(&sid, &call_sid);
                self.feed(outcome(
                    DialCallStatus::Answered,
                    &sid,
                    now - joined_ms,
                    true,
                ));
                true
            }
            Some(Seat::Agent {
                sid,
                member,
                since_ms,
                ..
            }) => {
                self.timers
                    .cancel_where(|due| matches!(due, Due::DialNoAnswer));
                match member {
                    Some(member) => {
                        self.state
                            .live
                            .send(&member, CallInput::Room(RoomInput::BridgeEnded));
                        self.feed(outcome(
                            DialCallStatus::Completed,
                            &member,
                            now - since_ms,
                            true,
                        ));
                    }
                    None => {
                        self.state.queue_agent_gone(&sid, self.call_sid());
                        let call_sid = self.call_sid().to_owned();
                        self.feed(outcome(DialCallStatus::Canceled, &call_sid, 0, false));
                    }
                }
                true
            }
            other => {
                self.seat = other;
                false
            }
        }
    }

    /// The ring timeout of a `<Dial><Queue>` that got no caller. Whether it was one.
    pub(crate) fn agent_timed_out(&mut self) -> bool {
        match self.seat.take() {
            Some(Seat::Agent {
                sid, member: None, ..
            }) => {
                self.state.queue_agent_gone(&sid, self.call_sid());
                let call_sid = self.call_sid().to_owned();
                self.feed(outcome(DialCallStatus::NoAnswer, &call_sid, 0, false));
                true
            }
            other => {
                self.seat = other;
                false
            }
        }
    }

    /// The call ends: whatever room it is in learns it.
    pub(crate) fn leave_seat(&mut self) {
        let call_sid = self.call_sid().to_owned();
        match self.seat.take() {
            Some(Seat::Conference { sid, .. }) => {
                self.state.conference_leave(&sid, &call_sid);
            }
            Some(Seat::Queued {
                agent: Some(other), ..
            })
            | Some(Seat::Agent {
                member: Some(other),
                ..
            }) => {
                self.state
                    .live
                    .send(&other, CallInput::Room(RoomInput::BridgeEnded));
            }
            Some(Seat::Queued { sid, .. }) => {
                self.state.queue_leave(&sid, &call_sid);
            }
            Some(Seat::Agent { sid, .. }) => self.state.queue_agent_gone(&sid, &call_sid),
            None => {}
        }
    }

    pub(crate) async fn on_room_input(&mut self, input: RoomInput) {
        let now = self.clock.now_ms();
        match input {
            RoomInput::Started => {
                self.feed(Input::Waiting(false));
                self.media_mix_in();
            }
            RoomInput::Muted(muted) => self.media_mute(muted),
            RoomInput::Hold(true) => self.media_unbridge(),
            RoomInput::Hold(false) => self.media_mix_in(),
            RoomInput::Out => {
                if let Some(Seat::Conference { sid, joined_ms, .. }) = self.seat.take() {
                    self.feed(outcome(
                        DialCallStatus::Answered,
                        &sid,
                        now - joined_ms,
                        true,
                    ));
                }
            }
            RoomInput::Announce(endpoint) => {
                self.log.push("announce", json!({"url": endpoint.url}));
                self.request_and_forget(endpoint, Vec::new());
            }
            RoomInput::Dequeued { agent, url } => self.dequeued(agent, url, now),
            RoomInput::Connected { member, waited_ms } => {
                let Some(Seat::Agent {
                    sid,
                    url,
                    member: slot,
                    ..
                }) = &mut self.seat
                else {
                    // The agent is gone: the caller it got is left alone in a bridge; end it.
                    self.state
                        .live
                        .send(&member, CallInput::Room(RoomInput::BridgeEnded));
                    return;
                };
                *slot = Some(member.clone());
                let (sid, url) = (sid.clone(), url.clone());
                if let Some(Seat::Agent { since_ms, .. }) = &mut self.seat {
                    *since_ms = now;
                }
                self.timers
                    .cancel_where(|due| matches!(due, Due::DialNoAnswer));
                self.log.push(
                    "dequeue",
                    json!({"queue_sid": sid, "call_sid": member, "queue_time": waited_ms / 1000}),
                );
                if let Some(url) = url {
                    let params = vec![
                        ("QueueSid".to_owned(), sid),
                        ("CallSid".to_owned(), member),
                        ("QueueTime".to_owned(), (waited_ms / 1000).to_string()),
                        ("DequeingCallSid".to_owned(), self.call_sid().to_owned()),
                    ];
                    self.request_and_forget(url, params);
                }
                self.feed(Input::DialConnected);
            }
            RoomInput::BridgeEnded => match self.seat.take() {
                Some(Seat::Queued {
                    sid,
                    enqueued_ms,
                    agent: Some(_),
                    ..
                }) => self.feed(Input::QueueEnded {
                    result: "bridged".to_owned(),
                    queue_sid: sid,
                    queue_time_s: queue_seconds(now, enqueued_ms),
                }),
                Some(Seat::Agent {
                    member: Some(member),
                    since_ms,
                    ..
                }) => self.feed(outcome(
                    DialCallStatus::Completed,
                    &member,
                    now - since_ms,
                    true,
                )),
                other => self.seat = other,
            },
        }
    }

    /// A real call in a started conference hears the others' mix (the sandbox has no audio).
    fn media_mix_in(&mut self) {
        let Some(Seat::Conference { sid, .. }) = &self.seat else {
            return;
        };
        let MediaEnd::Sip(leg) = &self.media else {
            return;
        };
        if let Some(mixer) = self.state.conference_mixer(sid) {
            leg.join_mixer(&mixer);
        }
    }

    fn media_mute(&mut self, muted: bool) {
        if let MediaEnd::Sip(leg) = &self.media {
            leg.set_muted(muted);
        }
    }

    /// A queued caller was dequeued: by an agent (bridged), or by REST to a URL.
    fn dequeued(&mut self, agent: Option<String>, url: Option<Endpoint>, now: u64) {
        let Some(Seat::Queued {
            sid, enqueued_ms, ..
        }) = &self.seat
        else {
            // Gone from the queue meanwhile: an agent that counted on it is told.
            if let Some(agent) = agent {
                self.state
                    .live
                    .send(&agent, CallInput::Room(RoomInput::BridgeEnded));
            }
            return;
        };
        let (sid, enqueued_ms) = (sid.clone(), *enqueued_ms);
        match (agent, url) {
            (Some(agent), _) => {
                // A real call's audio goes to the agent's leg, which bridges to it.
                if let MediaEnd::Sip(leg) = &self.media {
                    leg.bridge_to_parent(&self.state.live, &agent);
                }
                if let Some(Seat::Queued { agent: slot, .. }) = &mut self.seat {
                    *slot = Some(agent);
                }
                self.feed(Input::Waiting(false));
            }
            (None, Some(url)) => {
                self.seat = None;
                self.log.push(
                    "enqueue_result",
                    json!({"result": "redirected", "queue_time": queue_seconds(now, enqueued_ms),
                           "queue_sid": sid}),
                );
                self.fetch = None;
                self.document_initial = false;
                self.feed(Input::LiveUpdate(Initial::Fetch {
                    url: url.url,
                    method: url.method,
                }));
            }
            (None, None) => {}
        }
    }

    /// The parameters a wait document is requested with besides the call's (§3.7).
    pub(crate) fn hold_params(&self) -> Vec<(String, String)> {
        let now = self.clock.now_ms();
        match &self.seat {
            Some(Seat::Conference { sid, name, .. }) => vec![
                ("ConferenceSid".to_owned(), sid.clone()),
                ("FriendlyName".to_owned(), name.clone()),
            ],
            Some(Seat::Queued {
                sid,
                enqueued_ms,
                max_size,
                ..
            }) => {
                let standing = self.state.queue_standing(sid, self.call_sid());
                vec![
                    ("QueuePosition".to_owned(), standing.position.to_string()),
                    ("QueueSid".to_owned(), sid.clone()),
                    (
                        "QueueTime".to_owned(),
                        queue_seconds(now, *enqueued_ms).to_string(),
                    ),
                    (
                        "AvgQueueTime".to_owned(),
                        standing.average_wait_s.to_string(),
                    ),
                    ("CurrentQueueSize".to_owned(), standing.size.to_string()),
                    ("MaxQueueSize".to_owned(), max_size.to_string()),
                ]
            }
            _ => Vec::new(),
        }
    }

    /// Requests `endpoint` with the call's parameters plus `extra`, its answer unused (an
    /// announcement, a dequeued caller's `url`); the exchange is in the transcript.
    fn request_and_forget(&mut self, endpoint: Endpoint, extra: Vec<(String, String)>) {
        let mut params = self.call.params_at(self.call.status());
        params.extend(extra);
        self.fetch_and_forget(FetchRequest {
            url: endpoint.url,
            method: endpoint.method,
            params,
            purpose: FetchPurpose::Redirect,
            reply_ignored: true,
        });
    }
}

fn queue_seconds(now: u64, since: u64) -> u32 {
    u32::try_from(now.saturating_sub(since) / 1000).unwrap_or(u32::MAX)
}
