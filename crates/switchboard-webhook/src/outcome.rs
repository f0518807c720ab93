//! What one webhook exchange produced: the HTTP answer or a transport failure, plus the record of
//! the request and response that alerts are built from.
//!
//! Transport failures map to Twilio codes per product.md Decision 4: connect failures, refusals
//! and timeouts are 11205 on a URL without an override fragment, and the specific 11201 / 11202 /
//! 11203 on a URL with one. A read timeout (`rt`) has no code of its own: with a fragment it is
//! reported as 11203, the only HTTP-level timeout code.

use std::borrow::Cow;
use std::time::Duration;

use switchboard_core::ErrorCode;
use switchboard_core::error_code as codes;

use crate::overrides::OverrideFinding;
use crate::request::Method;

/// Why no usable HTTP answer was obtained.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("invalid URL")]
    InvalidUrl,
    #[error("invalid connection override: {}", .0.message)]
    Override(OverrideFinding),
    #[error("TCP connection timed out")]
    ConnectTimeout,
    #[error("TCP connection refused")]
    ConnectionRefused,
    #[error("TCP connection failed")]
    ConnectFailed,
    #[error("read timed out before the response completed")]
    ReadTimeout { response_started: bool },
    #[error("total time out triggered")]
    TotalTimeout,
    #[error("host name could not be resolved")]
    BadHostName,
    #[error("TLS failure ({0})")]
    Tls(ErrorCode),
    #[error("connection closed or reset before a complete response")]
    ConnectionLost,
    #[error("response was not valid HTTP")]
    ProtocolViolation,
    #[error("more than 10 redirects")]
    TooManyRedirects,
    #[error("invalid redirect")]
    InvalidRedirect,
    #[error("response body larger than the limit")]
    BodyTooLarge,
}

impl TransportError {
    /// The Twilio code for this failure; `overrides_present` selects 11201–11203 over 11205.
    pub fn code(&self, overrides_present: bool) -> ErrorCode {
        use TransportError::*;
        match (self, overrides_present) {
            (InvalidUrl, _) => codes::INVALID_URL_FORMAT,
            (Override(finding), _) => finding.code,
            (ConnectTimeout | ConnectionRefused | ReadTimeout { .. } | TotalTimeout, false) => {
                codes::HTTP_CONNECTION_FAILURE
            }
            (ConnectTimeout, true) => codes::TCP_CONNECTION_TIMED_OUT,
            (ConnectionRefused, true) => codes::TCP_CONNECTION_REFUSED,
            (ReadTimeout { .. } | TotalTimeout, true) => codes::HTTP_TOTAL_TIMEOUT,
            (ConnectFailed, _) => codes::HTTP_CONNECTION_FAILURE,
            (BadHostName, _) => codes::HTTP_BAD_HOST_NAME,
            (Tls(code), _) => *code,
            (ConnectionLost, _) => codes::HTTP_RETRIEVAL_FAILURE,
            (ProtocolViolation, _) => codes::HTTP_PROTOCOL_VIOLATION,
            (TooManyRedirects, _) => codes::TOO_MANY_REDIRECTS,
            (InvalidRedirect, _) => codes::INVALID_REDIRECT,
            (BodyTooLarge, _) => codes::RESPONSE_BODY_TOO_LARGE,
        }
    }

    /// Failures that `rp=ct` retries: the connection (TCP or TLS) could not be set up.
    pub fn is_connect_failure(&self) -> bool {
        matches!(
            self,
            TransportError::ConnectTimeout
                | TransportError::ConnectionRefused
                | TransportError::ConnectFailed
                | TransportError::Tls(_)
        )
    }
}

/// The HTTP answer of the final hop (after redirects and any 401 challenge).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// The `Content-Type` header as sent, if any.
    pub content_type: Option<String>,
    /// The body, at most the configured limit.
    pub body: Vec<u8>,
    /// The URL that gave this answer (differs from the request after redirects).
    pub final_url: String,
}

/// The request as recorded for alerts (first hop; secrets redacted). Kept as sent (static
/// header names, borrowed constant values) so a successful exchange copies nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestRecord {
    pub url: String,
    pub method: Method,
    pub params: Vec<(String, String)>,
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
}

/// The last response seen, kept raw so a successful exchange costs no copies; alerts turn it
/// into text with [`Exchange::response_headers`] and [`Exchange::response_body`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseRecord {
    pub status: Option<u16>,
    pub headers: reqwest::header::HeaderMap,
    /// Headers Twilio synthesises when no usable answer arrived (`X-Twilio-WebhookError`, …).
    pub synthetic_headers: Vec<(String, String)>,
    /// What was read of a body that did not complete (too large, stalled); empty otherwise.
    pub partial_body: Vec<u8>,
}

/// Everything one logical webhook produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub request: RequestRecord,
    pub response: ResponseRecord,
    pub result: Result<HttpAnswer, TransportError>,
    /// Attempts made (1 + retries); 0 when no request was sent.
    pub attempts: u32,
    pub duration: Duration,
    /// Clamped override values (WARNING alerts).
    pub warnings: Vec<OverrideFinding>,
    /// Whether the URL had an override fragment (selects 11201–11203).
    pub overrides_present: bool,
}

impl Exchange {
    /// The HTTP status of the final answer, if one arrived.
    pub fn status(&self) -> Option<u16> {
        self.result.as_ref().ok().map(|answer| answer.status)
    }

    /// Response headers as text pairs (real ones, then synthetic ones).
    pub fn response_headers(&self) -> Vec<(String, String)> {
        let real = self.response.headers.iter().map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        });
        real.chain(self.response.synthetic_headers.iter().cloned())
            .collect()
    }

    /// The response body as text, at most `limit` bytes (decoded lossily).
    pub fn response_body(&self, limit: usize) -> String {
        let body = match &self.result {
            Ok(answer) => &answer.body,
            Err(_) => &self.response.partial_body,
        };
        String::from_utf8_lossy(&body[..body.len().min(limit)]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_4_mapping() {
        use TransportError::*;
        let cases = [
            (ConnectTimeout, false, 11205),
            (ConnectTimeout, true, 11201),
            (ConnectionRefused, false, 11205),
            (ConnectionRefused, true, 11202),
            (TotalTimeout, false, 11205),
            (TotalTimeout, true, 11203),
            (
                ReadTimeout {
                    response_started: true,
                },
                true,
                11203,
            ),
            (BadHostName, true, 11210),
            (Tls(codes::TLS_HANDSHAKE_ERROR), false, 11220),
            (TooManyRedirects, false, 11215),
            (InvalidRedirect, false, 11216),
            (BodyTooLarge, false, 11750),
            (ProtocolViolation, false, 11206),
            (ConnectionLost, false, 11200),
        ];
        for (error, present, code) in cases {
            assert_eq!(
                error.code(present).code,
                code,
                "{error:?} present={present}"
            );
        }
    }
}
