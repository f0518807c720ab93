//! Compatibility with the official helper libraries pointed at the engine: twilio-python (9.x)
//! for every resource, and twilio-node (6.x) for the messaging-service flow.

use std::process::Command;

use switchboard_test_support::python::python;

fn run_script(script: &str) {
    run_script_with(script, &[]);
}

/// Runs `script` against an engine started with `args` added to `serve`.
fn run_script_with(script: &str, args: &[&str]) {
    let Some(python) = python(script) else { return };
    let engine = crate::start_with(args);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat")
        .join(script);
    let output = Command::new(python)
        .arg(&path)
        .env("SWITCHBOARD_URL", &engine.base_url)
        .env("SID", &engine.account_sid)
        .env("TOKEN", &engine.auth_token)
        .output()
        .expect("running python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[test]
fn twilio_python_drives_the_rest_foundation() {
    run_script("rest_foundation.py");
}

#[test]
fn twilio_python_app_and_client_exercise_messaging_and_failover() {
    run_script("messaging.py");
}

#[test]
fn twilio_python_ivr_drives_voice_calls_callbacks_and_recordings() {
    run_script("voice.py");
}

#[test]
fn twilio_python_searches_and_buys_available_numbers() {
    run_script("available.py");
}

#[test]
fn twilio_python_sends_through_messaging_services_and_schedules_messages() {
    run_script_with("messaging_services.py", &["--schedule-min-ahead", "1"]);
}

#[test]
fn twilio_node_sends_through_messaging_services_and_schedules_messages() {
    let script = "messaging_services.js";
    let Some(modules) = switchboard_test_support::node::node_modules(script) else {
        return;
    };
    let engine = crate::start_with(&["--schedule-min-ahead", "1"]);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat")
        .join(script);
    let output = Command::new("node")
        .arg(&path)
        .env("NODE_PATH", modules)
        .env("SWITCHBOARD_URL", &engine.base_url)
        .env("SID", &engine.account_sid)
        .env("TOKEN", &engine.auth_token)
        .output()
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
