//! `serve` settings precedence (flag > env > file > default), the bootstrap account and
//! `switchboard account`.

use std::process::Command;

use switchboard_test_support::engine::scratch_dir;

use crate::binary;

/// Runs `switchboard serve` with settings that fail validation, to see which layer won
/// without binding anything.
fn serve_error(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let output = Command::new(binary())
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .env_remove("SWITCHBOARD_RTP_PORTS")
        .env_remove("SWITCHBOARD_METRICS")
        .env_remove("SWITCHBOARD_CONFIG")
        .envs(env.iter().copied())
        .output()
        .expect("running switchboard");
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn flags_beat_environment_beat_file_beat_defaults() {
    let dir = scratch_dir("config");
    let file = dir.join("switchboard.toml");
    std::fs::write(&file, "rtp_ports = \"30-10\"\nhttp = \"127.0.0.1:0\"\n").unwrap();
    let file = file.to_str().unwrap();
    let from_file = serve_error(&dir, &[], &["--config", file]);
    assert!(from_file.contains("30-10"), "{from_file}");
    let from_env = serve_error(
        &dir,
        &[("SWITCHBOARD_RTP_PORTS", "40-20")],
        &["--config", file],
    );
    assert!(from_env.contains("40-20"), "{from_env}");
    let from_flag = serve_error(
        &dir,
        &[("SWITCHBOARD_RTP_PORTS", "40-20")],
        &["--config", file, "--rtp-ports", "50-30"],
    );
    assert!(from_flag.contains("50-30"), "{from_flag}");
    let config_from_env = serve_error(&dir, &[("SWITCHBOARD_CONFIG", file)], &[]);
    assert!(config_from_env.contains("30-10"), "{config_from_env}");
    let missing = serve_error(&dir, &[], &["--config", "/nonexistent/switchboard.toml"]);
    assert!(missing.contains("does not exist"), "{missing}");
    // `--metrics` resolves like every other flag.
    std::fs::write(dir.join("metrics.toml"), "metrics = \"from-file\"\n").unwrap();
    let metrics_file = dir.join("metrics.toml");
    let metrics_file = metrics_file.to_str().unwrap();
    let metrics_from_file = serve_error(&dir, &[], &["--config", metrics_file]);
    assert!(
        metrics_from_file.contains("\"from-file\""),
        "{metrics_from_file}"
    );
    let metrics_env = [("SWITCHBOARD_METRICS", "from-env")];
    let metrics_from_env = serve_error(&dir, &metrics_env, &["--config", metrics_file]);
    assert!(
        metrics_from_env.contains("\"from-env\""),
        "{metrics_from_env}"
    );
    let metrics_from_flag = serve_error(
        &dir,
        &metrics_env,
        &["--config", metrics_file, "--metrics", "from-flag"],
    );
    assert!(
        metrics_from_flag.contains("--metrics must be HOST:PORT"),
        "{metrics_from_flag}"
    );
    assert!(
        metrics_from_flag.contains("\"from-flag\""),
        "{metrics_from_flag}"
    );
    let bad_database = serve_error(
        &dir,
        &[],
        &["--database", "mysql://x", "--http", "127.0.0.1:0"],
    );
    assert!(
        bad_database.contains("unsupported database url"),
        "{bad_database}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_empty_database_gets_a_generated_account_printed_once() {
    use std::io::{BufRead, BufReader};
    let dir = scratch_dir("bootstrap");
    let start = || {
        let mut child = Command::new(binary())
            .args(["serve", "--http", "127.0.0.1:0", "--sip", "off"])
            .current_dir(&dir)
            .env_remove("SWITCHBOARD_ACCOUNT_SID")
            .env_remove("SWITCHBOARD_AUTH_TOKEN")
            .env_remove("SWITCHBOARD_DATABASE")
            .env_remove("SWITCHBOARD_CONFIG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("http listening on 127.0.0.1:"), "{line}");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "SIGTERM drains and exits 0");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let first = start();
    assert!(
        dir.join("switchboard.db").exists(),
        "the default database is sqlite://switchboard.db in the working directory"
    );
    let created = first
        .lines()
        .find(|line| line.starts_with("created account"))
        .expect("credentials printed");
    let words: Vec<&str> = created.split_whitespace().collect();
    let (sid, token) = (words[2], words[6]);
    let second = start();
    assert!(
        !second.contains("created account"),
        "printed only once: {second}"
    );
    let account = Command::new(binary())
        .args(["account", "--show-token"])
        .current_dir(&dir)
        .env_remove("SWITCHBOARD_DATABASE")
        .env_remove("SWITCHBOARD_CONFIG")
        .output()
        .unwrap();
    assert!(account.status.success());
    assert_eq!(
        String::from_utf8_lossy(&account.stdout),
        format!("{sid}\n{token}\n")
    );
    let sid_only = Command::new(binary())
        .arg("account")
        .current_dir(&dir)
        .env_remove("SWITCHBOARD_DATABASE")
        .env_remove("SWITCHBOARD_CONFIG")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sid_only.stdout),
        format!("{sid}\n")
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `--number-inventory`: a CSV of the numbers AvailablePhoneNumbers offers, read and checked at
/// start (a bad line stops `serve` naming it), then searched by place.
#[tokio::test]
async fn a_number_inventory_file_is_what_is_offered() {
    let dir = scratch_dir("inventory");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "+14155550123,landline,,,,US\n").expect("write");
    let error = serve_error(
        &dir,
        &[],
        &["--number-inventory", bad.to_str().expect("path")],
    );
    assert!(
        error.contains("--number-inventory") && error.contains("line 1"),
        "{error}"
    );

    let good = dir.join("inventory.csv");
    std::fs::write(
        &good,
        "# number,type,locality,region,postal_code,iso_country\n\
         +14155550123,local,San Francisco,CA,94105,US\n\
         +442079460000,local,London,,EC1A 1BB,GB\n",
    )
    .expect("write");
    let engine = switchboard_test_support::engine::Engine::start_on(
        binary(),
        scratch_dir("inventory-engine"),
        format!("sqlite://{}", dir.join("switchboard.db").display()),
        vec![(
            "SWITCHBOARD_NUMBER_INVENTORY".into(),
            good.to_str().expect("path").into(),
        )],
    );
    let (_, countries) = crate::call(
        &engine,
        "GET",
        &engine.account_url("AvailablePhoneNumbers.json"),
        &[],
    )
    .await;
    let codes: Vec<&str> = countries["countries"]
        .as_array()
        .expect("countries")
        .iter()
        .filter_map(|country| country["country_code"].as_str())
        .collect();
    assert_eq!(codes, ["GB", "US"]);
    let (_, london) = crate::call(
        &engine,
        "GET",
        &engine.account_url("AvailablePhoneNumbers/GB/Local.json?InLocality=london"),
        &[],
    )
    .await;
    assert_eq!(
        london["available_phone_numbers"][0]["phone_number"],
        "+442079460000"
    );
    assert_eq!(
        london["available_phone_numbers"][0]["postal_code"],
        "EC1A 1BB"
    );
    let (_, none) = crate::call(
        &engine,
        "GET",
        &engine.account_url("AvailablePhoneNumbers/US/Local.json?InRegion=NY"),
        &[],
    )
    .await;
    assert_eq!(
        none["available_phone_numbers"].as_array().map(Vec::len),
        Some(0)
    );
}
