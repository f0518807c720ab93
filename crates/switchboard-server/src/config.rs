//! The engine's settings, as `serve` resolves them: flag beats environment beats file beats default.

use serde::{Deserialize, Serialize};

/// `--fallback-scope`: the webhook crate's policy type, read straight from the settings.
pub use switchboard_webhook::FallbackScope;

/// Every setting of `switchboard serve`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// REST API, sandbox, console, `/metrics` and `/healthz`.
    pub http: String,
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
    /// The text-to-speech program: text on stdin, a WAV on stdout (`{language}`, `{voice}`).
    pub tts_command: String,
    /// `sqlite://PATH` (default) or `postgres://…`.
    pub database: String,
    /// Base of the URLs the engine hands out; defaults to `http://<http address>`.
    pub public_url: Option<String>,
    pub fallback_scope: FallbackScope,
    /// What callers hear when neither the URL nor the fallback gave usable TwiML.
    pub error_prompt: String,
    /// The bootstrap account (`SWITCHBOARD_ACCOUNT_SID` / `SWITCHBOARD_AUTH_TOKEN`).
    pub account_sid: Option<String>,
    pub auth_token: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            http: "127.0.0.1:8080".into(),
            sip: "127.0.0.1:5060".into(),
            rtp_ports: "20000-20999".into(),
            sip_trust: "127.0.0.0/8,::1/128".into(),
            sip_gateway: None,
            max_calls: 2000,
            tts_command: "espeak-ng --stdin -b 1 -v {language} --stdout".into(),
            database: "sqlite://switchboard.db".into(),
            public_url: None,
            fallback_scope: FallbackScope::All,
            error_prompt: "We're sorry, an application error has occurred. Goodbye.".into(),
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

    /// Checks what can be checked before anything is opened.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.rtp_range()?;
        self.sip_addr()?;
        self.sip_trust()?;
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
