//! The engine's settings, as `serve` resolves them: flag beats environment beats file beats default.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// `--fallback-scope`: the webhook crate's policy type, read straight from the settings.
pub use switchboard_webhook::FallbackScope;

/// The longest timeout a setting takes (a day): longer ones are mistakes, and a deadline this
/// far out cannot overflow a clock.
const MAX_SECONDS: u64 = 86_400;

/// Every setting of `switchboard serve`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// REST API, sandbox, console, `/metrics` (unless `metrics` is set) and `/healthz`.
    pub http: String,
    /// A listener of its own for `/metrics` (`None`: `/metrics` is served on `http`).
    pub metrics: Option<String>,
    /// SIP over UDP and TCP, or `off`.
    pub sip: String,
    /// RTP port range `LOW-HIGH`.
    pub rtp_ports: String,
    /// Sources allowed to send INVITEs (comma-separated CIDRs).
    pub sip_trust: String,
    /// Where `<Dial><Number>` and outbound calls to E.164 numbers go (`sip:host[:port]`).
    pub sip_gateway: Option<String>,
    /// Concurrent SIP calls; INVITEs beyond get `503`.
    pub max_calls: usize,
    /// The shortest session-timer interval accepted, in seconds (RFC 4028 `Min-SE`; `422`
    /// below it).
    pub sip_min_se: u32,
    /// Seconds a connection may take to send a complete request head.
    pub http_header_timeout: u64,
    /// Seconds a keep-alive connection may stay idle between requests.
    pub http_idle_timeout: u64,
    /// Open HTTP connections at most; at the cap the one idle longest is closed for a new one.
    pub max_connections: usize,
    /// Seconds a shutdown waits for requests, calls and messages in flight.
    pub drain_timeout: u64,
    /// Consecutive fatal failures of an origin that open its breaker (`SwitchboardBreaker`).
    pub breaker_failures: u32,
    /// Seconds an open breaker skips its origin before a probe.
    pub breaker_cooloff: u64,
    /// Seconds between probes of every fallback URL (`None`: no probes).
    pub probe_interval: Option<u64>,
    /// How old a number's last-known-good document may be and still run
    /// (`SwitchboardLastKnownGood`): `90s`, `15m`, `24h`, `2d` or plain seconds.
    pub lkg_max_age: String,
    /// How long a failed status callback or debugger webhook is retried (`0`: one attempt).
    pub callback_retry_for: String,
    /// Seconds a failed-over media stream is reopened for (`SwitchboardStreamFailover`).
    pub stream_retry_for: u64,
    /// Seconds without a heartbeat after which a node is dead and its work is taken over.
    pub node_lease: u64,
    /// How many seconds ahead a scheduled message's `SendAt` must be at least (Twilio: 900).
    pub schedule_min_ahead: u64,
    /// This node's name (`None`: `<hostname>:<http port>`).
    pub node_id: Option<String>,
    /// The text-to-speech program: text on stdin, a WAV on stdout (`{language}`, `{voice}`).
    pub tts_command: String,
    /// Speech recognition on real calls (`on`, `off`): speech `<Gather>` and transcriptions.
    pub asr: String,
    /// The Python interpreter with the `pocketsphinx` package (the recogniser's workers).
    pub asr_python: String,
    /// Recogniser worker processes.
    pub asr_workers: usize,
    /// `sqlite://PATH` (default) or `postgres://…`.
    pub database: String,
    /// On PostgreSQL, whether this node has the database to itself (`--single-node`).
    pub single_node: bool,
    /// Base of the URLs the engine hands out; defaults to `http://<http address>`.
    pub public_url: Option<String>,
    pub fallback_scope: FallbackScope,
    /// What callers hear when neither the URL nor the fallback gave usable TwiML.
    pub error_prompt: String,
    /// `--number-inventory`: the CSV of numbers AvailablePhoneNumbers offers (`None`: the
    /// fiction range).
    pub number_inventory: Option<std::path::PathBuf>,
    /// The bootstrap account (`SWITCHBOARD_ACCOUNT_SID` / `SWITCHBOARD_AUTH_TOKEN`).
    pub account_sid: Option<String>,
    pub auth_token: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            http: "127.0.0.1:8080".into(),
            metrics: None,
            sip: "127.0.0.1:5060".into(),
            rtp_ports: "20000-20999".into(),
            sip_trust: "127.0.0.0/8,::1/128".into(),
            sip_gateway: None,
            max_calls: 2000,
            sip_min_se: 90,
            http_header_timeout: 10,
            http_idle_timeout: 60,
            max_connections: 10_000,
            drain_timeout: 30,
            probe_interval: None,
            breaker_failures: 5,
            breaker_cooloff: 30,
            lkg_max_age: "24h".into(),
            callback_retry_for: "4h".into(),
            stream_retry_for: 10,
            single_node: false,
            node_lease: 10,
            schedule_min_ahead: 900,
            node_id: None,
            tts_command: "espeak-ng --stdin -b 1 -v {language} --stdout".into(),
            asr: "on".into(),
            asr_python: "python3".into(),
            asr_workers: 2,
            database: "sqlite://switchboard.db".into(),
            public_url: None,
            fallback_scope: FallbackScope::All,
            error_prompt: "We're sorry, an application error has occurred. Goodbye.".into(),
            number_inventory: None,
            account_sid: None,
            auth_token: None,
        }
    }
}

