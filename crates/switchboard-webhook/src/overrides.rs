//! Connection overrides: the `#ct=…&rt=…&tt=…&rc=…&rp=…&e=…&sni=…` fragment of a webhook URL.
//!
//! The fragment is configuration only: it is stripped before the request and never signed.
//! Numbers outside Twilio's ranges are clamped and reported as warnings (product.md Decision 18);
//! an invalid retry policy (11243) or edge (11240/11242) makes the webhook fail without a request.
//!
//! Edges on a self-hosted engine: there is exactly one edge, the engine's own network. Every
//! documented public edge name (`ashburn`, `dublin`, …, `umatilla`) is accepted and means "leave
//! from this host"; the names are kept in [`Overrides::edges`] but change nothing. Interconnect
//! edges (`*-ix`) need an Interconnect this engine cannot have: 11242.
//! Any other name is 11240. 11241 (edge valid but not supported) is therefore never raised.

use std::time::Duration;

use switchboard_core::ErrorCode;
use switchboard_core::error_code::{
    EDGE_LOCATION_INVALID, INTERCONNECT_NOT_ALLOWED, INVALID_URL_FORMAT, RETRY_POLICY_INVALID,
};

/// The public edges Twilio documents; here each one means the engine's own host.
pub const PUBLIC_EDGES: &[&str] = &[
    "ashburn",
    "dublin",
    "frankfurt",
    "sao-paulo",
    "singapore",
    "sydney",
    "tokyo",
    "umatilla",
];
/// The Interconnect edges Twilio documents; never usable here (11242).
pub const INTERCONNECT_EDGES: &[&str] = &[
    "ashburn-ix",
    "frankfurt-ix",
    "london-ix",
    "san-jose-ix",
    "singapore-ix",
];

/// Which failures are retried (`rp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub client_errors: bool,
    pub server_errors: bool,
    pub connect_failures: bool,
    pub read_timeouts: bool,
}

impl RetryPolicy {
    /// Twilio's default `rp=ct`.
    pub const CONNECT_ONLY: RetryPolicy = RetryPolicy {
        client_errors: false,
        server_errors: false,
        connect_failures: true,
        read_timeouts: false,
    };

    /// Parses a comma-separated `rp` value (`4xx`, `5xx`, `ct`, `rt`, `all`).
    pub fn parse(value: &str) -> Option<RetryPolicy> {
        let mut policy = RetryPolicy {
            client_errors: false,
            server_errors: false,
            connect_failures: false,
            read_timeouts: false,
        };
        for item in value.split(',') {
            match item.trim() {
                "4xx" => policy.client_errors = true,
                "5xx" => policy.server_errors = true,
                "ct" => policy.connect_failures = true,
                "rt" => policy.read_timeouts = true,
                "all" => {
                    policy = RetryPolicy {
                        client_errors: true,
                        server_errors: true,
                        connect_failures: true,
                        read_timeouts: true,
                    }
                }
                _ => return None,
            }
        }
        Some(policy)
    }
}

/// The effective connection settings of one webhook URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overrides {
    /// `ct`: connect timeout per attempt (TCP and TLS handshake).
    pub connect_timeout: Duration,
    /// `rt`: wait for the first response byte and between reads.
    pub read_timeout: Duration,
    /// `tt`: total time over all attempts (also the ceiling for any request tied to a live call).
    pub total_timeout: Duration,
    /// `rc`: additional attempts.
    pub retry_count: u32,
    /// `rp`: which failures are retried.
    pub retry_policy: RetryPolicy,
    /// `e`: edge names as given (empty: the default, `ashburn`); all mean the local host.
    pub edges: Vec<&'static str>,
    /// `sni`: send TLS SNI.
    pub sni: bool,
    /// Whether the URL carried at least one override key (selects 11201–11203 over 11205).
    pub present: bool,
}

