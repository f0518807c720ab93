//! The thin IO driver: sends one logical webhook with reqwest, honouring the connection
//! overrides, and returns an [`Exchange`] (answer or transport failure, plus its record).
//!
//! Mapping of the overrides (ecosystem.md §2): `ct` is `connect_timeout` and `rt` is
//! `read_timeout`, both client-level in reqwest, so clients are cached per (ct, rt, sni) — a small,
//! bounded set in practice. `tt` is one deadline over all attempts (`tokio::time::timeout`), and
//! `rc`/`rp` drive our own retry loop, so every retry carries the same idempotency token.
//! Redirects and the 401 challenge are followed here (reqwest's redirect policy is `none`) so
//! each hop is signed, gets the session's cookies, and is classified (11215/11216).
//!
//! TLS: reqwest 0.13's `rustls` feature brings rustls with the aws-lc-rs provider. One rustls
//! `ClientConfig` (platform verifier plus any extra roots, HTTP/1.1 ALPN) is built when the
//! `WebhookClient` is made, and each cached reqwest client gets a clone
//! (`tls_backend_preconfigured`): loading the trust store costs tens of milliseconds, which would
//! otherwise be paid inside the `ct` budget of the first request with new timeouts. The provider
//! is the process default if one was installed, else aws-lc-rs, so nothing needs installing; only
//! if another crate also enables rustls' `ring` feature must the binary call
//! `rustls::crypto::aws_lc_rs::default_provider().install_default()` first thing in `main`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, HeaderName, HeaderValue, LOCATION,
    SET_COOKIE, USER_AGENT, WWW_AUTHENTICATE,
};
use url::Url;

use crate::breaker::{Admission, BreakerSettings, Breakers, Health, Transition};
use crate::connect::{EngineResolver, classify_body_error, classify_send_error, tls_config};
use crate::cookies::CookieJar;
use crate::outcome::{Exchange, HttpAnswer, RequestRecord, ResponseRecord, TransportError};
use crate::overrides::{Overrides, RetryPolicy};
use crate::request::{
    InvalidUrl, Method, PreparedRequest, Target, WebhookRequest, new_idempotency_token, prepare,
};

/// Limits of the client; the defaults are Twilio's.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// Hard cap on a TwiML / text body (Twilio: 64 kB, 11750 beyond).
    pub body_limit: usize,
    /// Cap on an audio answer (`audio/*`), which is played rather than parsed.
    pub audio_body_limit: usize,
    /// Redirects followed before 11215.
    pub max_redirects: u32,
    /// Extra trust anchors (PEM) for self-hosters' private CAs.
    pub extra_root_certificates_pem: Vec<Vec<u8>>,
    /// The circuit breakers of origins that sessions ask to guard (`--breaker-failures`,
    /// `--breaker-cooloff`).
    pub breaker: BreakerSettings,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            body_limit: 64 * 1024,
            audio_body_limit: 16 * 1024 * 1024,
            max_redirects: 10,
            extra_root_certificates_pem: Vec::new(),
            breaker: BreakerSettings::default(),
        }
    }
}

/// The client could not be built (bad certificate or TLS set-up).
#[derive(Debug, thiserror::Error)]
#[error("could not build the webhook HTTP client: {0}")]
pub struct ClientBuildError(pub(crate) String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ClientKey {
    connect: Duration,
    read: Duration,
    sni: bool,
}

/// Sends webhooks. Cheap to share (`Arc`); one per engine.
pub struct WebhookClient {
    settings: ClientSettings,
    tls: rustls::ClientConfig,
    clients: Mutex<HashMap<ClientKey, reqwest::Client>>,
    /// Parsed targets by the exact configured URL string (see [`WebhookClient::target_for`]).
    targets: Mutex<HashMap<String, Arc<Target>>>,
    /// The breakers of guarded origins, and the time zero of their clock.
    breakers: Mutex<Breakers>,
    started: std::time::Instant,
    /// Where breaker changes go to be shared with other nodes (`share_breakers`), if anywhere.
    breaker_changes: Mutex<Option<tokio::sync::mpsc::UnboundedSender<BreakerChange>>>,
}

/// A change of one origin's breaker, for the other nodes of a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakerChange {
    pub origin: String,
    pub change: crate::breaker::Shared,
}

