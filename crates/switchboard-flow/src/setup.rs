//! What the driver knows about a call leg before it runs: who is calling whom, the leg's
//! direction, and where its first TwiML comes from; plus the call statuses of §8.1.

use std::fmt;

use switchboard_core::Sid;
use switchboard_twiml::{Document, Method};

/// product.md Decision 11: documents a session may fetch without caller input in between.
pub const DEFAULT_MAX_DOCUMENTS: u32 = 50;

/// product.md `--error-prompt` default (Decision 2).
pub const DEFAULT_ERROR_PROMPT: &str = "We're sorry, an application error has occurred. Goodbye.";

/// The `ApiVersion` parameter of every request.
pub const API_VERSION: &str = "2010-04-01";

/// The direction of a call leg (`Direction` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Someone dialled one of our numbers; the leg starts `ringing` and TwiML decides when to
    /// answer.
    Inbound,
    /// Created by the Calls API; the leg starts `queued` and TwiML runs once the callee answers.
    OutboundApi,
    /// A `<Dial>` child leg; starts `initiated` and TwiML (a whisper) runs once it answers.
    OutboundDial,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::OutboundApi => "outbound-api",
            Direction::OutboundDial => "outbound-dial",
        }
    }
}

/// A call's status (§8.1), as webhooks, status callbacks and the REST API spell it.
///
/// `Initiated` is kept although the REST enum lacks it: status callbacks and webhooks send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallStatus {
    Queued,
    Initiated,
    Ringing,
    InProgress,
    Completed,
    Busy,
    Failed,
    NoAnswer,
    Canceled,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Queued => "queued",
            CallStatus::Initiated => "initiated",
            CallStatus::Ringing => "ringing",
            CallStatus::InProgress => "in-progress",
            CallStatus::Completed => "completed",
            CallStatus::Busy => "busy",
            CallStatus::Failed => "failed",
            CallStatus::NoAnswer => "no-answer",
            CallStatus::Canceled => "canceled",
        }
    }

    /// `completed`, `busy`, `failed`, `no-answer` and `canceled` never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            CallStatus::Completed
                | CallStatus::Busy
                | CallStatus::Failed
                | CallStatus::NoAnswer
                | CallStatus::Canceled
        )
    }

    /// The `StatusCallbackEvent` this status belongs to (§3.3); `None` for `queued`.
    pub fn callback_event(self) -> Option<&'static str> {
        match self {
            CallStatus::Queued => None,
            CallStatus::Initiated => Some("initiated"),
            CallStatus::Ringing => Some("ringing"),
            CallStatus::InProgress => Some("answered"),
            _ => Some("completed"),
        }
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a leg's first TwiML (or a live-call update's) comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Initial {
    /// Fetch this URL (through the webhook failover path).
    Fetch { url: String, method: Method },
    /// TwiML given inline (REST `Twiml`): there is no document URL, so relative URLs and
    /// default `action`s cannot be resolved (11100).
    Inline(Document),
}

/// Best-effort geographic data for one party; unknown fields are sent as empty strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Geo {
    pub city: String,
    pub state: String,
    pub zip: String,
    pub country: String,
}

impl Geo {
    /// What the number's digits tell of where it is (`switchboard_geo`): country and, in North
    /// America, state or province.
    pub fn of(number: &str) -> Geo {
        let place = switchboard_geo::locate(number);
        Geo {
            city: String::new(),
            state: place.state.to_owned(),
            zip: String::new(),
            country: place.country,
        }
    }
}

/// Geographic fields set by name (`FromCity` … `ToCountry`) over what the numbers tell: the
/// sandbox's overrides for calls and messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GeoOverrides {
    set: Vec<(&'static str, String)>,
}

impl GeoOverrides {
    /// The eight names a request may set.
    pub const NAMES: [&'static str; 8] = [
        "FromCity",
        "FromState",
        "FromZip",
        "FromCountry",
        "ToCity",
        "ToState",
        "ToZip",
        "ToCountry",
    ];

