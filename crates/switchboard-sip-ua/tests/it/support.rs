//! Shared test helpers: binding an endpoint on port 0, finding and running sipp, waiting for
//! events with a deadline, and the little TU's SDP answer.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use switchboard_sip::{LocalMedia, SessionDescription, build_answer, negotiate};
use switchboard_sip_ua::{IncomingCall, SipConfig, SipEndpoint};
use tokio::sync::mpsc;

/// How long any single expected thing may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// An endpoint on 127.0.0.1:0 trusting `trust`, with room for `max_calls`.
pub async fn endpoint(
    trust: &str,
    max_calls: usize,
) -> (SipEndpoint, mpsc::Receiver<IncomingCall>) {
    let config = SipConfig {
        bind: "127.0.0.1:0".parse().expect("address"),
        trust: vec![trust.parse().expect("cidr")],
        max_calls,
        public_host: None,
        min_se_s: 90,
    };
    SipEndpoint::bind(config).await.expect("bind")
}

/// The sipp binary, or `None` (after a loud line) when it is missing outside CI.
pub fn sipp() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("sipp"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "sipp not found on PATH but CI=true (install sip-tester)"
        );
        eprintln!("SKIPPED: sipp not found");
    }
    found
}

/// A currently free UDP port on 127.0.0.1 (also free for TCP, checked).
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The path of a scenario file in tests/it/scenarios.
pub fn scenario(name: &str) -> String {
    format!("{}/tests/it/scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh working directory for one sipp run (sipp writes its logs there).
fn work_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-sip-ua-{}-{:x}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("work dir");
    dir
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Starts sipp with `args` plus the short-run flags; the handle resolves to (success, log).
pub fn spawn_sipp(sipp: &PathBuf, args: Vec<String>) -> tokio::task::JoinHandle<(bool, String)> {
    let mut command = tokio::process::Command::new(sipp);
    let media_port = free_port().to_string();
    command
        .args(&args)
        .args(["-mi", "127.0.0.1", "-mp", &media_port])
        .args([
            "-nostdin",
            "-timeout",
            "15s",
            "-timeout_error",
            "-trace_err",
        ])
        .current_dir(work_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    tokio::spawn(async move {
        let run = tokio::time::timeout(Duration::from_secs(30), command.output()).await;
        match run {
            Ok(Ok(output)) => {
                let log = format!(
                    "sipp {args:?} exited {:?}\n{}\n{}",
                    output.status,
                    String::from_utf8_lossy(&output.stdout)
                        .lines()
                        .rev()
                        .take(40)
                        .collect::<Vec<_>>()
                        .join("\n"),
                    String::from_utf8_lossy(&output.stderr)
                );
                (output.status.success(), log)
            }
            Ok(Err(error)) => (false, format!("sipp did not start: {error}")),
            Err(_) => (false, "sipp ran over 30 s".to_owned()),
        }
    })
}

/// Waits for sipp and fails the test with its output unless it succeeded.
pub async fn expect_sipp_success(run: tokio::task::JoinHandle<(bool, String)>) {
    let (success, log) = run.await.expect("sipp task");
    assert!(success, "{log}");
}

/// The next item of a channel, failing the test after `WAIT`.
pub async fn next<T>(receiver: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, receiver.recv())
        .await
        .expect("an event within the deadline")
        .expect("the channel is open")
}

/// The next inbound call, failing the test after `WAIT`.
pub async fn next_call(calls: &mut mpsc::Receiver<IncomingCall>) -> IncomingCall {
    tokio::time::timeout(WAIT, calls.recv())
        .await
        .expect("a call within the deadline")
        .expect("the endpoint is running")
}

/// The TU's answer to an offer, as the call driver will build it.
pub fn answer_sdp(offer: &SessionDescription) -> Vec<u8> {
    let negotiated = negotiate(offer).expect("a common codec");
    let local = LocalMedia {
        session_id: 42,
        session_version: 1,
        address_type: "IP4".to_owned(),
        address: "127.0.0.1".to_owned(),
        rtp_port: 40_000,
    };
    build_answer(offer, &negotiated, &local).to_bytes()
}

/// Strings for a sipp command line.
pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}
