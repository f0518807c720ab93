//! Locating node and the node_modules folder with the official `twilio` npm package (set up by
//! `scripts/test`), the twin of `python`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The folder named by `SWITCHBOARD_NODE_MODULES` when it holds `twilio` and `node` runs, or
/// `None` after printing a loud SKIPPED line naming what is missing.
///
/// Under `CI=true` anything missing is a failure, never a skip.
pub fn node_modules(suite: &str) -> Option<PathBuf> {
    let modules = std::env::var_os("SWITCHBOARD_NODE_MODULES")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from);
    let node_runs = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    let missing = match &modules {
        _ if !node_runs => "node is not installed",
        None => "SWITCHBOARD_NODE_MODULES is not set",
        Some(path) if !path.join("twilio/package.json").is_file() => {
            "SWITCHBOARD_NODE_MODULES has no twilio package"
        }
        Some(_) => return modules,
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{suite}: {missing} under CI; run the tests with scripts/test"
    );
    eprintln!("!!!!! SKIPPED {suite} (node): {missing} (run scripts/test) !!!!!");
    None
}