/// Distinct configured URLs kept parsed; past this the cache is emptied and refilled.
const TARGET_CACHE_LIMIT: usize = 1024;

impl WebhookClient {
    pub fn new(settings: ClientSettings) -> Result<Self, ClientBuildError> {
        let settings_breaker = settings.breaker;
        let tls = tls_config(&settings.extra_root_certificates_pem)?;
        let client = WebhookClient {
            settings,
            tls,
            clients: Mutex::new(HashMap::new()),
            targets: Mutex::new(HashMap::new()),
            breakers: Mutex::new(Breakers::new(settings_breaker)),
            started: std::time::Instant::now(),
            breaker_changes: Mutex::new(None),
        };
        client.client_for(&Overrides::default())?;
        Ok(client)
    }

    /// The TLS configuration every webhook uses (the platform verifier plus the extra roots):
    /// media stream WebSockets use it too.
    pub fn tls_client_config(&self) -> rustls::ClientConfig {
        self.tls.clone()
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    fn breakers(&self) -> std::sync::MutexGuard<'_, Breakers> {
        // Every method of `Breakers` leaves it consistent, so a poisoned lock holds no half-made
        // change.
        self.breakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn breaker_now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a request to `origin`, whose breaker is on, may be sent now.
    pub fn breaker_admit(&self, origin: &str) -> Admission {
        let now = self.breaker_now();
        self.breakers().admit(origin, now)
    }

    /// Records what a request to a guarded `origin` showed; says when its breaker opened or
    /// closed.
    pub fn breaker_record(&self, origin: &str, health: Health) -> Option<Transition> {
        let now = self.breaker_now();
        let (transition, shared) = {
            let mut breakers = self.breakers();
            let transition = breakers.record(origin, now, health);
            let shared = transition.map(|transition| breakers.shared(origin, now, transition));
            (transition, shared)
        };
        if let Some(change) = shared {
            let sink = self
                .breaker_changes
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(sink) = sink.as_ref() {
                let _ = sink.send(BreakerChange {
                    origin: origin.to_owned(),
                    change,
                });
            }
        }
        transition
    }

    /// From now on, every change of a breaker here is sent on the returned receiver, for the
    /// other nodes of a cluster (the engine stores it where they read it).
    pub fn share_breakers(&self) -> tokio::sync::mpsc::UnboundedReceiver<BreakerChange> {
        let (sink, changes) = tokio::sync::mpsc::unbounded_channel();
        *self
            .breaker_changes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(sink);
        changes
    }

    /// Takes over a change another node made to `origin`'s breaker (`Breakers::adopt`).
    pub fn adopt_breaker(&self, origin: &str, change: crate::breaker::Shared) {
        let now = self.breaker_now();
        self.breakers().adopt(origin, now, change);
    }

    /// `closed`, `open` or `half-open`.
    pub fn breaker_state(&self, origin: &str) -> &'static str {
        self.breakers().state(origin)
    }

