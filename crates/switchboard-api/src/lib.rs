//! The Twilio 2010-04-01 REST API (and, as they arrive, Monitor v1 and the sandbox) over axum.
//!
//! This is the only crate that knows Twilio's REST wire format: paths, PascalCase parameters,
//! snake_case fields, RFC 2822 dates, the paging envelope and the error JSON (`ApiError`).

pub mod alerts;
pub mod auth;
pub mod error;
pub mod form;
pub mod messaging;
mod metrics;
pub mod paging;
pub mod resources;
pub mod sandbox;
pub mod validate;
pub mod voice;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use switchboard_store::Store;
use switchboard_webhook::{FallbackScope, WebhookClient};

pub use error::{ApiError, ApiResult};

/// What every request handler can reach. Cloned by every extractor of every request, so each
/// field is a reference count or a small copy.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Base of the absolute URLs the engine hands out (v1 paging, recordings, media).
    pub public_url: Arc<str>,
    /// The virtual phone network (handsets, transcripts).
    pub sandbox: Arc<sandbox::Sandbox>,
    /// What callers hear when neither the URL nor its fallback gave usable TwiML.
    pub error_prompt: Arc<str>,
    /// Whether fallback URLs apply to every TwiML fetch or only the first.
    pub fallback_scope: FallbackScope,
    /// Recently verified credentials.
    pub auth_cache: Arc<auth::AuthCache>,
    /// Phone number to number SID, for the lookup every inbound call and message makes.
    pub numbers: Arc<messaging::NumberIndex>,
    /// Sends every outbound webhook (TwiML fetches, callbacks, debugger events).
    pub webhooks: Arc<WebhookClient>,
    /// Real calls (SIP, RTP, speech); `None` with `--sip off`.
    pub telephony: Option<Arc<voice::sip::Telephony>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .field("public_url", &self.public_url)
            .finish()
    }
}

/// Milliseconds since the Unix epoch, the engine's timestamp unit.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// The whole HTTP surface but `/metrics` (which the composition root owns with its recorder).
pub fn router(state: AppState) -> Router {
    let api = resources::routes()
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(resources::not_found)
        .with_state(state);
    api.layer(axum::middleware::from_fn(metrics::record))
}
