//! `switchboard twiml check` as a user runs it: the real binary on files in a temporary
//! directory, checking the compiler-style output and the exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh directory under the target's temporary area, unique to this test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("twiml-check-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write fixture");
    path
}

fn check(args: &[&Path], messaging: bool) -> (Output, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.args(["twiml", "check"]).args(args);
    if messaging {
        command.arg("--messaging");
    }
    let output = command.output().expect("run switchboard");
    let stdout = String::from_utf8(output.stdout.clone()).expect("utf-8 output");
    (output, stdout)
}

#[test]
fn errors_print_like_a_compiler_and_fail() {
    let dir = scratch("errors");
    let good = write(&dir, "good.xml", "<Response><Say>Hello</Say></Response>");
    let bad = write(
        &dir,
        "bad.xml",
        "<Response>\n  <Say>unclosed\n</Response>\n",
    );
    let (output, stdout) = check(&[&good, &bad], false);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let expected = format!("{}:3:1: error 12100: ", bad.display());
    assert!(stdout.starts_with(&expected), "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        1,
        "the good file prints nothing: {stdout}"
    );
}

#[test]
fn warnings_alone_exit_zero() {
    let dir = scratch("warnings");
    let file = write(
        &dir,
        "typo.xml",
        "<Response>\n<Sya>hi</Sya>\n<Dial>(415) 555-1212</Dial>\n</Response>",
    );
    let (output, stdout) = check(&[&file], false);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("{}:2:1: warning 12200: ", file.display())),
        "{stdout}"
    );
    assert!(lines[1].contains(":3:1: warning 13223: "), "{stdout}");
}

#[test]
fn messaging_flag_switches_the_verb_set() {
    let dir = scratch("messaging");
    let file = write(
        &dir,
        "reply.xml",
        "<Response><Message>Thanks!</Message></Response>",
    );
    let voice_only = write(&dir, "voice.xml", "<Response><Say>hi</Say></Response>");
    let (output, stdout) = check(&[&file], true);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    let (output, stdout) = check(&[&voice_only], true);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("error 14110: "), "{stdout}");
}

#[test]
fn unreadable_files_are_errors() {
    let dir = scratch("missing");
    let missing = dir.join("missing.xml");
    let (output, stdout) = check(&[&missing], false);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("missing.xml: error: cannot read"),
        "{stdout}"
    );
}

#[test]
fn a_dash_reads_standard_input_and_findings_come_in_document_order() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["twiml", "check", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run switchboard");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"<Response>\n<Sya>hi</Sya>\n<Dial>(415) 555-1212</Dial>\n<Pause length=\"x\"/>\n</Response>")
        .expect("write the document");
    let output = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 output");
    let places: Vec<(u32, u32)> = stdout
        .lines()
        .map(|line| {
            let rest = line.strip_prefix("<stdin>:").expect("named <stdin>");
            let mut parts = rest.split(':');
            let line: u32 = parts.next().and_then(|n| n.parse().ok()).expect("line");
            let column: u32 = parts.next().and_then(|n| n.parse().ok()).expect("column");
            (line, column)
        })
        .collect();
    assert!(places.len() >= 2, "{stdout}");
    assert!(places.windows(2).all(|pair| pair[0] <= pair[1]), "{stdout}");
}

/// Issue 19: valid TwiML the engine does not run is an error here, with the code and message of
/// the alert a call raises when it reaches it (both come from `switchboard_twiml::support`).
#[test]
fn what_the_engine_does_not_run_is_an_error_with_the_engines_code() {
    let dir = scratch("unsupported");
    let file = write(
        &dir,
        "agent.xml",
        "<Response>\n  <Say>hi</Say>\n  <Connect><Room>room</Room></Connect>\n  <Dial><Client>alice</Client></Dial>\n</Response>\n",
    );
    let (output, stdout) = check(&[&file], false);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            ":3:3: error 13750: <Connect> is not supported by this engine yet; it was skipped"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(":4:9: error 13000: <Dial><Client> is not supported by this engine yet; only <Number>, <Sip>, <Conference> and <Queue> are dialled"),
        "{stdout}"
    );
    let runnable = write(
        &dir,
        "ivr.xml",
        "<Response><Dial><Sip>sip:a@b</Sip></Dial></Response>",
    );
    let (output, stdout) = check(&[&runnable], false);
    assert_eq!(output.status.code(), Some(0), "{stdout}");

    let listed = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["twiml", "check", "--supported"])
        .output()
        .expect("run switchboard");
    let table = String::from_utf8(listed.stdout).expect("utf-8");
    assert!(listed.status.success());
    assert!(table.contains("voice      <Say>  runs"), "{table}");
    assert!(
        table.contains("voice      <Dial><Conference>  runs"),
        "{table}"
    );
    assert!(
        table.contains("voice      <Dial><Client>  not run"),
        "{table}"
    );
    assert!(table.contains("messaging  <Message>  runs"), "{table}");
}