    fn client_for(&self, overrides: &Overrides) -> Result<reqwest::Client, ClientBuildError> {
        let key = ClientKey {
            connect: overrides.connect_timeout,
            read: overrides.read_timeout,
            sni: overrides.sni,
        };
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let mut tls = self.tls.clone();
        tls.enable_sni = key.sni;
        let client = reqwest::Client::builder()
            .connect_timeout(key.connect)
            .read_timeout(key.read)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .http1_only()
            .http1_title_case_headers()
            .tcp_nodelay(true)
            .dns_resolver(Arc::new(EngineResolver))
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| ClientBuildError(e.to_string()))?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// The configured URL taken apart, from a small cache keyed by the exact string: an engine
    /// requests the same few URLs over and over, and `Target::parse` is a pure function of the
    /// string, so a hit can never be stale. Invalid URLs are not cached. An entry holds nothing
    /// beyond what the configured string (which the caller keeps anyway) already contains.
    fn target_for(&self, configured: &str) -> Result<Arc<Target>, InvalidUrl> {
        let lock = || {
            self.targets
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some(target) = lock().get(configured) {
            return Ok(Arc::clone(target));
        }
        let target = Arc::new(Target::parse(configured)?);
        let mut targets = lock();
        if targets.len() >= TARGET_CACHE_LIMIT {
            targets.clear();
        }
        targets.insert(configured.to_string(), Arc::clone(&target));
        Ok(target)
    }

    /// Sends one logical webhook (all attempts, redirects and the 401 round) and records it.
    ///
    /// Takes the request by value: its parameters move into the record, so a successful
    /// exchange copies nothing it does not send.
    pub async fn send(
        &self,
        request: WebhookRequest,
        auth_token: &str,
        cookies: &mut CookieJar,
    ) -> Exchange {
        let started = Instant::now();
        let target = match self.target_for(&request.url) {
            Ok(target) => target,
            Err(invalid) => {
                let record = RequestRecord {
                    url: invalid.0,
                    method: request.method,
                    params: request.params,
                    headers: Vec::new(),
                };
                let error = TransportError::InvalidUrl;
                return failed_before_sending(record, error, started, Vec::new(), false);
            }
        };
        let idempotency_token = match &request.idempotency_token {
            Some(token) => token.clone(),
            None => new_idempotency_token(),
        };
        let json = request.json_body.as_deref();
        let first = prepare(
            &target.url,
            request.method,
            &request.params,
            json,
            auth_token,
            &idempotency_token,
        );
        let overrides = &target.overrides.overrides;
        let mut response = ResponseRecord::default();
        let mut attempts = 0;
        let result = match (&target.overrides.error, self.client_for(overrides)) {
            (Some(finding), _) => Err(TransportError::Override(finding.clone())),
            (None, Err(_)) => Err(TransportError::ConnectFailed),
            (None, Ok(client)) => {
                let hop = Hop {
                    client: &client,
                    target: &target,
                    request: &request,
                    first: &first,
                    auth_token,
                };
                let deadline = started + overrides.total_timeout;
                loop {
                    attempts += 1;
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    let attempt = self.attempt(hop, cookies, &mut response);
                    let outcome = match tokio::time::timeout(remaining, attempt).await {
                        Ok(outcome) => outcome,
                        Err(_) => break Err(TransportError::TotalTimeout),
                    };
                    if attempts > overrides.retry_count
                        || !should_retry(&outcome, overrides.retry_policy)
                    {
                        break outcome;
                    }
                    if Instant::now() >= deadline {
                        break Err(TransportError::TotalTimeout);
                    }
                }
            }
        };
        if let Err(error) = &result {
            synthesize_error_headers(&mut response, error, attempts, overrides.present);
        }
        let overrides_present = overrides.present;
        Exchange {
            request: RequestRecord {
                method: first.method,
                headers: first.headers,
                url: target.redacted.clone(),
                params: request.params,
            },
            response,
            result,
            attempts,
            duration: started.elapsed(),
            warnings: target.overrides.warnings.clone(),
            overrides_present,
        }
    }

    /// One attempt: the request, any redirects and the 401 challenge, and the capped body.
    async fn attempt(
        &self,
        hop: Hop<'_>,
        cookies: &mut CookieJar,
        record: &mut ResponseRecord,
    ) -> Result<HttpAnswer, TransportError> {
        let mut url = Cow::Borrowed(&hop.target.url);
        let (mut method, mut params) = (hop.request.method, hop.request.params.as_slice());
        let mut json = hop.request.json_body.as_deref();
        let (mut redirects, mut authorize) = (0, false);
        loop {
            // The first hop was prepared once for all attempts (same token and signature).
            let later_hop;
            let prepared = if redirects == 0 && method == hop.request.method {
                hop.first
            } else {
                later_hop = prepare(
                    &url,
                    method,
                    params,
                    json,
                    hop.auth_token,
                    hop.idempotency_token(),
                );
                &later_hop
            };
            // Credentials go only to the configured origin, never to a redirect target elsewhere.
            let credentials = hop
                .target
                .credentials
                .as_ref()
                .filter(|_| authorize && same_origin(&url, &hop.target.url));
            let request = Self::build_request(prepared, cookies.header_for(&url), credentials);
            let mut response =
                (hop.client.execute(request).await).map_err(|e| classify_send_error(&e))?;
            let status = response.status().as_u16();
            for set_cookie in response.headers().get_all(SET_COOKIE) {
                if let Ok(value) = set_cookie.to_str() {
                    cookies.store(&url, value);
                }
            }
            let challenged = status == 401
                && !authorize
                && hop.target.credentials.is_some()
                && same_origin(&url, &hop.target.url)
                && response.headers().contains_key(WWW_AUTHENTICATE);
            let redirect = (300..400)
                .contains(&status)
                .then(|| redirect_target(status, &url, response.headers()));
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            record.status = Some(status);
            record.headers = std::mem::take(response.headers_mut());
            if challenged {
                authorize = true;
                continue;
            }
            if let Some(next) = redirect {
                url = Cow::Owned(next?);
                redirects += 1;
                if redirects > self.settings.max_redirects {
                    return Err(TransportError::TooManyRedirects);
                }
                if status == 302 || status == 303 {
                    (method, params, json) = (Method::Get, &[], None);
                }
                continue;
            }
            return self
                .read_answer(response, status, content_type, &url, record)
                .await;
        }
    }

    /// The request as reqwest will send it. Built directly rather than through
    /// `RequestBuilder`, so the header map is allocated once at its final size instead of
    /// growing (and being copied) as reqwest adds its default `Accept` entry.
    fn build_request(
        prepared: &PreparedRequest,
        cookie: Option<String>,
        credentials: Option<&crate::request::Credentials>,
    ) -> reqwest::Request {
        let method = match prepared.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut request = reqwest::Request::new(method, prepared.url.clone());
        // `prepare`'s headers, `Cookie`, `Authorization`, and one spare slot so reqwest's
        // default-header lookup does not have to grow the map.
        let mut headers = HeaderMap::with_capacity(prepared.headers.len() + 3);
        for (name, value) in &prepared.headers {
            let value = match value {
                // Borrowed values are `prepare`'s visible-ASCII constants, which `from_static`
                // accepts.
                Cow::Borrowed(constant) => HeaderValue::from_static(constant),
                Cow::Owned(computed) => match HeaderValue::from_str(computed) {
                    Ok(value) => value,
                    Err(_) => continue, // Signature and token are ASCII; never reached.
                },
            };
            headers.append(wire_name(name), value);
        }
        if let Some(cookie) = cookie.and_then(|c| HeaderValue::try_from(c).ok()) {
            headers.append(COOKIE, cookie);
        }
        if let Some(credentials) = credentials {
            headers.append(AUTHORIZATION, basic_auth(credentials));
        }
        *request.headers_mut() = headers;
        *request.body_mut() = prepared.body.clone().map(reqwest::Body::from);
        request
    }

    async fn read_answer(
        &self,
        mut response: reqwest::Response,
        status: u16,
        content_type: Option<String>,
        url: &Url,
        record: &mut ResponseRecord,
    ) -> Result<HttpAnswer, TransportError> {
        let is_audio = content_type
            .as_deref()
            .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("audio/"));
        let limit = if is_audio {
            self.settings.audio_body_limit
        } else {
            self.settings.body_limit
        };
        let mut body = Vec::new();
        let mut result = Ok(());
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            result = Err(TransportError::BodyTooLarge);
        }
        while result.is_ok() {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > limit => {
                    // `body` never exceeds `limit`, and this chunk would: `room < chunk.len()`.
                    let room = limit - body.len();
                    body.extend_from_slice(&chunk[..room]);
                    result = Err(TransportError::BodyTooLarge);
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(error) => result = Err(classify_body_error(&error)),
            }
        }
        if result.is_err() {
            body.truncate(self.settings.body_limit);
            record.partial_body = body;
            return Err(result.err().unwrap_or(TransportError::ConnectionLost));
        }
        Ok(HttpAnswer {
            status,
            content_type,
            body,
            final_url: url.as_str().to_string(),
        })
    }
}

