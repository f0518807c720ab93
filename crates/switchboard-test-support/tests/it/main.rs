//! The integration tests of `switchboard-test-support`: one binary, one module per concern.
//!
//! The architecture rules live here because this crate may depend on everything in the
//! workspace without breaking any of them.

mod architecture;
