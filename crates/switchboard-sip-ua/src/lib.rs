//! The tokio SIP user agent: UDP and TCP transport, transactions, dialogs and call handles
//! over the pure `switchboard-sip` core (RFC 3261, RFC 3581 `rport`, RFC 2617 digest).
//!
//! `SipEndpoint::bind` starts three kinds of task: a UDP receiver and a TCP listener (with one
//! reader and one writer task per connection) that parse bytes into messages, and one endpoint
//! task that owns every transaction, dialog and call and is the only place that decides
//! anything. Handles (`ServerCall`, `ClientCall`) are channel senders into that task; events
//! come back on a per-call channel. This keeps the sans-IO core's shape: the endpoint task
//! feeds `handle_*`, drains `poll_output` and sleeps until the earliest `poll_timeout`.
//!
//! Inbound: every INVITE gets `100 Trying`; untrusted sources get 403, INVITEs beyond
//! `max_calls` 503, garbage 400; the TU answers, rejects or rings through `ServerCall`.
//! Outbound: `SipEndpoint::invite` sends an INVITE (UDP, or TCP with `;transport=tcp`), ACKs
//! the 2xx through the dialog, CANCELs on ring timeout, and retries once per digest challenge.
//!
//! Metrics: `sip_transactions_total{class}`, `sip_messages_received_total`,
//! `sip_parse_errors_total`, `sip_calls_rejected_total{reason}`, gauge `sip_active_calls`.

mod actor;
mod api;
mod cidr;
mod digest;
mod endpoint;
mod error;
mod transport;

pub use api::{
    CallEvent, ClientCall, IncomingCall, OutgoingCall, OutgoingEvent, OutgoingInvite, Refusal,
    ServerCall,
};
pub use cidr::{Cidr, CidrError};
pub use endpoint::{SipConfig, SipEndpoint};
pub use error::SipUaError;
pub use switchboard_sip::TimerConfig;
