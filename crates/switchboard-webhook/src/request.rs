//! Building a webhook request exactly as Twilio sends it (pure: no IO).
//!
//! POST puts the parameters form-encoded in the body and keeps the configured query string;
//! GET appends them to the query string in alphabetical order (product.md Decision 17).
//! The URL is split into what is requested (no fragment, no userinfo), the connection overrides
//! (the fragment) and the Basic-auth credentials (the userinfo, used only after a 401).
//! The signed URL is the requested URL: userinfo never reaches the wire, so the customer's
//! validator, which rebuilds the URL from the Host header and request line, sees the same string.

use std::borrow::Cow;

use bytes::Bytes;
use url::Url;

use crate::overrides::{ParsedOverrides, parse_fragment};
use crate::signature;

pub use switchboard_core::Method;

/// What the caller asks for: one logical webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookRequest {
    /// The URL as configured, possibly with userinfo and an override fragment.
    pub url: String,
    pub method: Method,
    /// Form parameters in the order given (repeated names allowed).
    pub params: Vec<(String, String)>,
    /// A JSON body instead of form parameters (POST, signed through `bodySHA256`).
    pub json_body: Option<Vec<u8>>,
    /// The `I-Twilio-Idempotency-Token` to send: a delivery that the outbox retries across
    /// sends (and nodes) keeps its own; `None` draws a new one for this logical webhook.
    pub idempotency_token: Option<String>,
}

impl WebhookRequest {
    pub fn form(url: impl Into<String>, method: Method, params: Vec<(String, String)>) -> Self {
        WebhookRequest {
            url: url.into(),
            method,
            params,
            json_body: None,
            idempotency_token: None,
        }
    }

    pub fn json(url: impl Into<String>, body: Vec<u8>) -> Self {
        WebhookRequest {
            url: url.into(),
            method: Method::Post,
            params: Vec::new(),
            json_body: Some(body),
            idempotency_token: None,
        }
    }
}

/// Basic-auth credentials from the URL's userinfo. Never serialised, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}:***)", self.username)
    }
}

/// A configured URL taken apart.
#[derive(Clone, Debug)]
pub struct Target {
    /// What is requested and signed: no fragment, no userinfo.
    pub url: Url,
    pub credentials: Option<Credentials>,
    pub overrides: ParsedOverrides,
    /// The configured URL for alerts and `ErrorUrl`: no fragment, password replaced by `***`.
    pub redacted: String,
}

/// The configured URL is not an absolute http(s) URL (11100 for the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid http(s) URL: {0}")]
pub struct InvalidUrl(pub String);

impl Target {
    pub fn parse(configured: &str) -> Result<Target, InvalidUrl> {
        let mut url =
            Url::parse(configured.trim()).map_err(|_| InvalidUrl(redact_url(configured)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(InvalidUrl(redact_url(configured)));
        }
        let overrides = parse_fragment(url.fragment().unwrap_or(""));
        url.set_fragment(None);
        let redacted = redact_parsed(&url);
        let credentials =
            (!url.username().is_empty() || url.password().is_some()).then(|| Credentials {
                username: decode(url.username()),
                password: decode(url.password().unwrap_or("")),
            });
        // Clearing userinfo cannot fail on an http(s) URL with a host (checked above).
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(Target {
            url,
            credentials,
            overrides,
            redacted,
        })
    }
}

fn decode(component: &str) -> String {
    percent_encoding::percent_decode_str(component)
        .decode_utf8_lossy()
        .into_owned()
}

/// A URL fit for alerts and `ErrorUrl`: fragment dropped, any password replaced by `***`.
pub fn redact_url(configured: &str) -> String {
    match Url::parse(configured.trim()) {
        Ok(url) => redact_parsed(&url),
        // Unparseable: keep only what precedes any userinfo or fragment marker.
        Err(_) => {
            let no_fragment = configured.split('#').next().unwrap_or("");
            match no_fragment.rsplit_once('@') {
                Some((_, rest)) => format!("***@{rest}"),
                None => no_fragment.to_string(),
            }
        }
    }
}

/// The redacted form of an already parsed URL (no second parse).
fn redact_parsed(url: &Url) -> String {
    if url.password().is_none() && url.fragment().is_none() {
        return url.as_str().to_string();
    }
    let mut url = url.clone();
    url.set_fragment(None);
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.into()
}

/// One HTTP request ready for the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedRequest {
    pub method: Method,
    /// The full request URL (for GET, with the parameters appended); its serialisation is the
    /// signed URL.
    pub url: Url,
    /// Headers in sending order; `Authorization` and `Cookie` are added by the executor.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// Shared, so each retry resends it without a copy.
    pub body: Option<Bytes>,
}

