//! Test helpers shared by the end-to-end and compatibility tests.
//!
//! `python` finds the interpreter with the official `twilio` package that `scripts/test` prepared.

pub mod python;
