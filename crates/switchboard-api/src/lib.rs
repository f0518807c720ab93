//! The Twilio 2010-04-01 REST API (and, as they arrive, Monitor v1 and the sandbox) over axum.
//!
//! The HTTP layer only: routes, auth, parameter parsing, paging and rendering. Calls and messages
//! run in `switchboard_engine`, which this crate reaches through `Engine`'s methods.
//!
//! This is the only crate that knows Twilio's REST wire format: paths, PascalCase parameters,
//! snake_case fields, RFC 2822 dates, the paging envelope and the error JSON (`ApiError`).

pub mod auth;
mod console;
pub mod error;
pub mod form;
mod forward;
mod metrics;
pub mod paging;
pub mod resources;
pub mod validate;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use switchboard_engine::Engine;
use switchboard_store::Store;

pub use error::{ApiError, ApiResult};
pub use resources::available::Inventory;

/// What every request handler can reach. Cloned by every extractor of every request, so each
/// field is a reference count.
#[derive(Clone)]
pub struct AppState {
    /// The engine that runs calls and messages; the HTTP layer holds no call or task state.
    pub engine: Engine,
    /// The engine's store (resources the engine does not run: accounts, keys, numbers).
    pub store: Arc<dyn Store>,
    /// Base of the absolute URLs the API hands out (v1 paging, recordings, media).
    pub public_url: Arc<str>,
    /// Recently verified credentials.
    pub auth_cache: Arc<auth::AuthCache>,
    /// The client live-call requests are forwarded to other nodes with (`forward.rs`).
    pub peers: reqwest::Client,
    /// Failed console sign-ins per source address.
    pub(crate) console_limiter: Arc<console::SignInLimiter>,
    /// The numbers `AvailablePhoneNumbers` offers (`--number-inventory`).
    pub(crate) inventory: Arc<Inventory>,
}

impl AppState {
    /// The HTTP layer's state over `engine`.
    pub fn new(engine: Engine) -> AppState {
        AppState {
            store: engine.store().clone(),
            public_url: engine.public_url().into(),
            auth_cache: Arc::default(),
            console_limiter: Arc::default(),
            inventory: Arc::default(),
            peers: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(2))
                .build()
                .unwrap_or_default(),
            engine,
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("engine", &self.engine)
            .finish()
    }
}

pub use switchboard_engine::now_ms;

/// The whole HTTP surface but `/metrics` (which the composition root owns with its recorder).
pub fn router(engine: Engine) -> Router {
    router_with(engine, Inventory::default())
}

/// `router` with the numbers `AvailablePhoneNumbers` offers.
pub fn router_with(engine: Engine, inventory: Inventory) -> Router {
    let mut state = AppState::new(engine);
    state.inventory = Arc::new(inventory);
    let api = resources::routes()
        .merge(console::routes())
        .route("/healthz", get(healthz))
        .fallback(resources::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forward::live_calls,
        ))
        .with_state(state);
    api.layer(axum::middleware::from_fn(metrics::record))
}

/// `GET /healthz` (product.md "Several nodes"): `{"status": "ok"|"draining", "node_id",
/// "active_calls"}`, `503` while draining, so a load balancer stops sending work to a node that
/// is shutting down. Unauthenticated, like any health check.
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let draining = state.engine.is_closing();
    let body = serde_json::json!({
        "status": if draining { "draining" } else { "ok" },
        "node_id": state.engine.node_id(),
        "active_calls": state.engine.live_calls(),
    });
    let status = if draining {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    } else {
        axum::http::StatusCode::OK
    };
    (status, axum::Json(body)).into_response()
}
