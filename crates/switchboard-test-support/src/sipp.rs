//! `sipp` (Debian `sip-tester`) as a real SIP peer for end-to-end tests.
//!
//! `scripts/test` installs it when it can; when it is missing here the suite prints a loud
//! `SKIPPED` line, and under `CI=true` it fails instead. sipp runs are serialised within a test
//! binary (`lock`): they share the default media ports and their RTP timing is what some tests
//! measure, so two at once would only make each other flaky.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// The sipp binary, or `None` after printing why the suite is skipped. The engine's default
/// text-to-speech program (`espeak-ng`) is required too: the calls speak.
pub fn sipp() -> Option<PathBuf> {
    let found = on_path("sipp");
    let speech = on_path("espeak-ng");
    if found.is_none() || speech.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "sipp and espeak-ng are required under CI=true (Debian packages sip-tester, espeak-ng)"
        );
        eprintln!(
            "!!!!! SKIPPED: sipp or espeak-ng not found (apt-get install sip-tester espeak-ng); SIP call tests did not run !!!!!"
        );
        return None;
    }
    found
}

/// Holds the one sipp slot of this test binary.
pub async fn lock() -> MutexGuard<'static, ()> {
    static SLOT: Mutex<()> = Mutex::const_new(());
    SLOT.lock().await
}

/// What a sipp run printed and how it ended.
#[derive(Debug)]
pub struct SippOutcome {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// One sipp invocation against `target`.
#[derive(Debug, Clone)]
pub struct Sipp {
    pub binary: PathBuf,
    pub scenario: PathBuf,
    pub target: SocketAddr,
    /// The Request-URI user (`-s`).
    pub service: String,
    /// `-key NAME VALUE` pairs for `[NAME]` in the scenario.
    pub keys: Vec<(String, String)>,
    pub extra: Vec<String>,
    pub timeout: Duration,
}

impl Sipp {
    pub fn new(binary: &Path, scenario: &Path, target: SocketAddr, service: &str) -> Sipp {
        Sipp {
            binary: binary.to_owned(),
            scenario: scenario.to_owned(),
            target,
            service: service.to_owned(),
            keys: Vec::new(),
            extra: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }

    pub fn key(mut self, name: &str, value: &str) -> Sipp {
        self.keys.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn arg(mut self, arg: &str) -> Sipp {
        self.extra.push(arg.to_owned());
        self
    }

    /// Runs one call to completion (`-m 1`) in a scratch directory where `pcap/` points at
    /// sip-tester's pcaps, as its built-in scenarios expect.
    pub async fn run(&self) -> SippOutcome {
        let dir = crate::engine::scratch_dir("sipp");
        #[cfg(unix)]
        std::os::unix::fs::symlink("/usr/share/sip-tester", dir.join("pcap")).ok();
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .current_dir(&dir)
            .arg("-sf")
            .arg(&self.scenario)
            .arg(self.target.to_string())
            .args(["-s", &self.service, "-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &free_udp_port().to_string()])
            .args(["-mp", &free_udp_port().to_string()])
            .args(["-m", "1", "-l", "1", "-nostdin", "-timeout_error"])
            .args(["-timeout", &format!("{}s", self.timeout.as_secs())]);
        for (name, value) in &self.keys {
            command.args(["-key", name, value]);
        }
        command
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = tokio::time::timeout(self.timeout + Duration::from_secs(10), command.output())
            .await
            .expect("sipp finished within its timeout")
            .expect("running sipp");
        std::fs::remove_dir_all(&dir).ok();
        SippOutcome {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A UDP port that was free a moment ago (sipp binds it at once; runs are serialised).
pub fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    socket.local_addr().expect("its address").port()
}

/// sipp as a callee (UAS) on a port of its own, running while the test makes the engine call it.
#[derive(Debug)]
pub struct SippUas {
    child: tokio::process::Child,
    dir: PathBuf,
    pub port: u16,
}

impl SippUas {
    /// Starts `scenario` (or sipp's built-in `uas` when `None`) for one call, and returns once
    /// sipp holds its SIP port.
    pub async fn start(binary: &Path, scenario: Option<&Path>, extra: &[&str]) -> SippUas {
        let dir = crate::engine::scratch_dir("sipp-uas");
        #[cfg(unix)]
        std::os::unix::fs::symlink("/usr/share/sip-tester", dir.join("pcap")).ok();
        let port = free_udp_port();
        let mut command = tokio::process::Command::new(binary);
        command.current_dir(&dir);
        match scenario {
            Some(path) => command.arg("-sf").arg(path),
            None => command.args(["-sn", "uas"]),
        };
        command
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &port.to_string()])
            .args(["-mp", &free_udp_port().to_string()])
            .args(["-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("running sipp as a UAS");
        // Ready when its port is taken: binding it ourselves then fails.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            if let Ok(Some(status)) = child.try_wait() {
                let output = child.wait_with_output().await.ok();
                let stderr = output.map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
                panic!("sipp exited before it listened ({status}): {stderr:?}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "sipp did not bind its SIP port"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        SippUas { child, dir, port }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits for sipp to finish its call (at most `timeout`).
    pub async fn finish(self, timeout: Duration) -> SippOutcome {
        let output = tokio::time::timeout(timeout, self.child.wait_with_output())
            .await
            .expect("the sipp UAS finished in time")
            .expect("waiting for sipp");
        std::fs::remove_dir_all(&self.dir).ok();
        SippOutcome {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}
