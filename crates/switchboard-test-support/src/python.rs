//! Locating the python3 that has the official `twilio` package (set up by `scripts/test`).

use std::path::PathBuf;

/// The interpreter named by `SWITCHBOARD_PYTHON`, or `None` after printing a loud SKIPPED line.
///
/// Under `CI=true` a missing interpreter is a failure, never a skip.
pub fn python(suite: &str) -> Option<PathBuf> {
    match std::env::var_os("SWITCHBOARD_PYTHON") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{suite}: SWITCHBOARD_PYTHON is not set under CI; run the tests with scripts/test"
            );
            eprintln!(
                "!!!!! SKIPPED {suite}: SWITCHBOARD_PYTHON is not set (run scripts/test) !!!!!"
            );
            None
        }
    }
}
