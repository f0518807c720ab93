//! The release engine as a child process with SIP on, and what `/proc` says about a process:
//! CPU seconds, resident memory, open descriptors.
//!
//! The engine is spawned here rather than through `switchboard-test-support` because the
//! figures need its process id, and the benchmark's flags (`--rtp-ports`, `--max-calls`) differ
//! from the tests'.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A running `switchboard serve` with SIP on loopback and a fresh SQLite database.
pub struct EngineProcess {
    child: Child,
    dir: PathBuf,
    pub pid: u32,
    pub base_url: String,
    pub sip_addr: SocketAddr,
    pub account_sid: String,
    pub auth_token: String,
}

/// A value unique enough for a scratch name or a throwaway credential.
fn unique(salt: u64) -> u128 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    nanos ^ (u128::from(std::process::id()) << 64) ^ u128::from(salt).rotate_left(17)
}

/// A fresh directory under the system temp dir.
pub fn scratch_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sip-load-{label}-{:x}", unique(1)));
    std::fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

impl EngineProcess {
    /// Starts `binary serve` and waits for the HTTP and SIP addresses it prints. The engine's
    /// log goes to `engine.log` in its scratch directory (printed on the way).
    pub fn start(binary: &Path, rtp_ports: &str, max_calls: usize) -> EngineProcess {
        let dir = scratch_dir("engine");
        let database = format!("sqlite://{}", dir.join("switchboard.db").display());
        let account_sid = format!("AC{:032x}", unique(2));
        let auth_token = format!("{:032x}", unique(3));
        let log = std::fs::File::create(dir.join("engine.log")).expect("engine log");
        let mut child = Command::new(binary)
            .args(["serve", "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0"])
            .args([
                "--rtp-ports",
                rtp_ports,
                "--max-calls",
                &max_calls.to_string(),
            ])
            .args(["--database", &database])
            .current_dir(&dir)
            .env("SWITCHBOARD_ACCOUNT_SID", &account_sid)
            .env("SWITCHBOARD_AUTH_TOKEN", &auth_token)
            .env_remove("SWITCHBOARD_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("spawning {}: {error}", binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (base_url, sip_addr) = read_addresses(stdout);
        println!(
            "engine pid {} on {base_url}, SIP {sip_addr}; log {}",
            child.id(),
            dir.join("engine.log").display()
        );
        EngineProcess {
            pid: child.id(),
            child,
            dir,
            base_url,
            sip_addr,
            account_sid,
            auth_token,
        }
    }

    /// `/2010-04-01/Accounts/{sid}/{rest}` on this engine.
    pub fn account_url(&self, rest: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{rest}",
            self.base_url, self.account_sid
        )
    }
}

/// Reads `http listening on …` and `sip listening on udp …`, then keeps draining stdout so the
/// engine never blocks on a full pipe.
fn read_addresses(stdout: std::process::ChildStdout) -> (String, SocketAddr) {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(address) = line.strip_prefix("http listening on ") {
                sender.send((true, address.to_owned())).ok();
            }
            if let Some(address) = line.strip_prefix("sip listening on udp ") {
                sender.send((false, address.to_owned())).ok();
            }
        }
    });
    let (mut http, mut sip) = (None, None);
    while http.is_none() || sip.is_none() {
        let (is_http, address) = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the engine printed its HTTP and SIP addresses");
        if is_http {
            http = Some(format!("http://{address}"));
        } else {
            sip = Some(address.parse().expect("a SIP address"));
        }
    }
    // Both were set by the loop above.
    (http.expect("http address"), sip.expect("sip address"))
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// Clock ticks per second of `/proc/*/stat` (`getconf CLK_TCK`, 100 on Linux if that fails).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The fields of `/proc/<which>/stat` after the command name, so index 0 is field 3 (`state`).
fn stat_fields(which: &str) -> Vec<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{which}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    rest.split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect()
}

/// User + system CPU seconds of a process (fields 14 and 15).
pub fn cpu_seconds(pid: u32) -> f64 {
    let fields = stat_fields(&pid.to_string());
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    ticks as f64 / clock_ticks()
}

/// CPU seconds of this process's children that have been waited for (fields 16 and 17): how
/// sipp's own CPU time is read once it has exited.
pub fn reaped_children_cpu_seconds() -> f64 {
    let fields = stat_fields("self");
    let ticks = fields.get(13).copied().unwrap_or(0) + fields.get(14).copied().unwrap_or(0);
    ticks as f64 / clock_ticks()
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
pub fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors of a process.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// Samples a process's RSS every 100 ms until stopped; `stop` returns the peak in kB.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(status_kb(pid, "VmRSS"));
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        });
        RssSampler { stop, thread }
    }

    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}