pub const USER_AGENT: &str = "TwilioProxy/1.1";
pub const USER_AGENT_HEADER: &str = "User-Agent";
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
pub const IDEMPOTENCY_HEADER: &str = "I-Twilio-Idempotency-Token";
pub const ACCEPT_HEADER: &str = "Accept";
pub const CONTENT_TYPE_HEADER: &str = "Content-Type";
pub const HOME_REGION_HEADER: &str = "X-Home-Region";
/// The region a self-hosted engine reports: Twilio's default, so apps that log it see a known value.
pub const HOME_REGION: &str = "us1";

/// Builds the request for `url` (already without fragment and userinfo).
pub fn prepare(
    url: &Url,
    method: Method,
    params: &[(String, String)],
    json_body: Option<&[u8]>,
    auth_token: &str,
    idempotency_token: &str,
) -> PreparedRequest {
    let (url, body, content_type, signed_params): (Url, _, _, &[(String, String)]) =
        match (json_body, method) {
            (Some(json), _) => (
                reparse(url, signature::url_with_body_hash(url.as_str(), json)),
                Some(Bytes::copy_from_slice(json)),
                Some("application/json; charset=utf-8"),
                &[],
            ),
            (None, Method::Post) => (
                url.clone(),
                Some(Bytes::from(form_encode(params.iter()))),
                Some("application/x-www-form-urlencoded"),
                params,
            ),
            (None, Method::Get) => (
                reparse(url, append_sorted_query(url, params)),
                None,
                None,
                &[],
            ),
        };
    // Signed over the serialisation of the very `Url` that is sent.
    let signature = signature::sign(auth_token, url.as_str(), signed_params);
    let mut headers = Vec::with_capacity(6);
    headers.push((USER_AGENT_HEADER, Cow::Borrowed(USER_AGENT)));
    headers.push((SIGNATURE_HEADER, Cow::Owned(signature)));
    headers.push((
        IDEMPOTENCY_HEADER,
        Cow::Owned(idempotency_token.to_string()),
    ));
    headers.push((ACCEPT_HEADER, Cow::Borrowed("*/*")));
    headers.push((HOME_REGION_HEADER, Cow::Borrowed(HOME_REGION)));
    if let Some(content_type) = content_type {
        headers.push((CONTENT_TYPE_HEADER, Cow::Borrowed(content_type)));
    }
    let method = if json_body.is_some() {
        Method::Post
    } else {
        method
    };
    PreparedRequest {
        method,
        url,
        headers,
        body,
    }
}

/// Parses a URL built by appending a form-encoded query to a valid URL. That cannot fail; if it
/// somehow did, the base URL is sent (and signed) unchanged rather than panicking.
fn reparse(base: &Url, built: String) -> Url {
    Url::parse(&built).unwrap_or_else(|_| base.clone())
}

