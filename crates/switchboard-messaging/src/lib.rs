//! Pure messaging logic (no IO, no clock): how many SMS segments a body needs, and the session
//! that turns an inbound message's TwiML documents into replies, redirects and alerts.

pub mod segments;
pub mod session;

pub use segments::{Encoding, segments};
pub use session::{Action, Input, Reply, Session};
