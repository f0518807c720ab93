//! Refused INVITEs as WARNING alerts, so the console and the debugger show why a phone could
//! not get in (product.md, "SIP domains, registration and mid-call SIP"): the endpoint's own
//! refusals (`403` outside `--sip-trust`, `503` at capacity or draining, `422`, `400`) arrive
//! as `switchboard_sip_ua::Refusal`s, the accept path's (`404` no such number, `403` account not
//! active, `488` no usable audio, `503` no RTP port) from `accept.rs`; one task records both.
//!
//! A refusal is about a source, not a call, so it has no call SID; it belongs to the account of
//! the number called when there is one, else to the main account. A scanner sending INVITEs to
//! random numbers must not flood the store: the first refusal of a (status, source address)
//! pair is recorded, later ones within `WINDOW_MS` are only counted, and the next one recorded
//! says how many were left out. The pairs kept are bounded (`MAX_KEYS`); past that the oldest
//! is forgotten, which at worst records one more alert.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use switchboard_core::error_code;
use switchboard_sip::reason_phrase;
use switchboard_webhook::{AlertLevel, Channel};
use tokio::sync::mpsc;

use crate::{Engine, alerts, now_ms, session};

/// One alert per (status, source address) per minute.
const WINDOW_MS: u64 = 60_000;
/// The (status, source) pairs remembered at most.
const MAX_KEYS: usize = 4_096;
/// Refusals waiting to be recorded; beyond this a flood's reports are dropped.
pub(crate) const QUEUE: usize = 1_024;

/// A refused INVITE as the engine records it.
#[derive(Debug, Clone)]
pub(crate) struct Refused {
    pub status: u16,
    pub source: SocketAddr,
    pub to_user: String,
    pub call_id: String,
    /// The account of the number called, when the INVITE was for one.
    pub account_sid: Option<String>,
    /// Why, in words, when the status alone does not say.
    pub why: &'static str,
}

impl From<switchboard_sip_ua::Refusal> for Refused {
    fn from(refusal: switchboard_sip_ua::Refusal) -> Refused {
        let why = match refusal.status {
            403 => "the source is outside --sip-trust",
            503 => "the engine is at --max-calls or draining",
            422 => "its Session-Expires is under --sip-min-se",
            400 => "the request is malformed",
            _ => "",
        };
        Refused {
            status: refusal.status,
            source: refusal.source,
            to_user: refusal.to_user,
            call_id: refusal.call_id,
            account_sid: None,
            why,
        }
    }
}

/// Decides which refusals become alerts. Pure: time comes in.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    /// Per (status, source address): when its window began and how many were left out since.
    seen: HashMap<(u16, IpAddr), (u64, u64)>,
}

impl Limiter {
    /// `Some(left_out)` when this refusal is recorded (with how many of its kind were left out
    /// since the last one recorded), `None` when it is only counted.
    pub(crate) fn admit(&mut self, status: u16, source: IpAddr, now_ms: u64) -> Option<u64> {
        let key = (status, source);
        match self.seen.get_mut(&key) {
            Some((since, left_out)) if now_ms.saturating_sub(*since) < WINDOW_MS => {
                *left_out += 1;
                None
            }
            Some((since, left_out)) => {
                *since = now_ms;
                Some(std::mem::take(left_out))
            }
            None => {
                if self.seen.len() >= MAX_KEYS
                    && let Some(oldest) = self
                        .seen
                        .iter()
                        .min_by_key(|(_, (since, _))| *since)
                        .map(|(key, _)| *key)
                {
                    self.seen.remove(&oldest);
                }
                self.seen.insert(key, (now_ms, 0));
                Some(0)
            }
        }
    }
}

/// Records refusals from the accept path (`accepted`) and the endpoint (`endpoint`) until both
/// close or the engine shuts down.
pub(crate) fn serve(
    state: Engine,
    mut accepted: mpsc::Receiver<Refused>,
    mut endpoint: Option<mpsc::Receiver<switchboard_sip_ua::Refusal>>,
) {
    let engine = state.clone();
    engine.spawn(async move {
        let mut limiter = Limiter::default();
        loop {
            let refused = tokio::select! {
                refused = accepted.recv() => refused,
                Some(refusal) = async {
                    match endpoint.as_mut() {
                        Some(receiver) => receiver.recv().await,
                        None => std::future::pending().await,
                    }
                } => Some(Refused::from(refusal)),
                () = state.closed() => None,
            };
            let Some(refused) = refused else { return };
            if let Some(left_out) = limiter.admit(
                refused.status,
                refused.source.ip(),
                u64::try_from(now_ms()).unwrap_or(0),
            ) {
                record(&state, &refused, left_out).await;
            }
        }
    });
}

async fn record(state: &Engine, refused: &Refused, left_out: u64) {
    let account_sid = match &refused.account_sid {
        Some(sid) => sid.clone(),
        None => match crate::account::main_account_sid(&*state.store).await {
            Ok(Some(sid)) => sid,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(?error, "no account for a refused INVITE's alert");
                return;
            }
        },
    };
    let code = if refused.status == 403 && refused.account_sid.is_none() {
        error_code::SIP_SOURCE_NOT_ALLOWED
    } else {
        error_code::SIP_INVITE_REFUSED
    };
    let to = if refused.to_user.is_empty() {
        "(no user)"
    } else {
        &refused.to_user
    };
    let mut message = format!(
        "INVITE from {} to {to} (Call-ID {}) refused with {} {}",
        refused.source,
        refused.call_id,
        refused.status,
        reason_phrase(refused.status),
    );
    if !refused.why.is_empty() {
        message.push_str(": ");
        message.push_str(refused.why);
    }
    if left_out > 0 {
        message.push_str(&format!(
            " ({left_out} more refusals like it from this source in the last minute were not recorded)"
        ));
    }
    let alert = session::session_alert(
        Channel::Voice,
        code,
        AlertLevel::Warning,
        message,
        String::new(),
    );
    if let Err(error) = alerts::record(state, &account_sid, None, &alert).await {
        tracing::warn!(?error, "recording a refused INVITE's alert failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_alert_per_status_and_source_per_minute_with_the_rest_counted() {
        let mut limiter = Limiter::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "192.0.2.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(limiter.admit(404, a, 0), Some(0));
        for at in 1..=5 {
            assert_eq!(limiter.admit(404, a, at * 1000), None);
        }
        assert_eq!(limiter.admit(403, a, 6_000), Some(0), "another status");
        assert_eq!(limiter.admit(404, b, 6_000), Some(0), "another source");
        assert_eq!(
            limiter.admit(404, a, 60_000),
            Some(5),
            "next window: 5 left out"
        );
        assert_eq!(limiter.admit(404, a, 61_000), None);
    }

    #[test]
    fn the_pairs_remembered_are_bounded() {
        let mut limiter = Limiter::default();
        for index in 0..(MAX_KEYS as u32 + 100) {
            let address = IpAddr::from(index.to_be_bytes());
            assert_eq!(limiter.admit(404, address, u64::from(index)), Some(0));
        }
        assert_eq!(limiter.seen.len(), MAX_KEYS);
    }
}