fn form_encode<'a>(params: impl Iterator<Item = &'a (String, String)> + Clone) -> String {
    // Sized up front (encoding rarely grows text by more than a quarter) to avoid regrowth.
    let raw: usize = params
        .clone()
        .map(|(name, value)| name.len() + value.len() + 2)
        .sum();
    let mut serializer =
        url::form_urlencoded::Serializer::new(String::with_capacity(raw + raw / 4));
    for (name, value) in params {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// Appends `params` sorted by name (stable: repeated names keep their order) to the query.
fn append_sorted_query(url: &Url, params: &[(String, String)]) -> String {
    if params.is_empty() {
        return url.to_string();
    }
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let separator = match url.query() {
        None => "?",
        Some("") => "",
        Some(_) => "&",
    };
    format!("{url}{separator}{}", form_encode(sorted.into_iter()))
}

/// A random `I-Twilio-Idempotency-Token`, one per logical webhook (kept across retries).
pub fn new_idempotency_token() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes: [u8; 16] = rand::random();
    let mut token = String::with_capacity(36);
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            token.push('-');
        }
        token.push(char::from(HEX[usize::from(byte >> 4)]));
        token.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn header<'a>(request: &'a PreparedRequest, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
    }

    #[test]
    fn target_splits_userinfo_and_fragment() {
        let target = Target::parse("https://user:p%40ss@example.com:8443/voice?x=1#ct=200&rc=0")
            .expect("valid");
        assert_eq!(target.url.as_str(), "https://example.com:8443/voice?x=1");
        let credentials = target.credentials.expect("credentials");
        assert_eq!(
            (credentials.username.as_str(), credentials.password.as_str()),
            ("user", "p@ss")
        );
        assert_eq!(
            target.redacted,
            "https://user:***@example.com:8443/voice?x=1"
        );
        assert!(target.overrides.overrides.present);
        assert_eq!(target.overrides.overrides.retry_count, 0);
        assert!(Target::parse("ftp://example.com/").is_err());
        assert!(Target::parse("not a url").is_err());
        assert_eq!(redact_url("nonsense://a:b@c#d"), "nonsense://a:***@c");
    }

    #[test]
    fn post_keeps_query_and_puts_params_in_body() {
        let url = Url::parse("http://127.0.0.1:9000/voice?b=2&a=1").expect("url");
        let p = params(&[("To", "+1 555"), ("Body", "héllo & bye")]);
        let request = prepare(&url, Method::Post, &p, None, "tok", "idem");
        assert_eq!(request.url.as_str(), "http://127.0.0.1:9000/voice?b=2&a=1");
        assert_eq!(
            request.body.as_deref(),
            Some(&b"To=%2B1+555&Body=h%C3%A9llo+%26+bye"[..])
        );
        assert_eq!(
            header(&request, "Content-Type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(header(&request, "User-Agent"), Some("TwilioProxy/1.1"));
        assert_eq!(
            header(&request, "X-Twilio-Signature"),
            Some(signature::sign("tok", request.url.as_str(), &p).as_str())
        );
    }

    #[test]
    fn get_appends_sorted_params() {
        let url = Url::parse("http://h/voice?z=9").expect("url");
        let p = params(&[("To", "b"), ("From", "a"), ("Digits", "2"), ("Digits", "1")]);
        let request = prepare(&url, Method::Get, &p, None, "tok", "idem");
        assert_eq!(
            request.url.as_str(),
            "http://h/voice?z=9&Digits=2&Digits=1&From=a&To=b"
        );
        assert!(request.body.is_none() && header(&request, "Content-Type").is_none());
        assert_eq!(
            header(&request, "X-Twilio-Signature"),
            Some(signature::sign("tok", request.url.as_str(), &[]).as_str())
        );
        let bare = prepare(
            &Url::parse("http://h/v").expect("url"),
            Method::Get,
            &p[..1],
            None,
            "t",
            "i",
        );
        assert_eq!(bare.url.as_str(), "http://h/v?To=b");
    }

    #[test]
    fn json_body_is_hashed_into_the_url() {
        let url = Url::parse("https://h/hook").expect("url");
        let request = prepare(&url, Method::Get, &[], Some(b"{}"), "tok", "idem");
        assert_eq!(request.method, Method::Post);
        assert!(
            request
                .url
                .as_str()
                .starts_with("https://h/hook?bodySHA256=")
        );
        assert_eq!(
            header(&request, "Content-Type"),
            Some("application/json; charset=utf-8")
        );
    }

    #[test]
    fn idempotency_tokens_differ() {
        assert_ne!(new_idempotency_token(), new_idempotency_token());
        assert_eq!(new_idempotency_token().len(), 36);
    }
}
