//! Resolving `serve`'s settings: flag beats environment (`SWITCHBOARD_*`, read by clap) beats the
//! TOML file (`--config`) beats the default.
//!
//! Environment values are taken as exact strings (clap), not through figment's typed env parser,
//! so an auth token made of digits keeps its leading zeros.

use std::path::PathBuf;

use clap::Args;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::Serialize;
use switchboard_server::{Config, FallbackScope};

/// The flags of `switchboard serve`; each also reads `SWITCHBOARD_<FLAG>`.
#[derive(Debug, Args, Serialize)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (snake_case keys).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// REST API, sandbox and console address [default: 127.0.0.1:8080].
    #[arg(long, env = "SWITCHBOARD_HTTP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<String>,
    /// Serve /metrics on a listener of its own at this address; the HTTP port then answers 404
    /// there [default: none, /metrics is on the HTTP port].
    #[arg(long, env = "SWITCHBOARD_METRICS", value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics: Option<String>,
    /// SIP address (UDP and TCP), or `off` [default: 127.0.0.1:5060].
    #[arg(long, env = "SWITCHBOARD_SIP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    sip: Option<String>,
    /// RTP port range LOW-HIGH [default: 20000-20999].
    #[arg(long, env = "SWITCHBOARD_RTP_PORTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    rtp_ports: Option<String>,
    /// Sources allowed to send INVITEs, comma-separated CIDRs [default: 127.0.0.0/8,::1/128].
    #[arg(long, env = "SWITCHBOARD_SIP_TRUST")]
    #[serde(skip_serializing_if = "Option::is_none")]
    sip_trust: Option<String>,
    /// Carrier trunk for calls to E.164 numbers, sip:host[:port] [default: none, sandbox handsets].
    #[arg(long, env = "SWITCHBOARD_SIP_GATEWAY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    sip_gateway: Option<String>,
    /// Concurrent SIP calls; INVITEs beyond get 503 [default: 2000].
    #[arg(long, env = "SWITCHBOARD_MAX_CALLS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_calls: Option<usize>,
    /// Shortest SIP session-timer interval accepted; a shorter `Session-Expires` gets 422
    /// (RFC 4028, at least 90) [default: 90].
    #[arg(long, env = "SWITCHBOARD_SIP_MIN_SE", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    sip_min_se: Option<u32>,
    /// Seconds a connection may take to send a complete request head [default: 10].
    #[arg(long, env = "SWITCHBOARD_HTTP_HEADER_TIMEOUT", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    http_header_timeout: Option<u64>,
    /// Seconds an idle keep-alive connection is kept [default: 60].
    #[arg(long, env = "SWITCHBOARD_HTTP_IDLE_TIMEOUT", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    http_idle_timeout: Option<u64>,
    /// Open HTTP connections at most; at the cap the one idle longest is closed to admit a new
    /// one [default: 10000].
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_connections: Option<usize>,
    /// Seconds SIGTERM waits for requests, calls and messages in flight before the process
    /// exits (within this plus 5 s) [default: 30].
    #[arg(long, env = "SWITCHBOARD_DRAIN_TIMEOUT", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    drain_timeout: Option<u64>,
    /// Consecutive fatal failures of an origin that open its circuit breaker, for numbers with
    /// `SwitchboardBreaker=true` [default: 5].
    #[arg(long, env = "SWITCHBOARD_BREAKER_FAILURES", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker_failures: Option<u32>,
    /// Seconds an open circuit breaker skips its origin before one session probes it
    /// [default: 30].
    #[arg(long, env = "SWITCHBOARD_BREAKER_COOLOFF", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker_cooloff: Option<u64>,
    /// Seconds between probes of every number's fallback URLs (a signed request marked
    /// `SwitchboardProbe=true`; a failing one is an ERROR alert) [default: off].
    #[arg(long, env = "SWITCHBOARD_PROBE_INTERVAL", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    probe_interval: Option<u64>,
    /// How old a last-known-good document may be and still run, for numbers with
    /// `SwitchboardLastKnownGood=true`: 90s, 15m, 24h, 2d or plain seconds [default: 24h].
    #[arg(long, env = "SWITCHBOARD_LKG_MAX_AGE", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    lkg_max_age: Option<String>,
    /// How long a status callback or debugger webhook that failed on the way (no connection,
    /// timeout, 429, 5xx) is retried, with backoff, each attempt with the same
    /// I-Twilio-Idempotency-Token: 90s, 15m, 4h, 2d, plain seconds, or 0 for Twilio's single
    /// attempt [default: 4h].
    #[arg(long, env = "SWITCHBOARD_CALLBACK_RETRY_FOR", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_retry_for: Option<String>,
    /// Seconds a two-way media stream of a number with `SwitchboardStreamFailover=true` is
    /// reopened for (backoff 0.5, 1, 2, 4 s) before the number's Voice Fallback URL is
    /// requested [default: 10].
    #[arg(long, env = "SWITCHBOARD_STREAM_RETRY_FOR", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_retry_for: Option<u64>,
    /// Seconds without a heartbeat after which a node is dead and a survivor finishes its calls
    /// and messages [default: 10].
    #[arg(long, env = "SWITCHBOARD_NODE_LEASE", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    node_lease: Option<u64>,
    /// How many seconds ahead a scheduled message's SendAt must be at least; Twilio's 15
    /// minutes by default, lower it to test or measure scheduling [default: 900].
    #[arg(long, env = "SWITCHBOARD_SCHEDULE_MIN_AHEAD", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule_min_ahead: Option<u64>,
    /// This node's name, recorded on the calls and messages it runs [default: <hostname>:<http
    /// port>]; keep it stable across restarts (set it when the HTTP port is 0).
    #[arg(long, env = "SWITCHBOARD_NODE_ID", value_name = "ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    node_id: Option<String>,
    /// Text-to-speech program (text on stdin, WAV on stdout; {language} and {voice} are filled in)
    /// [default: espeak-ng --stdin -b 1 -v {language} --stdout].
    #[arg(long, env = "SWITCHBOARD_TTS_COMMAND")]
    #[serde(skip_serializing_if = "Option::is_none")]
    tts_command: Option<String>,
    /// Speech recognition on real calls: `on` (PocketSphinx workers) or `off` (speech gathers
    /// hear nothing, transcriptions of real audio fail) [default: on].
    #[arg(long, env = "SWITCHBOARD_ASR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    asr: Option<String>,
    /// The Python interpreter with the PyPI `pocketsphinx` package (its wheel carries the US
    /// English model) that runs the recogniser's workers [default: python3].
    #[arg(long, env = "SWITCHBOARD_ASR_PYTHON", value_name = "PROGRAM")]
    #[serde(skip_serializing_if = "Option::is_none")]
    asr_python: Option<String>,
    /// Recogniser worker processes, each decoding one utterance at a time [default: 2].
    #[arg(long, env = "SWITCHBOARD_ASR_WORKERS", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    asr_workers: Option<usize>,
    /// With PostgreSQL: this engine is the database's only node, so rows are cached without
    /// asking other nodes (about twice the calls/s of a cluster node). Refused while other
    /// nodes use the database, and they are refused while it runs [default: false].
    #[arg(long, env = "SWITCHBOARD_SINGLE_NODE", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    single_node: Option<bool>,
    /// sqlite://PATH or postgres://… [default: sqlite://switchboard.db].
    #[arg(long, env = "SWITCHBOARD_DATABASE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    /// Base of the URLs the engine hands out [default: http://<http address>].
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<String>,
    /// Fallback on every TwiML fetch (`all`) or only the first (`initial`) [default: all].
    #[arg(long, env = "SWITCHBOARD_FALLBACK_SCOPE", value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_scope: Option<Scope>,
    /// What callers hear when neither URL gave usable TwiML.
    #[arg(long, env = "SWITCHBOARD_ERROR_PROMPT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    error_prompt: Option<String>,
    /// A CSV of the numbers AvailablePhoneNumbers offers: number,type,locality,region,postal_code,iso_country
    /// [default: the North American range reserved for fiction, +1 NPA 555 0100-0199].
    #[arg(long, env = "SWITCHBOARD_NUMBER_INVENTORY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    number_inventory: Option<std::path::PathBuf>,
    /// The bootstrap account's SID (with SWITCHBOARD_AUTH_TOKEN).
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_SID", hide = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    account_sid: Option<String>,
    #[arg(
        long,
        env = "SWITCHBOARD_AUTH_TOKEN",
        hide = true,
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_token: Option<String>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Scope {
    All,
    Initial,
}

impl ServeArgs {
    pub fn resolve(&self) -> anyhow::Result<Config> {
        resolve(self.config.as_deref(), self)
    }
}

fn resolve(file: Option<&std::path::Path>, overrides: &impl Serialize) -> anyhow::Result<Config> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        anyhow::ensure!(
            path.is_file(),
            "config file {} does not exist",
            path.display()
        );
        figment = figment.merge(Toml::file_exact(path));
    }
    let config: Config = figment.merge(Serialized::defaults(overrides)).extract()?;
    debug_assert!(matches!(
        config.fallback_scope,
        FallbackScope::All | FallbackScope::Initial
    ));
    Ok(config)
}

/// The settings a command that only opens the store needs.
#[derive(Debug, Args, Serialize)]
pub struct StoreArgs {
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// sqlite://PATH or postgres://… [default: sqlite://switchboard.db].
    #[arg(long, env = "SWITCHBOARD_DATABASE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
}

impl StoreArgs {
    pub fn resolve_database(&self) -> anyhow::Result<String> {
        Ok(resolve(self.config.as_deref(), self)?.database)
    }
}
