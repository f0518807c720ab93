//! Locating node and the official `twilio` npm package (`SWITCHBOARD_NODE_MODULES`, set up by
//! `scripts/test`), the twin of `python`.

use std::path::PathBuf;

/// The `node` program (on `PATH`) when `SWITCHBOARD_NODE_MODULES` names a folder holding the
/// `twilio` package, or `None` after printing a loud SKIPPED line. Scripts find the package
/// through that variable, which the child process inherits (ES modules do not read
/// `NODE_PATH`: `createRequire(process.env.SWITCHBOARD_NODE_MODULES + "/")`).
///
/// Under `CI=true` anything missing is a failure, never a skip.
pub fn node(suite: &str) -> Option<PathBuf> {
    let modules = std::env::var_os("SWITCHBOARD_NODE_MODULES")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .filter(|path| path.join("twilio/package.json").is_file());
    let program = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("node"))
            .find(|candidate| candidate.is_file())
    });
    match (modules, program) {
        (Some(_), Some(program)) => Some(program),
        (modules, _) => {
            let why = if modules.is_none() {
                "SWITCHBOARD_NODE_MODULES does not hold the twilio package"
            } else {
                "node is not on PATH"
            };
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{suite}: {why} under CI; run the tests with scripts/test"
            );
            eprintln!("!!!!! SKIPPED {suite}: {why} (run scripts/test) !!!!!");
            None
        }
    }
}