    /// The overrides among a request's parameters, read through `value` by name.
    pub fn from_params<'a>(value: impl Fn(&str) -> Option<&'a str>) -> GeoOverrides {
        GeoOverrides {
            set: GeoOverrides::NAMES
                .iter()
                .filter_map(|name| value(name).map(|v| (*name, v.to_owned())))
                .collect(),
        }
    }

    /// Writes the overrides over the parties' fields.
    pub fn apply(&self, from: &mut Geo, to: &mut Geo) {
        for (name, value) in &self.set {
            let (geo, field) = match name.strip_prefix("From") {
                Some(field) => (&mut *from, field),
                None => (&mut *to, name.trim_start_matches("To")),
            };
            let slot = match field {
                "City" => &mut geo.city,
                "State" => &mut geo.state,
                "Zip" => &mut geo.zip,
                _ => &mut geo.country,
            };
            slot.clone_from(value);
        }
    }
}

/// Everything a [`Call`](crate::Call) needs to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSetup {
    pub call_sid: Sid,
    pub account_sid: Sid,
    /// The caller (inbound) or our number (outbound), E.164 / `client:x` / `sip:…`.
    pub from: String,
    pub to: String,
    pub direction: Direction,
    /// Sent as `CallerName` only when known (caller-ID lookup).
    pub caller_name: Option<String>,
    /// Sent as `ForwardedFrom`, an empty string when unknown.
    pub forwarded_from: Option<String>,
    /// Sent as `ParentCallSid` on child legs.
    pub parent_call_sid: Option<Sid>,
    /// Sent as `ApplicationSid` when the call is handled by an Application.
    pub application_sid: Option<Sid>,
    /// Default `2010-04-01`.
    pub api_version: String,
    pub from_geo: Geo,
    pub to_geo: Geo,
    /// The SIP `Call-ID` of a call that came in over SIP, sent as `SipCallId`.
    pub sip_call_id: Option<String>,
    pub initial: Initial,
    /// Spoken (`Source::Platform`) when no usable TwiML could be had; default per Decision 2.
    pub error_prompt: String,
    /// Decision 11; default 50.
    pub max_documents: u32,
    /// The leg runs a `<Number url>` whisper: `<Dial>` is refused (13201) and running out of
    /// verbs means "bridge now" ([`Action::Bridge`](crate::Action::Bridge)), not "hang up".
    pub whisper: bool,
    /// Synchronous answering-machine detection (`MachineDetection` without `AsyncAmd`): once
    /// answered, the first document waits for [`Input::MachineDetected`](crate::Input), and
    /// every request after it carries `AnsweredBy` and `MachineDetectionDuration`.
    pub machine_detection: bool,
}

impl CallSetup {
    /// A setup with every optional field at its default.
    pub fn new(
        call_sid: Sid,
        account_sid: Sid,
        from: impl Into<String>,
        to: impl Into<String>,
        direction: Direction,
        initial: Initial,
    ) -> Self {
        let (from, to) = (from.into(), to.into());
        CallSetup {
            call_sid,
            account_sid,
            from_geo: Geo::of(&from),
            to_geo: Geo::of(&to),
            from,
            to,
            sip_call_id: None,
            direction,
            caller_name: None,
            forwarded_from: None,
            parent_call_sid: None,
            application_sid: None,
            api_version: API_VERSION.to_owned(),
            initial,
            error_prompt: DEFAULT_ERROR_PROMPT.to_owned(),
            max_documents: DEFAULT_MAX_DOCUMENTS,
            whisper: false,
            machine_detection: false,
        }
    }

    /// The party on the far end of this leg (the default `to` of `<Sms>`).
    pub(crate) fn remote_party(&self) -> &str {
        match self.direction {
            Direction::Inbound => &self.from,
            Direction::OutboundApi | Direction::OutboundDial => &self.to,
        }
    }

    /// Our number on this leg (the default `from` of `<Sms>`).
    pub(crate) fn own_number(&self) -> &str {
        match self.direction {
            Direction::Inbound => &self.to,
            Direction::OutboundApi | Direction::OutboundDial => &self.from,
        }
    }
}
