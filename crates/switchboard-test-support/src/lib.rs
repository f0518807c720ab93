//! Test helpers shared by the end-to-end and compatibility tests.
//!
//! - `python`: the interpreter with the official `twilio` package that `scripts/test` prepared.
//! - `node`: node and the node_modules folder with the official `twilio` npm package, likewise.
//! - `postgres`: throw-away databases on the server named by `SWITCHBOARD_TEST_POSTGRES`.
//! - `app`: a minimal customer web application (fixed answers per path, recorded requests).
//! - `engine`: the real `switchboard` binary spawned on port 0 with a fresh database.
//! - `net`: loopback addresses that refuse connections for a whole test.
//! - `sipp`: the real SIP peer, found (or reported SKIPPED) and run one call at a time.
//! - `kamailio`: a real SIP proxy (record-routing relay) in front of the engine, found (or
//!   reported SKIPPED), started on a free port and stopped on drop.

pub mod app;
pub mod engine;
pub mod kamailio;
pub mod net;
pub mod node;
pub mod postgres;
pub mod python;
pub mod sipp;
