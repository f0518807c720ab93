//! Integration tests of the webhook client against real local HTTP servers.

mod matrix;
mod requests;
mod server;
mod validators;

use switchboard_core::ErrorCode;
use switchboard_core::error_code::{DOCUMENT_PARSE_FAILURE, ROOT_ELEMENT_MUST_BE_RESPONSE};

/// The auth token every test signs with.
pub const TOKEN: &str = "test-auth-token-5f0e";

/// Voice parameters with a repeated name (identical and different values) and non-ASCII values.
pub fn call_params() -> Vec<(String, String)> {
    [
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "+15005550006"),
        ("To", "+15551234567"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
        ("CallerName", "Zoë Ünïcode ☎ & co"),
        ("Digits", "1"),
        ("Digits", "2"),
        ("Digits", "1"),
        ("ForwardedFrom", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// TEST FIXTURE standing in for `switchboard_twiml::parse` (being written in parallel): accepts
/// well-formed-looking documents whose root is `<Response>`; 12100 / 12102 otherwise.
pub fn stand_in_parse(body: &[u8]) -> Result<String, ErrorCode> {
    let text = std::str::from_utf8(body)
        .map_err(|_| DOCUMENT_PARSE_FAILURE)?
        .trim();
    let closed = text.ends_with("/>") || text.ends_with("</Response>") || text.ends_with('>');
    if !text.starts_with('<') || !closed || text.matches('<').count() != text.matches('>').count() {
        return Err(DOCUMENT_PARSE_FAILURE);
    }
    if text.starts_with("<Response") {
        Ok(text.to_string())
    } else {
        Err(ROOT_ELEMENT_MUST_BE_RESPONSE)
    }
}