/// Issue 19 item 5: a plain-text body is what the engine sends as the reply (or speaks) when it
/// is served as `text/plain`, so it is a note, not an error; broken markup is still an error.
#[test]
fn a_plain_text_body_is_a_note_as_the_engine_takes_it() {
    let dir = scratch("plain");
    let plain = write(&dir, "reply.txt", "Thanks, we got your message!\n");
    let (output, stdout) = check(&[&plain], true);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "reply.txt: note: not TwiML; served as text/plain, the engine sends it as the reply"
        ),
        "{stdout}"
    );
    let (output, stdout) = check(&[&plain], false);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("speaks it and hangs up"), "{stdout}");
    let broken = write(&dir, "broken.xml", "<Response><Message>hi</Response>");
    let (output, stdout) = check(&[&broken], true);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("error 12100"), "{stdout}");
}

#[test]
fn inline_documents_report_relative_urls_and_callbacks_only_warn() {
    let dir = scratch("inline");
    let file = write(
        &dir,
        "inline.xml",
        "<Response>\n<Record action=\"https://app.example/done\" recordingStatusCallback=\"cb\"/>\n<Play>ftp://files.example/a.wav</Play>\n</Response>",
    );
    let run = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["twiml", "check"])
            .args(extra)
            .arg(&file)
            .output()
            .expect("run switchboard");
        (
            output.status.code(),
            String::from_utf8(output.stdout).expect("utf-8"),
        )
    };
    // Inline: the callback is a warning, the ftp URL an error wherever the document is.
    let (status, stdout) = run(&["--inline"]);
    assert_eq!(status, Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].contains(":2:") && lines[0].contains("warning 11100: \"cb\" is relative"),
        "{stdout}"
    );
    assert!(
        lines[1].contains(":3:7: error 11100: \"ftp://files.example/a.wav\" is a ftp URL"),
        "{stdout}"
    );
    // Served: the relative callback resolves; the scheme is still wrong.
    let (status, stdout) = run(&[]);
    assert_eq!(status, Some(1), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("ftp URL"), "{stdout}");
}

/// Issue 22: media streams run; `ws://` is a warning (Twilio takes only `wss://`) and a
/// `<Connect>` stream of another track than `inbound_track` is the engine's 31941.
#[test]
fn streams_run_ws_is_a_warning_and_a_two_way_stream_track_is_31941() {
    let dir = scratch("streams");
    let fine = write(
        &dir,
        "agent.xml",
        "<Response><Start><Stream url=\"wss://bot.example/s\" track=\"both_tracks\"/></Start>\n<Connect action=\"/after\"><Stream url=\"ws://bot.example/c\"><Parameter name=\"a\" value=\"1\"/></Stream></Connect></Response>\n",
    );
    let (output, stdout) = check(&[&fine], false);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(":2:26: warning 12200: <Stream> url uses ws://; this engine accepts it, Twilio accepts only wss://"),
        "{stdout}"
    );
    let track = write(
        &dir,
        "track.xml",
        "<Response><Connect><Stream url=\"wss://bot.example/c\" track=\"both_tracks\"/></Connect></Response>",
    );
    let (output, stdout) = check(&[&track], false);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .contains("error 31941: <Connect><Stream> carries only inbound_track, not both_tracks"),
        "{stdout}"
    );
}
