//! The HTTP limits at the full size, in the test command (issue 20): 20,000 idle and
//! 3,000 slowloris connections at once against an engine with its default cap, while
//! `/healthz` and an authenticated REST fetch are timed. The flood, the timing and the checks
//! are the `http-flood` benchmark's (`src/bin/http-flood.rs`, `HTTP_FLOOD_CHECK`); this runs it
//! with a shorter header timeout so a run takes about half a minute.

use std::process::Command;

#[test]
fn requests_are_answered_through_20000_idle_and_3000_slowloris_connections() {
    let flood = env!("CARGO_BIN_EXE_http-flood");
    let engine = std::path::Path::new(flood).with_file_name("switchboard");
    assert!(
        engine.exists(),
        "{} is missing: the engine binary is built by `cargo test --workspace` (or `cargo build -p switchboard-cli`)",
        engine.display()
    );
    // Each flood process holds up to 11,500 connections and the engine up to its cap of 10,000.
    let hard_limit = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .ok()
        .and_then(|output| {
            String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(u64::MAX);
    if hard_limit < 12_000 {
        let why = format!("the descriptor limit (ulimit -Hn) is {hard_limit}, under 12,000");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("!!!!! SKIPPED: the 23,000-connection flood: {why} !!!!!");
        return;
    }
    // Every connection is a descriptor on both sides: the flood's processes and the engine run
    // with the soft limit raised to the hard one, as `bench/http-flood.sh` does.
    let output = Command::new("sh")
        .args([
            "-c",
            "ulimit -n \"$(ulimit -Hn)\" && exec \"$0\" 20000 3000 15 --http-header-timeout 5",
            flood,
        ])
        .env("HTTP_FLOOD_CHECK", "1")
        // Each closed flood connection comes back 3 s later, so the engine keeps accepting
        // thousands a second all run long. The benchmark's default of 1 s on this 2-core
        // machine mostly measures the flood's own processes starving the engine of CPU (their
        // runtimes wake up to a second late): BENCHMARKS.md has both.
        .env("HTTP_FLOOD_RECONNECT", "3")
        .output()
        .expect("running http-flood");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success() && stdout.contains("every check passed"),
        "the flood's checks failed:\n{stdout}"
    );
}
