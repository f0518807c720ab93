//! Shared vocabulary of the engine: SID newtypes, Twilio's error-code registry and date formats.
//!
//! This crate is pure: no IO, no clock (callers pass timestamps in).

pub mod date;
pub mod error_code;
pub mod method;
pub mod phone;
pub mod sid;

pub use error_code::ErrorCode;
pub use method::Method;
pub use sid::{Sid, SidKind};