/// `Authorization: Basic base64(username:password)`, marked sensitive (as reqwest's
/// `basic_auth` does) so it is never printed.
fn basic_auth(credentials: &crate::request::Credentials) -> HeaderValue {
    use base64::Engine as _;
    let pair = format!("{}:{}", credentials.username, credentials.password);
    let mut value = String::from("Basic ");
    base64::engine::general_purpose::STANDARD.encode_string(pair, &mut value);
    // Base64 and the `Basic ` prefix are visible ASCII, which every `HeaderValue` accepts.
    let mut header = HeaderValue::try_from(value).unwrap_or(HeaderValue::from_static("Basic"));
    header.set_sensitive(true);
    header
}

// Built at compile time: `HeaderName::from_static` called at run time re-validates the name
// and searches the standard-header table on every request.
const SIGNATURE_NAME: HeaderName = HeaderName::from_static("x-twilio-signature");
const IDEMPOTENCY_NAME: HeaderName = HeaderName::from_static("i-twilio-idempotency-token");
const HOME_REGION_NAME: HeaderName = HeaderName::from_static("x-home-region");

/// The wire name of a header `prepare` emits (static, so no allocation per request).
fn wire_name(name: &'static str) -> HeaderName {
    match name {
        crate::request::USER_AGENT_HEADER => USER_AGENT,
        crate::request::SIGNATURE_HEADER => SIGNATURE_NAME,
        crate::request::IDEMPOTENCY_HEADER => IDEMPOTENCY_NAME,
        crate::request::ACCEPT_HEADER => ACCEPT,
        crate::request::CONTENT_TYPE_HEADER => CONTENT_TYPE,
        crate::request::HOME_REGION_HEADER => HOME_REGION_NAME,
        // Every name `prepare` emits is listed above; an unknown one is parsed normally.
        other => HeaderName::from_bytes(other.as_bytes()).unwrap_or(USER_AGENT),
    }
}

