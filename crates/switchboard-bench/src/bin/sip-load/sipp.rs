//! sipp (Debian `sip-tester`) as the load generator, and the statistics it writes.
//!
//! Counts come from sipp's own `-trace_stat` CSV (one row a second with `-fd 1`, plus the final
//! row), not from parsing its screen: the CSV names its columns, so it is read by header. The
//! screen is still dumped (`-trace_screen`) into the run's directory for a human to look at.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::engine::scratch_dir;

/// One sipp invocation: `calls` calls at `rate` calls per second against `target`.
pub struct SippRun {
    pub label: &'static str,
    pub scenario: PathBuf,
    pub target: SocketAddr,
    /// The Request-URI user (`-s`).
    pub service: String,
    pub calls: usize,
    pub rate: usize,
    /// Most calls sipp keeps open at once (`-l`).
    pub limit: usize,
    /// Length of the scenario's bare `<pause/>` (`-d`), when it has one.
    pub hold_ms: Option<u64>,
    /// `-key NAME VALUE` pairs for `[NAME]` in the scenario.
    pub keys: Vec<(&'static str, String)>,
    /// sipp's media port (`-mp`): where calls whose SDP says `[media_port]` get their RTP.
    pub media_port: u16,
}

/// A sipp process on its way.
pub struct RunningSipp {
    child: tokio::process::Child,
    dir: PathBuf,
    started: Instant,
    label: &'static str,
}

/// How a sipp run ended, from its exit code and its statistics file.
#[derive(Debug, Default)]
pub struct SippOutcome {
    /// 0: every call succeeded, 1: at least one failed (sipp's convention).
    pub exit_code: Option<i32>,
    pub wall: Duration,
    pub created: u64,
    pub successful: u64,
    pub failed: u64,
    /// Calls started per second while sipp was starting them.
    pub creation_rate: f64,
    /// Calls completed per second between the first and the last completion.
    pub completion_rate: f64,
    pub peak_concurrent: u64,
    /// Mean INVITE → 200 OK (`rtd="true"` on the 200).
    pub answer_ms: f64,
    /// Mean call length.
    pub call_length_ms: f64,
}

/// A UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    socket.local_addr().expect("its address").port()
}

