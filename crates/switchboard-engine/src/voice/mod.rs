//! Voice: one driver task per call leg runs a `switchboard_flow::Call` against the far end of
//! its media: the sandbox's virtual phone network or a real SIP call.
//!
//! - `start` creates legs (inbound sandbox calls, outbound REST calls, `<Dial>` legs) and
//!   supervises their tasks; `driver` is the task (the only `select!` of a call); `perform`
//!   turns each flow action into its transcript event and effect; `media` is the far end of a
//!   call's audio as one interface (`MediaEnd`), its sandbox implementation (durations,
//!   recording) and the caller's keys (type-ahead); `dial` the child legs; `fetch` TwiML
//!   fetches through the webhook failover path; `give_up` what runs when both URLs fail
//!   (last-known-good, last resort, platform prompt); `callbacks` status callbacks; `leg` and
//!   `recording` the stored resources; `call_recording` recordings of a whole call (REST
//!   `Calls/{Sid}/Recordings`, `Record=true`) and `pieces` their stored audio; `live` where outside input reaches a running call;
//!   `clock` the wall or virtual clock; `sip` real calls: the accept path of inbound INVITEs,
//!   a leg's SIP dialog, and its RTP media (the SIP implementation of `MediaEnd`); `amd`
//!   answering-machine detection of outbound legs (the sandbox's modelled handsets, a SIP
//!   leg's audio) and where its verdict goes; `conference` and `queue` the engine's rooms
//!   and queues, `rooms` what a leg does in them (join, hold, leave, bridge).
//!   leg's audio) and where its verdict goes; `stream` media streams (`<Start>`/`<Connect>`
//!   `<Stream>`): one WebSocket task per stream, attached to the call's media task.

mod amd;
pub mod call_recording;
pub(crate) mod callbacks;
mod clock;
pub mod conference;
mod dial;
mod driver;
mod fetch;
mod give_up;
pub mod leg;
pub mod live;
mod media;
mod perform;
mod pieces;
pub mod queue;
pub mod recording;
mod rooms;
pub mod sip;
mod start;
pub mod stream;
mod timers;
pub mod transcription;

pub use amd::MachineDetection;
pub use call_recording::{
    Change, Pause, RecordingCallback, RecordingCommand, RecordingOptions, RecordingRefusal, Track,
    Which,
};
pub use callbacks::StatusCallback;
pub use conference::{ParticipantUpdate, ParticipantView};
pub use driver::{FarEnd, LegEnd};
pub use live::{CallInput, LiveSettings, RoomInput};
pub use queue::{MemberView, QueueView};
pub use recording::CallerAudioError;
pub use start::{
    InboundCall, InboundStarted, LegStart, VoiceHandler, inbound, number_handler, start_leg,
};
