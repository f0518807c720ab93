//! Integration tests of switchboard-media against real peers: espeak-ng, sox and lame for audio,
//! a raw tokio HTTP server for fetching, and real UDP sockets on 127.0.0.1 for RTP.
//!
//! Each RTP test uses its own port range (40000 + 10 × n) so tests running in parallel never
//! collide. A missing external tool prints a loud SKIPPED line, and fails the test under CI=true.

mod decode;
mod fetch;
mod session;
mod talk;
mod tts;

/// True if `tool` runs; otherwise prints SKIPPED (or panics under CI=true).
pub fn have_tool(tool: &str, test: &str) -> bool {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required under CI=true ({test})"
        );
        eprintln!("=== SKIPPED {test}: {tool} is not installed ===");
    }
    found
}

/// A 8 kHz sine tone at about -12 dBFS.
pub fn tone(hz: f32, ms: u32) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| ((std::f32::consts::TAU * hz * i as f32 / 8_000.0).sin() * 8_000.0) as i16)
        .collect()
}

/// Sign changes in `samples`.
pub fn zero_crossings(samples: &[i16]) -> usize {
    samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count()
}

/// RMS of `samples`.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}
