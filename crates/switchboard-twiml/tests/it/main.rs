//! The integration tests of `switchboard-twiml`: one binary, one module per concern.

mod codes;
mod corpus;
mod documents;
mod hostile;
mod round_trip;

use switchboard_twiml::{Context, Finding, Level, Parsed, Rejected, parse};

/// Wraps a fragment in `<Response>` unless it is a whole document.
pub fn document(fragment: &str) -> String {
    if fragment.starts_with("<?") || fragment.starts_with("<Response") {
        fragment.to_owned()
    } else {
        format!("<Response>{fragment}</Response>")
    }
}

pub fn voice(fragment: &str) -> Result<Parsed, Rejected> {
    parse(document(fragment).as_bytes(), Context::Voice)
}

pub fn messaging(fragment: &str) -> Result<Parsed, Rejected> {
    parse(document(fragment).as_bytes(), Context::Messaging)
}

/// Every finding of a parse, whatever its outcome.
pub fn findings(result: &Result<Parsed, Rejected>) -> &[Finding] {
    match result {
        Ok(parsed) => &parsed.warnings,
        Err(rejected) => &rejected.findings,
    }
}

/// Asserts that the parse is accepted with no finding at all.
pub fn clean(result: Result<Parsed, Rejected>) -> Parsed {
    match result {
        Ok(parsed) if parsed.warnings.is_empty() => parsed,
        other => panic!("expected a clean parse, got {:#?}", findings(&other)),
    }
}

/// Asserts the outcome a finding of `code` at `level` implies.
pub fn expect_code(result: &Result<Parsed, Rejected>, code: u32, level: Level) {
    let listed: Vec<(u32, Level)> = findings(result)
        .iter()
        .map(|f| (f.code.code, f.level))
        .collect();
    assert!(
        listed.contains(&(code, level)),
        "expected {code} {level:?}, got {listed:?}"
    );
    match (level, result) {
        (Level::Error, Err(rejected)) => assert_eq!(rejected.error.code.code, code, "first error"),
        (Level::Warning, Ok(_)) => {}
        (_, other) => panic!("wrong outcome for {code} {level:?}: {:#?}", findings(other)),
    }
}
