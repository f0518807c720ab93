//! Twilio's own API description as the bar (issue 19 item 1): schemathesis runs every operation
//! of twilio-oai that this engine serves, against the real binary, with the checks
//! `not_a_server_error`, `status_code_conformance`, `content_type_conformance` and
//! `response_schema_conformance` (`tests/conformance/run.py`; the deliberate deviations, each
//! with its reason, are in `tests/conformance/deviations.py`). A test binary of its own.
//!
//! Needs `SWITCHBOARD_SCHEMATHESIS` and `SWITCHBOARD_OAI_DIR` (set up by scripts/test); without
//! them it says SKIPPED loudly, and under CI it fails instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use switchboard_test_support::engine::Engine;

#[test]
fn every_served_operation_conforms_to_twilios_description() {
    let tools = (
        std::env::var_os("SWITCHBOARD_SCHEMATHESIS").map(PathBuf::from),
        std::env::var_os("SWITCHBOARD_OAI_DIR").map(PathBuf::from),
    );
    let (Some(schemathesis), Some(oai)) = tools else {
        let why = "SWITCHBOARD_SCHEMATHESIS and SWITCHBOARD_OAI_DIR are not set (run scripts/test)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "conformance: {why}"
        );
        eprintln!("!!!!! SKIPPED conformance: {why} !!!!!");
        return;
    };
    let engine = Engine::start(Path::new(env!("CARGO_BIN_EXE_switchboard")));
    let work =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("conformance-{:016x}", rand_suffix()));
    std::fs::create_dir_all(&work).expect("a scratch folder");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/run.py");
    let python = std::env::var_os("SWITCHBOARD_PYTHON").unwrap_or_else(|| "python3".into());
    let output = Command::new(python)
        .arg(&script)
        // schemathesis keeps a cache in its working directory: the scratch folder, not the tree.
        .current_dir(&work)
        .env("SWITCHBOARD_URL", &engine.base_url)
        .env("SID", &engine.account_sid)
        .env("TOKEN", &engine.auth_token)
        .env("OAI_DIR", &oai)
        .env("SCHEMATHESIS", &schemathesis)
        .env("WORK", &work)
        .output()
        .expect("running the conformance script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "conformance failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(&work);
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
        ^ u64::from(std::process::id())
}
