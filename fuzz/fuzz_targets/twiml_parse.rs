//! Fuzz target for the TwiML parser: any bytes, both contexts, never a panic; and whatever
//! parses must print to TwiML that parses back to the same document.
//!
//! Run on stable with `cargo fuzz run -s none twiml_parse` from this directory.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_twiml::{Context, parse, print};

fuzz_target!(|data: &[u8]| {
    for context in [Context::Voice, Context::Messaging] {
        if let Ok(parsed) = parse(data, context) {
            let printed = print(&parsed.document);
            match parse(printed.as_bytes(), context) {
                Ok(again) => assert_eq!(
                    again.document, parsed.document,
                    "round trip changed:\n{printed}"
                ),
                Err(rejected) => panic!("printed document rejected: {rejected:?}\n{printed}"),
            }
        }
    }
});
