//! Call queues: the stored `Queue` resources (`Kind::Queue`, created by REST or on demand by
//! `<Enqueue>`) and, owned by the `Engine` (`Inner::queues`), the callers waiting in them and
//! the agents (`<Dial><Queue>`) waiting for a caller.
//!
//! A queue's settings (name, `MaxSize`) are read from its row at every `<Enqueue>`, so a REST
//! update applies to the next caller; who waits is engine state, in arrival order, with the
//! wall-clock time each caller arrived (REST `wait_time`, `average_wait_time`). Dequeuing
//! pairs the front caller with an agent under the registry's lock and tells both drivers
//! (`RoomInput::Dequeued` to the caller, `RoomInput::Connected` to the agent), which bridge.
//! As with conferences, a queue's callers wait on the node that runs their calls: an agent on
//! another node of a cluster does not see them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::{Value, json};
use switchboard_core::{Sid, SidKind};
use switchboard_store::{Column, Filter, Kind, ListQuery, Record, StoreError};
use switchboard_webhook::Endpoint;

use crate::error::EngineResult;
use crate::voice::live::{CallInput, RoomInput};
use crate::{Engine, now_ms};

/// Twilio's default `MaxSize` of a queue.
pub const DEFAULT_MAX_SIZE: u32 = 1000;
/// Twilio's largest `MaxSize`.
pub const MAX_MAX_SIZE: u32 = 5000;

/// The waiting callers and agents of this engine's queues, by queue SID.
#[derive(Debug, Default)]
pub(crate) struct Queues {
    queues: Mutex<HashMap<String, Waiting>>,
}

#[derive(Debug, Default)]
struct Waiting {
    members: VecDeque<Member>,
    /// Agents whose `<Dial><Queue>` waits for a caller.
    agents: VecDeque<String>,
    /// Every caller dequeued so far (bridged or redirected): their total wait, for the average.
    waited_ms: u64,
    dequeued: u64,
}

#[derive(Clone, Debug)]
struct Member {
    call_sid: String,
    enqueued_ms: i64,
}

/// A caller in a queue, as the REST API shows it.
#[derive(Clone, Debug)]
pub struct MemberView {
    pub call_sid: String,
    pub queue_sid: String,
    /// 1-based.
    pub position: usize,
    pub enqueued_ms: i64,
    pub wait_time_s: i64,
}

/// A queue's live figures.
#[derive(Clone, Copy, Debug, Default)]
pub struct QueueView {
    pub current_size: usize,
    pub average_wait_time_s: u64,
}

/// Where a caller in a queue stands (the `waitUrl`'s parameters).
pub(crate) struct Standing {
    pub position: usize,
    pub size: usize,
    pub average_wait_s: u64,
}

/// What an `<Enqueue>` came to.
pub(crate) enum Enqueued {
    /// Waiting in queue `sid` (`max_size` is the queue's).
    Waiting { sid: String, max_size: u32 },
    /// The queue holds `MaxSize` callers already.
    Full { sid: String },
    /// The queue could not be found or created.
    Error,
}

/// The unique key that makes a queue name one per account.
pub fn unique_key(account_sid: &str, name: &str) -> String {
    format!("queue:{account_sid}:{name}")
}

/// A new queue row.
pub fn new_record(account_sid: &str, name: &str, max_size: u32) -> Record {
    let sid = Sid::generate(SidKind::Queue).into_string();
    let now = now_ms();
    let doc = json!({
        "sid": sid, "account_sid": account_sid, "friendly_name": name, "max_size": max_size,
        "date_created": now, "date_updated": now,
    });
    let mut record = Record::new(Kind::Queue, sid, account_sid.to_owned(), now, doc);
    record.friendly_name = Some(name.to_owned());
    record.unique_key = Some(unique_key(account_sid, name));
    record
}

/// The account's queue named `name`, if there is one.
pub async fn find(engine: &Engine, account_sid: &str, name: &str) -> EngineResult<Option<Record>> {
    let mut query = ListQuery::new(Kind::Queue, account_sid);
    query
        .filters
        .push(Filter::Equals(Column::FriendlyName, name.to_owned()));
    query.limit = 1;
    Ok(engine.store.list(&query).await?.into_iter().next())
}

