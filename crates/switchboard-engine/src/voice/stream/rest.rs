//! REST `Calls/{CallSid}/Streams`: a one-way stream started on a live call (`Start`) and a
//! one-way stream stopped by SID or name (`Stop`). The request reaches the call's driver as
//! `CallInput::StreamControl` with a reply channel, like the call's recordings; a call that
//! ends while a request waits drops the channel, which reads as the call not in progress.

use serde_json::{Value, json};
use switchboard_core::{Method, date};
use switchboard_flow::StreamOpen;
use switchboard_twiml::verb::StreamTrack;
use tokio::sync::oneshot;

use super::socket::Control;
use crate::voice::driver::Driver;
use crate::{Engine, now_ms};

/// A one-way stream to start on a live call.
#[derive(Debug, Clone)]
pub struct NewStream {
    pub url: String,
    pub name: Option<String>,
    pub track: StreamTrack,
    pub status_callback: Option<(String, Method)>,
    pub parameters: Vec<(String, String)>,
}

/// What the REST API asks of a call's streams.
#[derive(Debug, Clone)]
pub enum StreamCommand {
    Start(NewStream),
    /// Stop the one-way stream with this SID or name.
    Stop(String),
}

/// Why a stream request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefusal {
    /// The call is not live here, or not answered yet.
    CallNotInProgress,
    /// No running one-way stream of the call has that SID or name.
    NotFound,
}

/// The stream resource, or why not.
pub type StreamReply = Result<Value, StreamRefusal>;

/// A command as it travels to the driver, with its reply channel.
pub type StreamRequest = (StreamCommand, oneshot::Sender<StreamReply>);

impl Engine {
    /// Sends `command` to the live call `call_sid` and waits for its answer.
    pub async fn control_stream(&self, call_sid: &str, command: StreamCommand) -> StreamReply {
        let (reply, answer) = oneshot::channel();
        let input = crate::voice::CallInput::StreamControl(Box::new((command, reply)));
        if !self.live.send(call_sid, input) {
            return Err(StreamRefusal::CallNotInProgress);
        }
        answer
            .await
            .unwrap_or(Err(StreamRefusal::CallNotInProgress))
    }
}

impl Driver {
    /// A REST stream request.
    pub(crate) fn on_stream_request(&mut self, request: StreamRequest) {
        let (command, reply) = request;
        let answer = match command {
            _ if self.call.answered_at_ms().is_none() || self.call.is_finished() => {
                Err(StreamRefusal::CallNotInProgress)
            }
            StreamCommand::Start(new) => {
                let (status_callback, status_callback_method) = match new.status_callback {
                    Some((url, method)) => (Some(url), method),
                    None => (None, Method::Post),
                };
                let name = new.name.clone();
                let sid = self.open_stream(StreamOpen {
                    url: new.url,
                    name: new.name,
                    track: new.track,
                    two_way: false,
                    status_callback,
                    status_callback_method,
                    parameters: new.parameters,
                });
                Ok(self.stream_resource(&sid, name.as_deref(), "in-progress"))
            }
            StreamCommand::Stop(which) => {
                let found = self.streams.running.iter().find(|stream| {
                    !stream.two_way
                        && (stream.sid == which || stream.name.as_deref() == Some(&which))
                });
                match found {
                    Some(stream) => {
                        let _ = stream.control.send(Control::Stop);
                        let (sid, name) = (stream.sid.clone(), stream.name.clone());
                        Ok(self.stream_resource(&sid, name.as_deref(), "stopped"))
                    }
                    None => Err(StreamRefusal::NotFound),
                }
            }
        };
        let _ = reply.send(answer);
    }

    fn stream_resource(&self, sid: &str, name: Option<&str>, status: &str) -> Value {
        json!({
            "sid": sid,
            "account_sid": self.account.sid,
            "call_sid": self.call_sid(),
            "name": name.unwrap_or(sid),
            "status": status,
            "date_updated": date::rfc2822(now_ms()),
        })
    }
}
