//! Property tests: random input sequences never panic, a terminal status is final and nothing
//! follows it; a cooperative driver always brings a call to a terminal status.
