//! Twilio-exact webhooks: request building and signing, connection overrides, the reqwest
//! executor, classification of answers into documents or Twilio error codes, the pure failover
//! policy, and the alert records every failure produces.
//!
//! Pure parts (no IO, no clock): `signature`, `overrides`, `request`, `classify`, `failover`,
//! `alert`, `cookies`. IO: `executor` (reqwest) and `connect` (DNS hook, error mapping);
//! `fetch` glues policy and executor for the engines.

pub mod alert;
pub mod breaker;
pub mod classify;
pub mod connect;
pub mod cookies;
pub mod executor;
pub mod failover;
pub mod fetch;
pub mod outcome;
pub mod overrides;
pub mod request;
pub mod retry;
pub mod signature;

pub use alert::{AlertLevel, AlertRecord, DebugEventContext, debug_event_params};
pub use breaker::BreakerSettings;
pub use classify::{Channel, Reply};
pub use cookies::CookieJar;
pub use executor::{BreakerChange, ClientSettings, WebhookClient};
pub use failover::{Endpoint, Failover, FallbackScope, FetchPlan};
pub use fetch::{
    NotificationResult, TwimlFetchResult, TwimlOutcome, WebhookEvent, drive_failover, fetch_twiml,
    send_notification,
};
pub use outcome::{Exchange, TransportError};
pub use request::{Method, WebhookRequest};