impl Default for Overrides {
    fn default() -> Self {
        Overrides {
            connect_timeout: Duration::from_millis(5000),
            read_timeout: Duration::from_millis(15000),
            total_timeout: Duration::from_millis(15000),
            retry_count: 1,
            retry_policy: RetryPolicy::CONNECT_ONLY,
            edges: Vec::new(),
            sni: true,
            present: false,
        }
    }
}

/// A problem found in the fragment: a warning (value clamped or ignored) or a fatal error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverrideFinding {
    pub code: ErrorCode,
    pub message: String,
}

/// The result of reading a fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedOverrides {
    pub overrides: Overrides,
    /// Clamped or ignored values; recorded as WARNING alerts, the request goes ahead.
    pub warnings: Vec<OverrideFinding>,
    /// An invalid `rp` or `e`: the webhook fails with this code and no request is made.
    pub error: Option<OverrideFinding>,
}

/// Reads a fragment (without the leading `#`); an empty or unrelated fragment gives the defaults.
pub fn parse_fragment(fragment: &str) -> ParsedOverrides {
    let mut parsed = ParsedOverrides {
        overrides: Overrides::default(),
        warnings: Vec::new(),
        error: None,
    };
    for (key, value) in url::form_urlencoded::parse(fragment.as_bytes()) {
        let overrides = &mut parsed.overrides;
        match key.as_ref() {
            "ct" => {
                overrides.connect_timeout =
                    millis(&mut parsed.warnings, "ct", &value, 100, 10_000, 5000)
            }
            "rt" => {
                overrides.read_timeout =
                    millis(&mut parsed.warnings, "rt", &value, 100, 15_000, 15_000)
            }
            "tt" => {
                overrides.total_timeout =
                    millis(&mut parsed.warnings, "tt", &value, 100, 15_000, 15_000)
            }
            "rc" => overrides.retry_count = number(&mut parsed.warnings, "rc", &value, 0, 5, 1),
            "rp" => match RetryPolicy::parse(&value) {
                Some(policy) => overrides.retry_policy = policy,
                None => set_error(
                    &mut parsed.error,
                    RETRY_POLICY_INVALID,
                    format!("invalid retry policy rp={value}"),
                ),
            },
            "e" => match parse_edges(&value) {
                Ok(edges) => overrides.edges = edges,
                Err(finding) => set_error(&mut parsed.error, finding.code, finding.message),
            },
            "sni" => match value.as_ref() {
                "y" => overrides.sni = true,
                "n" => overrides.sni = false,
                other => parsed
                    .warnings
                    .push(warning(format!("sni={other} is not y or n; using y"))),
            },
            _ => continue,
        }
        parsed.overrides.present = true;
    }
    parsed
}

fn set_error(slot: &mut Option<OverrideFinding>, code: ErrorCode, message: String) {
    if slot.is_none() {
        *slot = Some(OverrideFinding { code, message });
    }
}

/// Out-of-range and unreadable values are reported with 11100 (Invalid URL format) at WARNING
/// level: Twilio has no dedicated code for a clamped override.
fn warning(message: String) -> OverrideFinding {
    OverrideFinding {
        code: INVALID_URL_FORMAT,
        message,
    }
}

fn number(
    warnings: &mut Vec<OverrideFinding>,
    key: &str,
    value: &str,
    min: u32,
    max: u32,
    default: u32,
) -> u32 {
    match value.trim().parse::<i64>() {
        Ok(n) if n < i64::from(min) => {
            warnings.push(warning(format!(
                "{key}={value} is below {min}; clamped to {min}"
            )));
            min
        }
        Ok(n) if n > i64::from(max) => {
            warnings.push(warning(format!(
                "{key}={value} is above {max}; clamped to {max}"
            )));
            max
        }
        // The guards above bound `n` to min..=max, which fits in u32.
        Ok(n) => u32::try_from(n).unwrap_or(default),
        Err(_) => {
            warnings.push(warning(format!(
                "{key}={value} is not a number; using {default}"
            )));
            default
        }
    }
}

fn millis(
    warnings: &mut Vec<OverrideFinding>,
    key: &str,
    value: &str,
    min: u32,
    max: u32,
    default: u32,
) -> Duration {
    Duration::from_millis(u64::from(number(warnings, key, value, min, max, default)))
}