impl SippRun {
    /// Starts sipp in a scratch directory where `pcap/` points at sip-tester's pcaps.
    pub fn spawn(&self) -> RunningSipp {
        let dir = scratch_dir(&format!("sipp-{}", self.label));
        std::os::unix::fs::symlink("/usr/share/sip-tester", dir.join("pcap")).ok();
        let hold = self.hold_ms.unwrap_or(0) / 1000;
        let timeout = self.calls / self.rate.max(1) + hold as usize + 120;
        let mut command = tokio::process::Command::new("sipp");
        command
            .current_dir(&dir)
            .arg("-sf")
            .arg(&self.scenario)
            .arg(self.target.to_string())
            .args(["-s", &self.service, "-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &free_udp_port().to_string()])
            .args(["-mp", &self.media_port.to_string()])
            .args(["-cp", &free_udp_port().to_string()])
            .args(["-m", &self.calls.to_string(), "-r", &self.rate.to_string()])
            .args(["-rp", "1000", "-l", &self.limit.to_string()])
            .args(["-nostdin", "-timeout", &format!("{timeout}s")])
            .args(["-trace_stat", "-stf", "stat.csv", "-fd", "1"])
            .args(["-trace_screen", "-screen_file", "screen.log"]);
        if let Some(hold) = self.hold_ms {
            command.args(["-d", &hold.to_string()]);
        }
        for (name, value) in &self.keys {
            command.args(["-key", name, value]);
        }
        let stdout = std::fs::File::create(dir.join("stdout.log")).expect("sipp stdout file");
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("sipp stderr file");
        let child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("running sipp (Debian package sip-tester)");
        RunningSipp {
            child,
            dir,
            started: Instant::now(),
            label: self.label,
        }
    }
}

impl RunningSipp {
    /// Waits for sipp to exit and reads its statistics. The directory is kept when calls
    /// failed, so its screen and error output can be read.
    pub async fn finish(mut self) -> SippOutcome {
        let status = self.child.wait().await.expect("waiting for sipp");
        let wall = self.started.elapsed();
        let csv = std::fs::read_to_string(self.dir.join("stat.csv")).unwrap_or_default();
        let mut outcome = parse_stats(&csv);
        outcome.exit_code = status.code();
        outcome.wall = wall;
        if outcome.failed > 0 || status.code() != Some(0) {
            println!(
                "sipp {} exited {:?}; its files are in {}",
                self.label,
                status.code(),
                self.dir.display()
            );
        } else {
            std::fs::remove_dir_all(&self.dir).ok();
        }
        outcome
    }
}

/// `HH:MM:SS:fraction` (sipp's durations; the fraction in µs when it has 6 digits) in ms.
fn duration_ms(value: &str) -> f64 {
    let parts: Vec<&str> = value.trim().split(':').collect();
    let number = |index: usize| -> f64 {
        parts
            .get(index)
            .and_then(|part| part.parse().ok())
            .unwrap_or(0.0)
    };
    let fraction = parts.get(3).map_or(0.0, |part| {
        let scale = if part.len() > 3 { 1000.0 } else { 1.0 };
        part.parse::<f64>().unwrap_or(0.0) / scale
    });
    (number(0) * 3600.0 + number(1) * 60.0 + number(2)) * 1000.0 + fraction
}

/// `CurrentTime` is `date<TAB>time<TAB>epoch seconds`; `ElapsedTime` has whole seconds only.
fn epoch_ms(value: &str) -> f64 {
    let epoch = value.rsplit('\t').next().unwrap_or("");
    epoch.trim().parse::<f64>().unwrap_or(0.0) * 1000.0
}

/// The rate of a cumulative column between its first sample above 0 and its last sample below
/// the final value: calls per second while the count was moving (sampled once a second).
fn moving_rate(rows: &[(f64, u64)]) -> f64 {
    let Some(last) = rows.last().map(|row| row.1) else {
        return 0.0;
    };
    let start = rows.iter().find(|row| row.1 > 0);
    let end = rows.iter().rev().find(|row| row.1 < last);
    match (start, end) {
        (Some(start), Some(end)) if end.0 > start.0 => {
            (end.1 - start.1) as f64 / ((end.0 - start.0) / 1000.0)
        }
        _ => 0.0,
    }
}

/// The cell of column `name` in `row`, or "".
fn cell<'a>(header: &[&str], row: &[&'a str], name: &str) -> &'a str {
    header
        .iter()
        .position(|field| *field == name)
        .and_then(|index| row.get(index).copied())
        .unwrap_or("")
}

/// Reads sipp's `-trace_stat` CSV by its header.
fn parse_stats(csv: &str) -> SippOutcome {
    let mut lines = csv.lines().filter(|line| !line.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap_or("").split(';').collect();
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(';').collect()).collect();
    let cell = |row: &Vec<&'_ str>, name: &str| cell(&header, row, name).to_owned();
    let count = |row: &Vec<&str>, name: &str| cell(row, name).trim().parse::<u64>().unwrap_or(0);
    let series = |name: &str| -> Vec<(f64, u64)> {
        rows.iter()
            .map(|row| (epoch_ms(&cell(row, "CurrentTime")), count(row, name)))
            .collect()
    };
    let Some(last) = rows.last() else {
        return SippOutcome::default();
    };
    SippOutcome {
        created: count(last, "TotalCallCreated"),
        successful: count(last, "SuccessfulCall(C)"),
        failed: count(last, "FailedCall(C)"),
        creation_rate: moving_rate(&series("TotalCallCreated")),
        completion_rate: moving_rate(&series("SuccessfulCall(C)")),
        peak_concurrent: rows
            .iter()
            .map(|row| count(row, "CurrentCall"))
            .max()
            .unwrap_or(0),
        answer_ms: duration_ms(&cell(last, "ResponseTime1(C)")),
        call_length_ms: duration_ms(&cell(last, "CallLength(C)")),
        ..SippOutcome::default()
    }
}

/// The scenarios shipped in `bench/sipp/` of the workspace this binary was built from.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../bench/sipp")
        .join(format!("{name}.xml"))
}