#[derive(Clone, Copy)]
struct Hop<'a> {
    client: &'a reqwest::Client,
    target: &'a Target,
    request: &'a WebhookRequest,
    /// The first hop, prepared once: every attempt resends it unchanged.
    first: &'a PreparedRequest,
    auth_token: &'a str,
}

impl Hop<'_> {
    fn idempotency_token(&self) -> &str {
        self.first
            .headers
            .iter()
            .find(|(name, _)| *name == crate::request::IDEMPOTENCY_HEADER)
            .map_or("", |(_, value)| value.as_ref())
    }
}

fn should_retry(outcome: &Result<HttpAnswer, TransportError>, policy: RetryPolicy) -> bool {
    match outcome {
        Ok(answer) => {
            (policy.client_errors && (400..500).contains(&answer.status))
                || (policy.server_errors && (500..600).contains(&answer.status))
        }
        Err(error) if error.is_connect_failure() => policy.connect_failures,
        Err(TransportError::ReadTimeout {
            response_started: false,
        }) => policy.read_timeouts,
        Err(_) => false,
    }
}

/// 301, 302, 303 and 307 with a usable `Location` are followed; anything else is 11216.
fn redirect_target(status: u16, current: &Url, headers: &HeaderMap) -> Result<Url, TransportError> {
    if !matches!(status, 301 | 302 | 303 | 307) {
        return Err(TransportError::InvalidRedirect);
    }
    let location = headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(TransportError::InvalidRedirect)?;
    let mut next = current
        .join(location.trim())
        .map_err(|_| TransportError::InvalidRedirect)?;
    if !matches!(next.scheme(), "http" | "https") || next.host_str().is_none() {
        return Err(TransportError::InvalidRedirect);
    }
    next.set_fragment(None);
    Ok(next)
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Twilio shows these synthetic headers in the debugger when no HTTP answer was usable.
fn synthesize_error_headers(
    response: &mut ResponseRecord,
    error: &TransportError,
    attempts: u32,
    present: bool,
) {
    let code = error.code(present);
    response
        .synthetic_headers
        .push(("X-Twilio-WebhookAttempt".to_string(), attempts.to_string()));
    response.synthetic_headers.push((
        "X-Twilio-WebhookError".to_string(),
        format!("{} {}", code.code, code.message),
    ));
}

fn failed_before_sending(
    request: RequestRecord,
    error: TransportError,
    started: Instant,
    warnings: Vec<crate::overrides::OverrideFinding>,
    overrides_present: bool,
) -> Exchange {
    let mut response = ResponseRecord::default();
    synthesize_error_headers(&mut response, &error, 0, overrides_present);
    Exchange {
        request,
        response,
        result: Err(error),
        attempts: 0,
        duration: started.elapsed(),
        warnings,
        overrides_present,
    }
}
