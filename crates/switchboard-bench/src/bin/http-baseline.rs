//! The HTTP baseline for REST benchmarks: a trivial axum handler answering a small JSON body,
//! on the same runtime and stack as the engine. Prints `http listening on ADDR` like the engine.

use axum::Router;
use axum::routing::get;

/// The engine binary's allocator (`switchboard-cli`), so whatever is measured here runs on the
/// same one as the engine.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let app = Router::new().fallback(get(|| async {
        axum::Json(serde_json::json!({"sid": "PN0", "ok": true}))
    }));
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("http listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