fn parse_edges(value: &str) -> Result<Vec<&'static str>, OverrideFinding> {
    let mut edges = Vec::new();
    for name in value.split(',').map(str::trim) {
        if INTERCONNECT_EDGES.contains(&name) {
            return Err(OverrideFinding {
                code: INTERCONNECT_NOT_ALLOWED,
                message: format!("edge {name} needs an Interconnect; this engine has none"),
            });
        }
        let Some(known) = PUBLIC_EDGES.iter().find(|edge| **edge == name) else {
            return Err(OverrideFinding {
                code: EDGE_LOCATION_INVALID,
                message: format!("unknown edge {name:?}"),
            });
        };
        edges.push(*known);
    }
    Ok(edges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn defaults_without_fragment() {
        let parsed = parse_fragment("");
        assert_eq!(parsed.overrides, Overrides::default());
        assert!(!parsed.overrides.present);
        assert!(parsed.warnings.is_empty() && parsed.error.is_none());
        assert!(!parse_fragment("section-2").overrides.present);
    }

    #[test]
    fn documented_example() {
        let parsed = parse_fragment("ct=2000&rt=4000&rc=3&rp=ct,rt,5xx&e=dublin,frankfurt");
        let o = parsed.overrides;
        assert_eq!(
            (o.connect_timeout, o.read_timeout, o.total_timeout),
            (ms(2000), ms(4000), ms(15000))
        );
        assert_eq!(o.retry_count, 3);
        assert_eq!(
            o.retry_policy,
            RetryPolicy {
                client_errors: false,
                server_errors: true,
                connect_failures: true,
                read_timeouts: true
            }
        );
        assert_eq!(o.edges, ["dublin", "frankfurt"]);
        assert!(o.present && parsed.warnings.is_empty() && parsed.error.is_none());
    }

    #[test]
    fn clamps_with_warnings() {
        type Field = fn(&Overrides) -> u64;
        let cases: &[(&str, Field, u64)] = &[
            ("ct=50", |o| o.connect_timeout.as_millis() as u64, 100),
            ("ct=99999", |o| o.connect_timeout.as_millis() as u64, 10_000),
            ("rt=20000", |o| o.read_timeout.as_millis() as u64, 15_000),
            ("tt=1", |o| o.total_timeout.as_millis() as u64, 100),
            ("tt=16000", |o| o.total_timeout.as_millis() as u64, 15_000),
            ("rc=9", |o| u64::from(o.retry_count), 5),
            ("rc=-1", |o| u64::from(o.retry_count), 0),
            ("ct=abc", |o| o.connect_timeout.as_millis() as u64, 5000),
        ];
        for (fragment, field, expected) in cases {
            let parsed = parse_fragment(fragment);
            assert_eq!(field(&parsed.overrides), *expected, "{fragment}");
            assert_eq!(parsed.warnings.len(), 1, "{fragment}");
            assert_eq!(parsed.warnings[0].code, INVALID_URL_FORMAT);
            assert!(parsed.error.is_none());
        }
    }

    #[test]
    fn invalid_policy_and_edges_are_errors() {
        let cases = [
            ("rp=sometimes", RETRY_POLICY_INVALID),
            ("rp=ct,", RETRY_POLICY_INVALID),
            ("e=mars", EDGE_LOCATION_INVALID),
            ("e=dublin,london-ix", INTERCONNECT_NOT_ALLOWED),
        ];
        for (fragment, code) in cases {
            assert_eq!(
                parse_fragment(fragment).error.map(|f| f.code),
                Some(code),
                "{fragment}"
            );
        }
        assert_eq!(
            RetryPolicy::parse("all").map(|p| p.client_errors),
            Some(true)
        );
    }

    #[test]
    fn sni() {
        assert!(!parse_fragment("sni=n").overrides.sni);
        let parsed = parse_fragment("sni=maybe");
        assert!(parsed.overrides.sni);
        assert_eq!(parsed.warnings.len(), 1);
    }
}
