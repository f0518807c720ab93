//! When a status callback or debugger webhook is tried again (product.md "Several nodes"; pure:
//! the time and the jitter come in).
//!
//! Beyond Twilio's single attempt, the engine's outbox retries a notification that failed on
//! the way (no connection, a timeout, a reset) or was answered `429` or `5xx`: first after 1 s,
//! then doubling to at most 60 s between attempts, each delay spread by ±25% so that callbacks
//! that failed together do not all come back together; a `Retry-After` answer is honoured (the
//! next attempt is not sooner). No attempt starts after the delivery's deadline (its creation
//! plus `--callback-retry-for`); any other answer (a `4xx`, a URL that cannot be requested) is
//! final at once.

use crate::outcome::{Exchange, TransportError};

/// The first delay between attempts.
pub const FIRST_DELAY_MS: u64 = 1_000;
/// The longest delay between attempts (unless a `Retry-After` asks for more).
pub const MAX_DELAY_MS: u64 = 60_000;

/// What one attempt showed, as far as retrying goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Worth trying again; the receiver may have said when (`Retry-After`, in milliseconds).
    Retryable {
        retry_after_ms: Option<u64>,
    },
    /// Trying again would get the same answer.
    Final,
}

impl Attempt {
    /// Classifies a sent notification: 2xx delivered; no usable answer, `429` or `5xx` retryable
    /// (with the answer's `Retry-After` in seconds, if any); anything else final.
    pub fn of(exchange: &Exchange) -> Attempt {
        match &exchange.result {
            Ok(answer) if (200..300).contains(&answer.status) => Attempt::Delivered,
            Ok(answer) if answer.status == 429 || answer.status >= 500 => Attempt::Retryable {
                retry_after_ms: retry_after_ms(exchange),
            },
            Ok(_) => Attempt::Final,
            Err(error) => {
                if is_transient(error) {
                    Attempt::Retryable {
                        retry_after_ms: None,
                    }
                } else {
                    Attempt::Final
                }
            }
        }
    }
}

/// Failures on the way that a later attempt may not meet: the network and the receiver's
/// availability, not the request or the answer's shape.
fn is_transient(error: &TransportError) -> bool {
    match error {
        TransportError::ConnectTimeout
        | TransportError::ConnectionRefused
        | TransportError::ConnectFailed
        | TransportError::ReadTimeout { .. }
        | TransportError::TotalTimeout
        | TransportError::BadHostName
        | TransportError::Tls(_)
        | TransportError::ConnectionLost => true,
        TransportError::InvalidUrl
        | TransportError::Override(_)
        | TransportError::ProtocolViolation
        | TransportError::TooManyRedirects
        | TransportError::InvalidRedirect
        | TransportError::BodyTooLarge => false,
    }
}

/// A `Retry-After` of delta-seconds (an HTTP-date is ignored: the backoff applies).
fn retry_after_ms(exchange: &Exchange) -> Option<u64> {
    let value = exchange
        .response
        .headers
        .get(reqwest::header::RETRY_AFTER)?;
    let seconds: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(seconds.saturating_mul(1000))
}

/// What becomes of a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Pending, due at this time (epoch milliseconds).
    RetryAt(i64),
    /// Failed for good.
    GiveUp,
}

/// After the `attempts`th attempt (1 for the first) ended as `attempt` at `now_ms`, for a
/// delivery that may not be tried after `deadline_ms`; `jitter` is uniform in `[0, 1)`.
pub fn next(attempt: Attempt, attempts: u32, now_ms: i64, deadline_ms: i64, jitter: f64) -> Next {
    let retry_after_ms = match attempt {
        Attempt::Delivered => return Next::Delivered,
        Attempt::Final => return Next::GiveUp,
        Attempt::Retryable { retry_after_ms } => retry_after_ms,
    };
    let delay = backoff_ms(attempts, jitter).max(retry_after_ms.unwrap_or(0));
    let at = now_ms.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
    if at > deadline_ms {
        Next::GiveUp
    } else {
        Next::RetryAt(at)
    }
}

/// The delay after the `attempts`th attempt: 1 s doubling, at most 60 s, spread by ±25%.
pub fn backoff_ms(attempts: u32, jitter: f64) -> u64 {
    let doublings = attempts.saturating_sub(1).min(16);
    let base = FIRST_DELAY_MS
        .saturating_mul(1 << doublings)
        .min(MAX_DELAY_MS);
    let jitter = if jitter.is_nan() {
        0.5
    } else {
        jitter.clamp(0.0, 1.0)
    };
    let spread = 0.75 + 0.5 * jitter;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let delay = (base as f64 * spread) as u64;
    delay.min(MAX_DELAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETRY: Attempt = Attempt::Retryable {
        retry_after_ms: None,
    };

    #[test]
    fn the_delay_starts_at_a_second_and_doubles_to_a_minute() {
        let middle: Vec<u64> = (1..=9).map(|n| backoff_ms(n, 0.5)).collect();
        assert_eq!(
            middle,
            [
                1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000
            ]
        );
        assert_eq!(backoff_ms(u32::MAX, 0.5), 60_000, "no overflow");
    }

    #[test]
    fn jitter_spreads_a_delay_by_a_quarter_and_never_past_a_minute() {
        assert_eq!(backoff_ms(1, 0.0), 750);
        assert_eq!(backoff_ms(1, 0.999_999), 1_249);
        assert_eq!(backoff_ms(3, 0.0), 3_000);
        assert_eq!(backoff_ms(7, 0.999), 60_000);
        assert_eq!(backoff_ms(2, f64::NAN), 2_000, "no jitter is the middle");
    }

    #[test]
    fn a_retryable_attempt_is_due_after_its_delay_until_the_deadline() {
        assert_eq!(next(RETRY, 1, 10_000, 20_000, 0.5), Next::RetryAt(11_000));
        assert_eq!(next(RETRY, 4, 10_000, 20_000, 0.5), Next::RetryAt(18_000));
        assert_eq!(next(RETRY, 5, 10_000, 20_000, 0.5), Next::GiveUp);
        assert_eq!(
            next(RETRY, 1, 10_000, 10_000, 0.5),
            Next::GiveUp,
            "retry-for 0"
        );
    }

    #[test]
    fn retry_after_is_honoured_even_past_a_minute() {
        let wait = |ms| Attempt::Retryable {
            retry_after_ms: Some(ms),
        };
        assert_eq!(
            next(wait(5_000), 1, 0, 1_000_000, 0.5),
            Next::RetryAt(5_000)
        );
        assert_eq!(next(wait(0), 3, 0, 1_000_000, 0.5), Next::RetryAt(4_000));
        assert_eq!(
            next(wait(120_000), 1, 0, 1_000_000, 0.5),
            Next::RetryAt(120_000)
        );
        assert_eq!(
            next(wait(u64::MAX), 1, 0, i64::MAX, 0.5),
            Next::RetryAt(i64::MAX)
        );
        assert_eq!(next(wait(2_000_000), 1, 0, 1_000_000, 0.5), Next::GiveUp);
    }

    #[test]
    fn delivered_and_final_attempts_end_the_delivery() {
        assert_eq!(next(Attempt::Delivered, 9, 0, 0, 0.5), Next::Delivered);
        assert_eq!(next(Attempt::Final, 1, 0, i64::MAX, 0.5), Next::GiveUp);
    }
}