impl Config {
    /// The RTP port range, checked.
    pub fn rtp_range(&self) -> anyhow::Result<(u16, u16)> {
        let (low, high) = self
            .rtp_ports
            .split_once('-')
            .and_then(|(low, high)| {
                Some((
                    low.trim().parse::<u16>().ok()?,
                    high.trim().parse::<u16>().ok()?,
                ))
            })
            .ok_or_else(|| {
                anyhow::anyhow!("--rtp-ports must be LOW-HIGH, not {:?}", self.rtp_ports)
            })?;
        anyhow::ensure!(
            low > 0 && low < high,
            "--rtp-ports {low}-{high}: LOW must be above 0 and below HIGH"
        );
        Ok((low, high))
    }

    /// The SIP address, or `None` for `off`.
    pub fn sip_addr(&self) -> anyhow::Result<Option<std::net::SocketAddr>> {
        if self.sip.trim() == "off" {
            return Ok(None);
        }
        let addr = self
            .sip
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--sip must be IP:PORT or off, not {:?}", self.sip))?;
        Ok(Some(addr))
    }

    /// The `--sip-trust` networks, checked.
    pub fn sip_trust(&self) -> anyhow::Result<Vec<switchboard_sip_ua::Cidr>> {
        self.sip_trust
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse()
                    .map_err(|_| anyhow::anyhow!("--sip-trust: {part:?} is not a CIDR"))
            })
            .collect()
    }

    /// The HTTP listener's limits, checked.
    pub(crate) fn http_limits(&self) -> anyhow::Result<crate::http::Limits> {
        for (flag, seconds) in [
            ("--http-header-timeout", self.http_header_timeout),
            ("--http-idle-timeout", self.http_idle_timeout),
        ] {
            anyhow::ensure!(
                (1..=MAX_SECONDS).contains(&seconds),
                "{flag} must be between 1 and {MAX_SECONDS} seconds, not {seconds}"
            );
        }
        anyhow::ensure!(
            self.max_connections > 0,
            "--max-connections must be at least 1"
        );
        Ok(crate::http::Limits {
            header_timeout: self.http_header_timeout * 1000,
            idle_timeout: self.http_idle_timeout * 1000,
            max_connections: self.max_connections,
        })
    }

    /// How long a shutdown waits for work in flight, checked.
    pub fn drain_timeout(&self) -> anyhow::Result<std::time::Duration> {
        anyhow::ensure!(
            self.drain_timeout <= MAX_SECONDS,
            "--drain-timeout must be at most {MAX_SECONDS} seconds, not {}",
            self.drain_timeout
        );
        Ok(std::time::Duration::from_secs(self.drain_timeout))
    }

    /// The circuit breakers' settings, checked.
    pub(crate) fn breaker(&self) -> anyhow::Result<switchboard_webhook::BreakerSettings> {
        anyhow::ensure!(
            (1..=1000).contains(&self.breaker_failures),
            "--breaker-failures must be between 1 and 1000, not {}",
            self.breaker_failures
        );
        anyhow::ensure!(
            (1..=MAX_SECONDS).contains(&self.breaker_cooloff),
            "--breaker-cooloff must be between 1 and {MAX_SECONDS} seconds, not {}",
            self.breaker_cooloff
        );
        Ok(switchboard_webhook::BreakerSettings {
            failures: self.breaker_failures,
            cooloff_ms: self.breaker_cooloff * 1000,
        })
    }

    /// How often fallback URLs are probed, checked; `None` when probes are off.
    pub(crate) fn probe_interval(&self) -> anyhow::Result<Option<std::time::Duration>> {
        let Some(seconds) = self.probe_interval else {
            return Ok(None);
        };
        anyhow::ensure!(
            (1..=MAX_SECONDS).contains(&seconds),
            "--probe-interval must be between 1 and {MAX_SECONDS} seconds, not {seconds}"
        );
        Ok(Some(std::time::Duration::from_secs(seconds)))
    }

    /// `--lkg-max-age`, checked.
    pub(crate) fn lkg_max_age(&self) -> anyhow::Result<std::time::Duration> {
        parse_duration(&self.lkg_max_age).map_err(|problem| {
            anyhow::anyhow!("--lkg-max-age {problem}, not {:?}", self.lkg_max_age)
        })
    }

    /// `--callback-retry-for`, checked (`0` is no retry).
    pub(crate) fn callback_retry_for(&self) -> anyhow::Result<std::time::Duration> {
        let text = self.callback_retry_for.trim();
        // At most one unit, as `parse_duration` takes it: `0`, `0s`, `0h` are zero, `0hh` is not.
        let number = text.strip_suffix(['s', 'm', 'h', 'd']).unwrap_or(text);
        if !number.is_empty() && number.bytes().all(|byte| byte == b'0') {
            return Ok(std::time::Duration::ZERO);
        }
        parse_duration(&self.callback_retry_for).map_err(|problem| {
            anyhow::anyhow!(
                "--callback-retry-for {problem} (or 0 for a single attempt), not {:?}",
                self.callback_retry_for
            )
        })
    }

    /// `--node-lease`, checked.
    /// `--schedule-min-ahead`, which must leave room below the 35 days a message may be
    /// scheduled ahead.
    pub fn schedule_min_ahead(&self) -> anyhow::Result<std::time::Duration> {
        const MAX_AHEAD: u64 = 35 * 86_400;
        anyhow::ensure!(
            self.schedule_min_ahead < MAX_AHEAD,
            "--schedule-min-ahead must be below {MAX_AHEAD} seconds (35 days), not {}",
            self.schedule_min_ahead
        );
        Ok(std::time::Duration::from_secs(self.schedule_min_ahead))
    }

    /// `--stream-retry-for`, checked.
    pub fn stream_retry_for(&self) -> anyhow::Result<std::time::Duration> {
        anyhow::ensure!(
            self.stream_retry_for <= 300,
            "--stream-retry-for must be at most 300 seconds, not {}",
            self.stream_retry_for
        );
        Ok(std::time::Duration::from_secs(self.stream_retry_for))
    }

    pub fn node_lease(&self) -> anyhow::Result<std::time::Duration> {
        anyhow::ensure!(
            (3..=MAX_SECONDS).contains(&self.node_lease),
            "--node-lease must be between 3 and {MAX_SECONDS} seconds, not {}",
            self.node_lease
        );
        Ok(std::time::Duration::from_secs(self.node_lease))
    }

    /// This node's name: `--node-id`, or `<hostname>:<port>` of the bound HTTP address.
    pub(crate) fn node_id(&self, http: SocketAddr) -> anyhow::Result<String> {
        match &self.node_id {
            Some(id) => {
                anyhow::ensure!(
                    !id.is_empty() && id.len() <= 200 && !id.chars().any(char::is_control),
                    "--node-id must be 1 to 200 printable characters"
                );
                Ok(id.clone())
            }
            None => Ok(format!("{}:{}", hostname(), http.port())),
        }
    }

    /// The numbers AvailablePhoneNumbers offers: `--number-inventory`'s file, read and checked
    /// now, or the fiction range.
    pub fn inventory(&self) -> anyhow::Result<switchboard_api::Inventory> {
        let Some(path) = &self.number_inventory else {
            return Ok(switchboard_api::Inventory::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("--number-inventory {}: {error}", path.display()))?;
        switchboard_api::Inventory::from_csv(&text)
            .map_err(|problem| anyhow::anyhow!("--number-inventory {}: {problem}", path.display()))
    }

    /// Checks what can be checked before anything is opened.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.sip_min_se >= switchboard_sip::session_timer::MIN_SE_FLOOR_S,
            "--sip-min-se must be at least 90 seconds (RFC 4028), not {}",
            self.sip_min_se
        );
        self.inventory()?;
        self.http_limits()?;
        self.breaker()?;
        self.probe_interval()?;
        self.node_lease()?;
        self.schedule_min_ahead()?;
        self.lkg_max_age()?;
        self.callback_retry_for()?;
        self.stream_retry_for()?;
        if self.node_id.is_some() {
            self.node_id(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        }
        self.drain_timeout()?;
        self.rtp_range()?;
        self.sip_addr()?;
        self.sip_trust()?;
        if let Some(metrics) = &self.metrics {
            let port = metrics
                .rsplit_once(':')
                .map(|(_, port)| port.parse::<u16>());
            anyhow::ensure!(
                matches!(port, Some(Ok(_))) && !metrics.starts_with(':'),
                "--metrics must be HOST:PORT (like 127.0.0.1:9100), not {metrics:?}"
            );
        }
        if let Some(gateway) = &self.sip_gateway {
            anyhow::ensure!(
                gateway.starts_with("sip:"),
                "--sip-gateway must be a sip: URI, not {gateway:?}"
            );
        }
        anyhow::ensure!(
            !self.tts_command.trim().is_empty(),
            "--tts-command must not be empty"
        );
        anyhow::ensure!(
            matches!(self.asr.as_str(), "on" | "off"),
            "--asr must be on or off, not {:?}",
            self.asr
        );
        anyhow::ensure!(
            (1..=64).contains(&self.asr_workers),
            "--asr-workers must be 1 to 64"
        );
        anyhow::ensure!(
            !self.asr_python.trim().is_empty(),
            "--asr-python must not be empty"
        );
        if let Some(url) = &self.public_url {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "--public-url must be an http(s) URL, not {url:?}"
            );
        }
        anyhow::ensure!(
            !self.error_prompt.trim().is_empty(),
            "--error-prompt must not be empty"
        );
        Ok(())
    }
}

