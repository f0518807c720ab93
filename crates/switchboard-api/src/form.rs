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
use axum::http::header::CONTENT_TYPE;
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

/// Extracts a form body (any method) capped at `MAX_BODY_BYTES`: form-encoded, or
/// `multipart/form-data` as older official helper libraries send it.
#[derive(Debug)]
pub struct FormBody(pub Params);

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = ApiError;

    async fn from_request(request: Request<Body>, _state: &S) -> Result<FormBody, ApiError> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = read_capped(request.into_body()).await?;
        let multipart = content_type.as_deref().filter(|value| {
            value
                .trim_start()
                .get(..19)
                .is_some_and(|kind| kind.eq_ignore_ascii_case("multipart/form-data"))
        });
        match multipart {
            Some(content_type) => Ok(FormBody(parse_multipart(content_type, bytes).await?)),
            None => Ok(FormBody(Params::parse(&bytes)?)),
        }
    }
}

/// The most parts a multipart body may have: more than any Twilio request has parameters
/// (ten `MediaUrl`s, a dozen callbacks' events), far fewer than a 64 KiB body could hold.
pub const MAX_MULTIPART_PARTS: usize = 256;

/// A `multipart/form-data` body's parameters, in order, under the same rules as a form body:
/// every part is a parameter named by its `Content-Disposition` name, its content the value
/// (UTF-8, no NUL). The body is already whole and capped (`read_capped`), so the parser (the
/// `multer` crate, axum's own) reads it from memory; a body it cannot parse, a part without a
/// name or too many parts is a 400, never a 500.
async fn parse_multipart(content_type: &str, bytes: Vec<u8>) -> Result<Params, ApiError> {
    let malformed = |why: String| {
        ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            format!("The multipart/form-data body could not be read: {why}"),
        )
    };
    let boundary = multer::parse_boundary(content_type).map_err(|e| malformed(e.to_string()))?;
    let body = futures_util::stream::once(std::future::ready(Ok::<_, std::convert::Infallible>(
        axum::body::Bytes::from(bytes),
    )));
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(MAX_BODY_BYTES as u64));
    let mut multipart = multer::Multipart::with_constraints(body, boundary, constraints);
    let mut pairs = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| malformed(e.to_string()))?
    {
        if pairs.len() == MAX_MULTIPART_PARTS {
            return Err(malformed(format!("more than {MAX_MULTIPART_PARTS} parts")));
        }
        let Some(name) = field.name().map(str::to_owned) else {
            return Err(malformed("a part has no name".to_owned()));
        };
        let value = field.bytes().await.map_err(|e| malformed(e.to_string()))?;
        let value = String::from_utf8(value.to_vec()).map_err(|_| {
            ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("The value of {name} is not valid UTF-8"),
            )
        })?;
        if name.contains('\0') || value.contains('\0') {
            return Err(nul_refused(&name));
        }
        pairs.push((name, value));
    }
    Ok(Params(pairs))
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

    fn multipart(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut body = String::new();
        for (name, value) in parts {
            body.push_str(&format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str("--XyZ--\r\n");
        body.into_bytes()
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|runtime| runtime.block_on(future))
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    #[test]
    fn multipart_parts_are_parameters_in_order() {
        let body = multipart(&[
            ("To", "+15005550001"),
            ("Body", "café & more"),
            ("StatusCallbackEvent", "a"),
            ("StatusCallbackEvent", "b"),
            ("Empty", ""),
        ]);
        let params = block_on(parse_multipart("multipart/form-data; boundary=XyZ", body))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(params.get("To"), Some("+15005550001"));
        assert_eq!(params.get("Body"), Some("café & more"));
        assert_eq!(params.all("StatusCallbackEvent"), vec!["a", "b"]);
        assert_eq!(params.get("Empty"), Some(""));
        assert_eq!(params.0.len(), 5);
    }

    #[test]
    fn malformed_multipart_is_a_400() {
        let nameless = b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--\r\n".to_vec();
        let too_many: Vec<(String, String)> = (0..=MAX_MULTIPART_PARTS)
            .map(|i| (format!("P{i}"), "v".to_owned()))
            .collect();
        let too_many: Vec<(&str, &str)> = too_many
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("multipart/form-data", multipart(&[("To", "x")])),
            ("multipart/form-data; boundary=XyZ", b"garbage".to_vec()),
            (
                "multipart/form-data; boundary=XyZ",
                b"--XyZ\r\nContent-Disp".to_vec(),
            ),
            ("multipart/form-data; boundary=XyZ", nameless),
            (
                "multipart/form-data; boundary=XyZ",
                multipart(&[("To", "a\0b")]),
            ),
            ("multipart/form-data; boundary=XyZ", multipart(&too_many)),
        ];
        for (content_type, body) in cases {
            let result = block_on(parse_multipart(content_type, body));
            let Err(error) = result else {
                panic!("{content_type}: accepted");
            };
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{error:?}");
        }
        let invalid_utf8 =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"To\"\r\n\r\n\xff\r\n--XyZ--\r\n"
                .to_vec();
        assert!(
            block_on(parse_multipart(
                "multipart/form-data; boundary=XyZ",
                invalid_utf8
            ))
            .is_err()
        );
    }

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