fn max_size_of(doc: &Value) -> u32 {
    doc["max_size"]
        .as_u64()
        .and_then(|size| u32::try_from(size).ok())
        .unwrap_or(DEFAULT_MAX_SIZE)
}

impl Queues {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Engine {
    /// The account's queue `name`, created on demand (`maxQueueSize` sets a new queue's size).
    async fn queue_for(
        &self,
        account_sid: &str,
        name: &str,
        max_size: Option<u32>,
    ) -> EngineResult<Record> {
        if let Some(record) = find(self, account_sid, name).await? {
            return Ok(record);
        }
        let size = max_size.unwrap_or(DEFAULT_MAX_SIZE).min(MAX_MAX_SIZE);
        let record = new_record(account_sid, name, size);
        match self.store.insert(&record).await {
            Ok(_) => Ok(record),
            // Another caller created it meanwhile.
            Err(StoreError::Conflict(_)) => find(self, account_sid, name)
                .await?
                .ok_or_else(|| StoreError::Conflict(name.to_owned()).into()),
            Err(error) => Err(error.into()),
        }
    }

    /// Puts `call_sid` at the back of the account's queue `name`; an agent waiting for a caller
    /// is bridged with the front one at once.
    pub(crate) async fn queue_enqueue(
        &self,
        account_sid: &str,
        name: &str,
        call_sid: &str,
        max_size: Option<u32>,
    ) -> Enqueued {
        if name.is_empty() {
            return Enqueued::Error;
        }
        let record = match self.queue_for(account_sid, name, max_size).await {
            Ok(record) => record,
            Err(error) => {
                tracing::error!(?error, "finding a queue failed");
                return Enqueued::Error;
            }
        };
        let max_size = max_size_of(&record.doc);
        let sid = record.sid;
        {
            let mut queues = self.queues.lock();
            let waiting = queues.entry(sid.clone()).or_default();
            if waiting.members.len() >= max_size as usize {
                return Enqueued::Full { sid };
            }
            waiting.members.push_back(Member {
                call_sid: call_sid.to_owned(),
                enqueued_ms: now_ms(),
            });
        }
        self.queue_match(&sid);
        Enqueued::Waiting { sid, max_size }
    }

    /// Bridges waiting agents with the callers at the front, while both wait.
    fn queue_match(&self, sid: &str) {
        loop {
            let pair = {
                let mut queues = self.queues.lock();
                let Some(waiting) = queues.get_mut(sid) else {
                    return;
                };
                if waiting.members.is_empty() || waiting.agents.is_empty() {
                    return;
                }
                let agent = waiting.agents.pop_front();
                let member = waiting.pop_front();
                agent.zip(member)
            };
            let Some((agent, member)) = pair else { return };
            // A caller or agent that is gone by now makes the other wait on.
            let told = self.live.send(
                &member.call_sid,
                CallInput::Room(RoomInput::Dequeued {
                    agent: Some(agent.clone()),
                    url: None,
                }),
            );
            if !told {
                self.queues
                    .lock()
                    .entry(sid.to_owned())
                    .or_default()
                    .agents
                    .push_front(agent);
                continue;
            }
            self.live.send(
                &agent,
                CallInput::Room(RoomInput::Connected {
                    member: member.call_sid,
                    waited_ms: u64::try_from(now_ms() - member.enqueued_ms).unwrap_or(0),
                }),
            );
        }
    }

    /// `<Dial><Queue>`: the agent takes the front caller of the account's queue `name`, or waits
    /// for one. `None` when there is no such queue.
    pub(crate) async fn queue_dial(
        &self,
        account_sid: &str,
        name: &str,
        agent: &str,
    ) -> Option<String> {
        let record = find(self, account_sid, name).await.ok().flatten()?;
        self.queues
            .lock()
            .entry(record.sid.clone())
            .or_default()
            .agents
            .push_back(agent.to_owned());
        self.queue_match(&record.sid);
        Some(record.sid)
    }

