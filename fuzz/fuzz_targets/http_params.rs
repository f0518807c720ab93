//! Fuzz target for the REST and sandbox parameter parser (`switchboard_api::form`), which reads
//! every form body and every query string. Properties, not only "no panic":
//! - a refusal is always a 400 with 20422 (never another status, never a panic);
//! - no accepted name or value holds a NUL (the one rule for stored strings);
//! - whatever parses, re-encodes (`Params::encode`) and parses back to the same pairs;
//! - it agrees with the `form_urlencoded` crate (the WHATWG reading) on everything it accepts;
//! - a query string is read exactly as the same bytes as a body.
//!
//! Run on stable with `cargo fuzz run -s none http_params` from this directory.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_api::form::{Params, query_params};

fuzz_target!(|data: &[u8]| {
    let parsed = Params::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let as_query = query_params(Some(text));
        assert_eq!(
            as_query.as_ref().map(|params| &params.0).ok(),
            parsed.as_ref().map(|params| &params.0).ok(),
            "a query string and a body differ"
        );
    }
    let params = match parsed {
        Ok(params) => params,
        Err(error) => {
            assert_eq!(error.status.as_u16(), 400, "{error:?}");
            assert_eq!(error.code.code, 20422, "{error:?}");
            return;
        }
    };
    for (name, value) in &params.0 {
        assert!(
            !name.contains('\0') && !value.contains('\0'),
            "a NUL was accepted"
        );
    }
    let reference: Vec<(String, String)> = form_urlencoded::parse(data)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    assert_eq!(params.0, reference, "disagrees with form_urlencoded");
    let encoded = params.encode();
    assert!(encoded.is_ascii());
    let again = Params::parse(encoded.as_bytes()).expect("the encoding parses");
    assert_eq!(again.0, params.0, "round trip changed: {encoded}");
});
