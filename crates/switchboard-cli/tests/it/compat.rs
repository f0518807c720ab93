//! Compatibility with the official helper libraries pointed at the engine: twilio-python (9.x)
//! for every resource, and twilio-node (6.x) for the recording and messaging-service flows.

use std::path::PathBuf;
use std::process::Command;

use switchboard_test_support::node::node;
use switchboard_test_support::python::python;

fn run_script(script: &str) {
    run_script_with(script, &[]);
}

/// Runs the python `script` against an engine started with `args` added to `serve`.
fn run_script_with(script: &str, args: &[&str]) {
    let Some(python) = python(script) else { return };
    run(python, script, args);
}

/// Runs the node `script` likewise; the scripts find the `twilio` package through
/// `SWITCHBOARD_NODE_MODULES` (ES modules) or `NODE_PATH` (CommonJS), both set.
fn run_node_with(script: &str, args: &[&str]) {
    let Some(node) = node(script) else { return };
    run(node, script, args);
}

fn run(program: PathBuf, script: &str, args: &[&str]) {
    let engine = crate::start_with(args);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat")
        .join(script);
    let mut command = Command::new(program);
    if let Some(modules) = std::env::var_os("SWITCHBOARD_NODE_MODULES") {
        command.env("NODE_PATH", modules);
    }
    let output = command
        .arg(&path)
        .env("SWITCHBOARD_URL", &engine.base_url)
        .env("SID", &engine.account_sid)
        .env("TOKEN", &engine.auth_token)
        .output()
        .expect("running the script");
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
fn twilio_python_verifies_caller_ids_reads_usage_and_updates_live_calls() {
    run_script("account_extras.py");
}

#[test]
fn twilio_python_places_calls_with_answering_machine_detection() {
    run_script("amd.py");
}

/// Issue 18: three sandbox callers in one conference, one muted and kicked through the client,
/// status callbacks in `SequenceNumber` order, the end when the moderator leaves.
#[test]
fn twilio_python_runs_a_conference() {
    run_script("conferences.py");
}

#[test]
fn twilio_python_records_live_calls() {
    run_script("recordings.py");
}

#[test]
fn twilio_python_starts_and_stops_a_media_stream_on_a_live_call() {
    run_script("streams.py");
}

/// The same recording flow with the official `twilio` npm package.
#[test]
fn twilio_node_records_live_calls() {
    run_node_with("recordings.mjs", &[]);
}

#[test]
fn twilio_python_sends_through_messaging_services_and_schedules_messages() {
    run_script_with("messaging_services.py", &["--schedule-min-ahead", "1"]);
}

/// `multipart/form-data` bodies from Node's own `fetch` and `FormData` (issue 23 item 7).
#[test]
fn node_multipart_bodies_create_what_form_bodies_create() {
    run_node_with("multipart.mjs", &[]);
}

#[test]
fn twilio_node_sends_through_messaging_services_and_schedules_messages() {
    run_node_with("messaging_services.js", &["--schedule-min-ahead", "1"]);
}

/// Issue 23: a sandbox caller's `Text` reaches a speech gather and a transcription exactly; the
/// Transcriptions resource through the official client.
#[test]
fn twilio_python_lists_transcriptions_of_voicemails_said_in_the_sandbox() {
    run_script("transcriptions.py");
}