    /// The agent stops waiting (its `<Dial>` timed out or ended).
    pub(crate) fn queue_agent_gone(&self, sid: &str, agent: &str) {
        if let Some(waiting) = self.queues.lock().get_mut(sid) {
            waiting.agents.retain(|waiting| waiting != agent);
        }
    }

    /// Takes `call_sid` out of queue `sid` (it left or hung up); whether it was waiting there.
    pub(crate) fn queue_leave(&self, sid: &str, call_sid: &str) -> bool {
        let mut queues = self.queues.lock();
        let Some(waiting) = queues.get_mut(sid) else {
            return false;
        };
        let before = waiting.members.len();
        waiting.members.retain(|member| member.call_sid != call_sid);
        before != waiting.members.len()
    }

    /// Where `call_sid` stands in queue `sid`.
    pub(crate) fn queue_standing(&self, sid: &str, call_sid: &str) -> Standing {
        let queues = self.queues.lock();
        let Some(waiting) = queues.get(sid) else {
            return Standing {
                position: 0,
                size: 0,
                average_wait_s: 0,
            };
        };
        let position = waiting
            .members
            .iter()
            .position(|member| member.call_sid == call_sid)
            .map_or(0, |index| index + 1);
        Standing {
            position,
            size: waiting.members.len(),
            average_wait_s: waiting.average_wait_s(),
        }
    }

    /// A queue's live figures (zero when nobody waits on this engine).
    pub fn queue_view(&self, sid: &str) -> QueueView {
        let queues = self.queues.lock();
        queues
            .get(sid)
            .map_or_else(QueueView::default, |waiting| QueueView {
                current_size: waiting.members.len(),
                average_wait_time_s: waiting.average_wait_s(),
            })
    }

    /// The callers waiting in queue `sid`, front first.
    pub fn queue_members(&self, sid: &str) -> Vec<MemberView> {
        let queues = self.queues.lock();
        let now = now_ms();
        let Some(waiting) = queues.get(sid) else {
            return Vec::new();
        };
        waiting
            .members
            .iter()
            .enumerate()
            .map(|(index, member)| MemberView {
                call_sid: member.call_sid.clone(),
                queue_sid: sid.to_owned(),
                position: index + 1,
                enqueued_ms: member.enqueued_ms,
                wait_time_s: (now - member.enqueued_ms) / 1000,
            })
            .collect()
    }

    /// REST `Members/{CallSid|Front}` update with `Url`: the caller leaves the queue and its
    /// call continues at `url` (`QueueResult=redirected`). The member it was, if any.
    pub fn queue_dequeue_to(&self, sid: &str, who: &str, url: Endpoint) -> Option<MemberView> {
        let member = {
            let mut queues = self.queues.lock();
            let waiting = queues.get_mut(sid)?;
            let index = if who == "Front" {
                0
            } else {
                waiting
                    .members
                    .iter()
                    .position(|member| member.call_sid == who)?
            };
            let member = waiting.members.get(index)?.clone();
            waiting.members.remove(index);
            waiting.note_dequeued(&member);
            member
        };
        self.live.send(
            &member.call_sid,
            CallInput::Room(RoomInput::Dequeued {
                agent: None,
                url: Some(url),
            }),
        );
        let now = now_ms();
        Some(MemberView {
            call_sid: member.call_sid,
            queue_sid: sid.to_owned(),
            position: 1,
            enqueued_ms: member.enqueued_ms,
            wait_time_s: (now - member.enqueued_ms) / 1000,
        })
    }
}

impl Waiting {
    fn pop_front(&mut self) -> Option<Member> {
        let member = self.members.pop_front()?;
        self.note_dequeued(&member);
        Some(member)
    }

    fn note_dequeued(&mut self, member: &Member) {
        self.waited_ms += u64::try_from(now_ms() - member.enqueued_ms).unwrap_or(0);
        self.dequeued += 1;
    }

    fn average_wait_s(&self) -> u64 {
        self.waited_ms
            .checked_div(self.dequeued)
            .map_or(0, |ms| ms / 1000)
    }
}
