//! TwiML parsing and validation (being written; see issue 3).
