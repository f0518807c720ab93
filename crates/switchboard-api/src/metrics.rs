//! Request counts and latencies per route, for `/metrics`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{LazyLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram};

/// The counter and histogram of each (route, method, status) seen so far, keyed by the three
/// joined with NUL. Registering a handle costs three label `String`s and two registry lookups,
/// which was 5% of a REST fetch; a request that finds its handles here allocates nothing.
static HANDLES: LazyLock<RwLock<Handles>> = LazyLock::new(Default::default);

type Handles = HashMap<Box<str>, (Counter, Histogram)>;

/// Far more than the routes times the methods and statuses they answer with.
const MAX_KEYS: usize = 4096;

thread_local! {
    /// The key of the request being recorded, built in place.
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Counts the request and records its latency, labelled by route template, method and status.
pub(crate) async fn record(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let status = response.status().as_u16();
    let (counter, histogram) = KEY.with_borrow_mut(|key| {
        key.clear();
        // Writing to a String cannot fail.
        let _ = write!(key, "{route}\0{}\0{status}", method.as_str());
        let found = HANDLES
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(key.as_str())
            .cloned();
        found.unwrap_or_else(|| {
            let labels = [
                ("route", route.to_owned()),
                ("method", method.as_str().to_owned()),
                ("status", status.to_string()),
            ];
            let handles = (
                metrics::counter!("switchboard_http_requests_total", &labels),
                metrics::histogram!("switchboard_http_request_duration_seconds", &labels),
            );
            let mut known = HANDLES
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // Methods are the client's to choose, so the set is bounded here; past the bound a
            // request registers its handles as before, only slower.
            if known.len() < MAX_KEYS {
                known.insert(key.as_str().into(), handles.clone());
            }
            handles
        })
    });
    counter.increment(1);
    histogram.record(elapsed);
    response
}
