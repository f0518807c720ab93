//! Hostile input is normal input: each attack is refused with the right code, quickly, and
//! nothing is expanded or fetched. The time bound is the issue's ("well under a millisecond per
//! KiB") with a generous floor so a busy machine cannot make it flaky; real figures are in
//! BENCHMARKS.md.

use std::time::{Duration, Instant};

use switchboard_twiml::{Context, Level, parse};

use crate::expect_code;

/// Parses `input`, asserts the code, and that it took under 1 ms per KiB (at least 250 ms).
fn refused(input: &[u8], code: u32) {
    let started = Instant::now();
    let result = parse(input, Context::Voice);
    let elapsed = started.elapsed();
    expect_code(&result, code, Level::Error);
    let budget = Duration::from_millis((input.len() as u64 / 1024).max(250));
    assert!(elapsed < budget, "{} bytes took {elapsed:?}", input.len());
}

#[test]
fn billion_laughs_is_refused_without_expansion() {
    let mut input =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for level in 1..10 {
        let previous = if level == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", level - 1)
        };
        input.push_str(&format!(
            "<!ENTITY lol{level} \"{}\">\n",
            format!("&{previous};").repeat(10)
        ));
    }
    input.push_str("]>\n<Response><Say>&lol9;</Say></Response>");
    refused(input.as_bytes(), 12100);
    // Without the DOCTYPE the reference is simply undefined.
    refused(b"<Response><Say>&lol9;</Say></Response>", 12100);
}

#[test]
fn external_entities_are_never_fetched() {
    let input = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Response><Say>&x;</Say></Response>";
    refused(input.as_bytes(), 12100);
    let parameter = "<!DOCTYPE r [<!ENTITY % p SYSTEM \"http://127.0.0.1:1/x\"> %p;]><Response/>";
    refused(parameter.as_bytes(), 12100);
}

#[test]
fn deep_nesting_is_refused() {
    // 100 000 levels do not fit in 64 KiB: the size cap answers before parsing.
    refused("<Response>".repeat(100_000).as_bytes(), 11750);
    // The deepest nesting that fits under the cap hits the depth limit instead.
    refused("<Say>".repeat(13_000).as_bytes(), 12100);
}

#[test]
fn attribute_floods_are_refused() {
    let attributes: String = (0..40_000).map(|i| format!(" a{i}=\"1\"")).collect();
    refused(format!("<Response{attributes}/>").as_bytes(), 11750);
    let fits: String = (0..7_000).map(|i| format!(" a{i}=\"\"")).collect();
    let input = format!("<Response{fits}/>");
    assert!(input.len() <= 64 * 1024);
    refused(input.as_bytes(), 12100);
}

#[test]
fn oversized_bodies_are_refused_before_parsing() {
    let mut body = b"<Response><Say>".to_vec();
    body.resize(10 * 1024 * 1024, b'a');
    refused(&body, 11750);
}

#[test]
fn invalid_utf8_and_other_encodings_are_refused() {
    refused(b"<Response><Say>\xff\xfe</Say></Response>", 12100);
    refused(b"\xef\xbb\xbf<?xml version=\"1.0\"?><Response/>", 12100);
    refused(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?><Response/>".as_bytes(),
        12100,
    );
}

#[test]
fn many_findings_stay_bounded_and_keep_the_first_error() {
    let warnings = "<Foo/>".repeat(5_000);
    let input = format!("<Response>{warnings}<Pause length=\"x\"/></Response>");
    let result = parse(input.as_bytes(), Context::Voice);
    expect_code(&result, 13910, Level::Error);
    assert!(crate::findings(&result).len() <= 201);
}
