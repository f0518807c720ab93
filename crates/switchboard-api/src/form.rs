//! Request parameters: form bodies and query strings parsed strictly into ordered pairs.
//!
//! Written here rather than with `axum::Form`: Twilio clients repeat keys
//! (`StatusCallbackEvent=a&StatusCallbackEvent=b`), and bad bytes must become a Twilio 400
//! (malformed percent-escapes, invalid UTF-8, oversized bodies), not a plain-text rejection.
//!
//! One rule for strings, here because every form body and query string of the REST and sandbox
//! APIs is parsed by `Params::parse`: a NUL character (U+0000, `%00`) in a name or a value is
//! refused with 400/20422 naming the parameter. PostgreSQL cannot store it and SQLite can, so
//! without this rule the same request got a 500 on one backend and a 201 on the other; the
//! store refuses it too (`StoreError::Unstorable`), as a second line for the engine's own writes.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use http_body_util::BodyExt;
use switchboard_core::error_code;

use crate::error::ApiError;

/// The largest form body accepted. Twilio's largest parameter (`Twiml`) is 4,000 characters and
/// ten `MediaUrl`s fit easily; anything near this is not a Twilio request.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Ordered request parameters.
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses `a=1&b=%20x+y` strictly.
    pub fn parse(bytes: &[u8]) -> Result<Params, ApiError> {
        let mut pairs = Vec::new();
        for piece in bytes
            .split(|byte| *byte == b'&')
            .filter(|piece| !piece.is_empty())
        {
            let (name, value) = match piece.iter().position(|byte| *byte == b'=') {
                Some(at) => (&piece[..at], &piece[at + 1..]),
                None => (piece, &b""[..]),
            };
            let (name, value) = (decode(name)?, decode(value)?);
            if name.contains('\0') || value.contains('\0') {
                return Err(nul_refused(&name));
            }
            pairs.push((name, value));
        }
        Ok(Params(pairs))
    }

    /// The pairs as `application/x-www-form-urlencoded` (space as `+`, every byte outside
    /// `A-Za-z0-9*-._` percent-escaped), which `parse` reads back to the same pairs.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (index, (name, value)) in self.0.iter().enumerate() {
            if index > 0 {
                out.push('&');
            }
            encode_into(&mut out, name);
            out.push('=');
            encode_into(&mut out, value);
        }
        out
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// 400/20422 for a parameter holding a NUL character.
fn nul_refused(name: &str) -> ApiError {
    ApiError::bad_request(
        error_code::INVALID_PARAMETER,
        format!(
            "Invalid parameter {}: it contains a NUL character (U+0000), which is not allowed",
            name.escape_debug()
        ),
    )
}

fn encode_into(out: &mut String, text: &str) {
    for byte in text.bytes() {
        match byte {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
}

fn decode(raw: &[u8]) -> Result<String, ApiError> {
    let malformed = || {
        ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            "The request body is not a valid form",
        )
    };
    let mut bytes = Vec::with_capacity(raw.len());
    let mut index = 0;
    while index < raw.len() {
        match raw[index] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = raw.get(index + 1..index + 3).ok_or_else(malformed)?;
                // Both must be hex digits: `from_str_radix` alone also takes a sign, so `%+C`
                // was read as 0x0C (found by the `http_params` fuzz target).
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(malformed());
                }
                let text = std::str::from_utf8(hex).map_err(|_| malformed())?;
                bytes.push(u8::from_str_radix(text, 16).map_err(|_| malformed())?);
                index += 2;
            }
            byte => bytes.push(byte),
        }
        index += 1;
    }
    String::from_utf8(bytes).map_err(|_| {
        ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            "The request is not valid UTF-8",
        )
    })
}

/// Extracts a form body (any method) capped at `MAX_BODY_BYTES`.
#[derive(Debug)]
pub struct FormBody(pub Params);

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = ApiError;

    async fn from_request(request: Request<Body>, _state: &S) -> Result<FormBody, ApiError> {
        let bytes = read_capped(request.into_body()).await?;
        Ok(FormBody(Params::parse(&bytes)?))
    }
}

/// How much of an oversized body is read and thrown away before answering 413, so that a client
/// still sending gets the answer instead of a reset connection; past this the connection closes.
const MAX_DRAINED_BYTES: usize = 32 * 1024 * 1024;

async fn read_capped(mut body: Body) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen <= MAX_BODY_BYTES {
            bytes.extend_from_slice(&data);
        } else if seen > MAX_DRAINED_BYTES {
            break;
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            error_code::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// The query string's parameters.
pub fn query_params(query: Option<&str>) -> Result<Params, ApiError> {
    Params::parse(query.unwrap_or("").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strictly() {
        let params = Params::parse(b"To=%2B1555&Body=caf%C3%A9+au+lait&E=&F&E=2").unwrap();
        assert_eq!(params.get("To"), Some("+1555"));
        assert_eq!(params.get("Body"), Some("café au lait"));
        assert_eq!(params.all("E"), vec!["", "2"]);
        assert_eq!(params.get("F"), Some(""));
        for bad in [
            &b"A=%"[..],
            b"A=%2",
            b"A=%zz",
            b"A=%+C",
            b"A=%-1",
            b"A=%C3",
            b"A=\xff",
            b"%ff=1",
        ] {
            assert!(Params::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_nul_is_refused_with_the_parameter_named() {
        for (input, named) in [
            (&b"FriendlyName=a%00b"[..], "FriendlyName"),
            (b"To=%2B1555&Body=%00", "Body"),
            (b"Url=http://x/\x00", "Url"),
            (b"Bad%00Name=1", "Bad\\0Name"),
        ] {
            let error = Params::parse(input).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
            assert_eq!(error.code, error_code::INVALID_PARAMETER);
            assert!(
                error
                    .message
                    .starts_with(&format!("Invalid parameter {named}:")),
                "{input:?}: {}",
                error.message
            );
        }
        assert!(
            Params::parse(b"Body=%01%7F%E2%80%8F").is_ok(),
            "other controls are stored"
        );
    }

    #[test]
    fn encoding_parses_back_to_the_same_pairs() {
        let params = Params(vec![
            ("A b".into(), "c&d=e+f%g".into()),
            ("".into(), "".into()),
            ("Body".into(), "caf\u{e9} \u{1f600} \u{202e}".into()),
        ]);
        let encoded = params.encode();
        assert_eq!(
            encoded,
            "A+b=c%26d%3De%2Bf%25g&=&Body=caf%C3%A9+%F0%9F%98%80+%E2%80%AE"
        );
        // An empty name with an empty value encodes to `=`, which parses back as that pair.
        assert_eq!(Params::parse(encoded.as_bytes()).unwrap().0, params.0);
    }
}