/// The longest duration a duration setting takes (a year).
const MAX_DURATION_SECONDS: u64 = 366 * 86_400;

/// A duration written as a whole number of seconds, optionally followed by one unit: `s`,
/// `m` (minutes), `h` or `d` (`90s`, `15m`, `24h`, `2d`, `3600`). It must be at least one
/// second and at most a year; the error says what is wrong.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, &'static str> {
    const FORM: &str =
        "must be a number of seconds or a number with s, m, h or d (like 90s, 15m, 24h, 2d)";
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => (&text[..at], unit),
        _ => (text, 's'),
    };
    let multiplier = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(FORM),
    };
    if number.is_empty() || !number.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(FORM);
    }
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|count| count.checked_mul(multiplier))
        .filter(|seconds| *seconds <= MAX_DURATION_SECONDS)
        .ok_or("must be at most a year (366d)")?;
    if seconds == 0 {
        return Err("must be at least one second");
    }
    Ok(std::time::Duration::from_secs(seconds))
}

/// The machine's host name (Linux's `/proc`; `localhost` where there is none).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;

    #[test]
    fn durations_take_seconds_or_one_unit() {
        let cases: [(&str, Result<u64, &str>); 14] = [
            ("90s", Ok(90)),
            ("15m", Ok(900)),
            ("24h", Ok(86_400)),
            ("2d", Ok(172_800)),
            ("3600", Ok(3600)),
            (" 2s ", Ok(2)),
            ("366d", Ok(366 * 86_400)),
            ("0", Err("at least one second")),
            ("0h", Err("at least one second")),
            ("367d", Err("at most a year")),
            ("99999999999999999999", Err("at most a year")),
            ("", Err("number of seconds")),
            ("1w", Err("number of seconds")),
            ("-5s", Err("number of seconds")),
        ];
        for (text, expected) in cases {
            match (parse_duration(text), expected) {
                (Ok(got), Ok(seconds)) => assert_eq!(got, Duration::from_secs(seconds), "{text}"),
                (Err(problem), Err(fragment)) => {
                    assert!(problem.contains(fragment), "{text}: {problem}")
                }
                (got, expected) => panic!("{text:?}: expected {expected:?}, got {got:?}"),
            }
        }
        for text in ["h", "1.5h", "1 h", "1hh"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn callback_retry_for_takes_a_duration_or_zero() {
        let retry_for = |text: &str| {
            super::Config {
                callback_retry_for: text.to_owned(),
                ..super::Config::default()
            }
            .callback_retry_for()
        };
        for (text, seconds) in [("0", 0), ("0s", 0), ("00h", 0), ("4h", 14_400), ("90", 90)] {
            assert_eq!(
                retry_for(text).unwrap(),
                Duration::from_secs(seconds),
                "{text}"
            );
        }
        for text in ["0hh", "", "5x", "-1", "s"] {
            let problem = retry_for(text).expect_err(text).to_string();
            assert!(
                problem.starts_with("--callback-retry-for "),
                "{text}: {problem}"
            );
        }
    }
}
