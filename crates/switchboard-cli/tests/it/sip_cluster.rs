//! Real calls through kamailio to two nodes on one PostgreSQL (issue 15, product.md "Several
//! nodes"): the project's own `deploy/kamailio/kamailio.cfg` spreads sipp's INVITEs over both
//! nodes; one node is killed mid-run; once kamailio's OPTIONS probes have noticed (a second or
//! two), every call succeeds on the survivor. How many calls failed in between is printed.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use switchboard_test_support::engine::{Engine, scratch_dir};
use switchboard_test_support::kamailio::{self, Kamailio};
use switchboard_test_support::postgres::{TestDatabase, server_url};
use switchboard_test_support::sipp::{self, free_udp_port};

use crate::sip_calls::{XML, scenario, sip_addr};
use crate::voice::provision;

const NUMBER: &str = "+15550810100";

/// A node with SIP on, on `database`, with the first node's account.
fn node(database: &TestDatabase, id: &str, first: Option<&Engine>) -> Engine {
    let range = switchboard_test_support::net::free_udp_range(64);
    let args = vec![
        "--sip".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--rtp-ports".to_owned(),
        format!("{}-{}", range.0, range.1),
    ];
    crate::cluster::node_with(database, id, first, Vec::new(), args)
}

/// sipp through the proxy (`proxy_caller_bye`: route set followed, the caller hangs up after
/// 3 s): `calls` calls at `rate` per second; returns (successful, failed).
async fn run_calls(sipp: &std::path::Path, proxy: SocketAddr, calls: u32, rate: u32) -> (u32, u32) {
    let dir = scratch_dir("sipp-cluster");
    // The scenario plays sip-tester's pcaps from `pcap/`.
    #[cfg(unix)]
    std::os::unix::fs::symlink("/usr/share/sip-tester", dir.join("pcap")).ok();
    let (calls_text, rate_text) = (calls.to_string(), rate.to_string());
    let output = tokio::process::Command::new(sipp)
        .current_dir(&dir)
        .arg("-sf")
        .arg(scenario("proxy_caller_bye"))
        .args([&proxy.to_string(), "-s", NUMBER])
        .args(["-i", "127.0.0.1", "-p", &free_udp_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_udp_port().to_string()])
        .args(["-m", &calls_text, "-r", &rate_text, "-l", "20"])
        .args(["-nostdin", "-timeout", "60s", "-timeout_error"])
        .args(["-recv_timeout", "8000", "-trace_screen"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .expect("running sipp");
    // `-trace_screen` leaves the final statistics screen in a file.
    let screen = std::fs::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().ends_with("_screen.log"))
        .and_then(|entry| std::fs::read_to_string(entry.path()).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&output.stdout).into_owned());
    std::fs::remove_dir_all(&dir).ok();
    let count = |label: &str| {
        screen
            .lines()
            .find(|line| line.trim_start().starts_with(label))
            .and_then(|line| line.split('|').nth(2))
            .and_then(|cumulative| cumulative.trim().parse().ok())
            .unwrap_or(0)
    };
    let counts = (count("Successful call"), count("Failed call"));
    if counts.1 > 0 || counts.0 < calls {
        eprintln!(
            "sipp's last screen:\n{screen}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    counts
}

/// How many calls each node ran, from the shared database (`engine_node` is not rendered).
fn calls_by_node(database: &TestDatabase) -> String {
    let output = std::process::Command::new("psql")
        .args([&database.url, "-At", "-c"])
        .arg(
            "SELECT node || '=' || count(*) FROM (SELECT (doc::jsonb)->>'engine_node' AS node \
             FROM resources WHERE kind = 'call') AS calls GROUP BY node ORDER BY node",
        )
        .output()
        .expect("psql");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_calls_through_kamailio_go_to_the_survivor_once_a_node_is_killed() {
    let Some(kamailio_binary) = kamailio::kamailio() else {
        return;
    };
    let Some(sipp_binary) = sipp::sipp() else {
        return;
    };
    let Some(server) = server_url("SIP through kamailio to several nodes") else {
        return;
    };
    let _slot = sipp::lock().await;
    let database = TestDatabase::create(&server).await.expect("test database");
    {
        let mut a = node(&database, "sip-a", None);
        let mut b = node(&database, "sip-b", Some(&a));
        b.account_sid = a.account_sid.clone();
        b.auth_token = a.auth_token.clone();
        let app = switchboard_test_support::app::App::start().await;
        app.route(
            "/voice",
            200,
            XML,
            "<Response><Say>Hello.</Say><Pause length=\"30\"/></Response>",
        );
        provision(&a, NUMBER, &app.url("/voice"), None).await;
        let proxy = Kamailio::start_dispatcher(&kamailio_binary, &[sip_addr(&a), sip_addr(&b)]);
        // The first probes.
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let (ok, failed) = run_calls(&sipp_binary, proxy.addr, 10, 10).await;
        assert_eq!((ok, failed), (10, 0), "both nodes up:\n{}", proxy.log());
        let spread = calls_by_node(&database);
        assert!(
            spread.contains("sip-a=") && spread.contains("sip-b="),
            "kamailio spread the calls over both nodes: {spread}"
        );

        a.kill_hard();
        let killed = Instant::now();
        let (ok_between, failed_between) = run_calls(&sipp_binary, proxy.addr, 10, 10).await;
        eprintln!(
            "right after the kill: {ok_between} calls succeeded, {failed_between} failed ({:?})",
            killed.elapsed()
        );
        // kamailio's probe (every second) has marked the dead node by now.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (ok_after, failed_after) = run_calls(&sipp_binary, proxy.addr, 10, 10).await;
        assert_eq!(
            (ok_after, failed_after),
            (10, 0),
            "after the detection interval every call succeeds on the survivor:\n{}",
            proxy.log()
        );
        assert!(b.terminate(), "the survivor drains and exits 0");
    }
    database.drop_database().await.expect("drop test database");
}
