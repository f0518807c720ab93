//! The composition root: opens the store, makes sure the bootstrap account exists, binds the
//! listeners, serves until told to stop, then drains within `--drain-timeout`.
//!
//! Everything here is wiring, and behaviour lives in the crates it composes, with one exception:
//! the HTTP listener (`http`), whose connection limits and bounded drain axum's own `serve`
//! does not offer.

mod config;
mod http;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use switchboard_api::resources::account::{self, Bootstrap};
use switchboard_engine::{Engine, Parts, Settings};
use switchboard_webhook::{ClientSettings, WebhookClient};

pub use config::{Config, FallbackScope};

/// What the engine gets beyond the drain timeout to close SIP once its tasks are done (or
/// abandoned).
const ENGINE_STOP_GRACE: Duration = Duration::from_secs(2);

/// How long closing the store may take at the end of a shutdown.
const STORE_CLOSE_LIMIT: Duration = Duration::from_secs(2);

/// The process-wide Prometheus recorder (a `metrics` recorder can be installed once).
fn prometheus() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Runs the engine until `shutdown` resolves, then drains: see `drain`.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    let limits = config.http_limits()?;
    let drain_timeout = config.drain_timeout()?;
    let access = if config.single_node {
        switchboard_store::Access::Exclusive
    } else {
        switchboard_store::Access::Shared
    };
    let store = switchboard_store::open_node(&config.database, access)
        .await
        .with_context(|| format!("opening the database {}", config.database))?;
    let configured = match (&config.account_sid, &config.auth_token) {
        (Some(sid), Some(token)) => Some((sid.as_str(), token.as_str())),
        (None, None) => None,
        _ => {
            anyhow::bail!("SWITCHBOARD_ACCOUNT_SID and SWITCHBOARD_AUTH_TOKEN must be set together")
        }
    };
    match account::bootstrap(store.as_ref(), configured).await? {
        Bootstrap::Created(account) => {
            eprintln!(
                "created account {} with auth token {}",
                account.sid, account.auth_token
            );
            eprintln!("(shown once; `switchboard account --show-token` prints it again)");
        }
        Bootstrap::Existing(account) => {
            tracing::info!(account = %account.sid, "main account ready")
        }
    }
    if let Some(missing) = missing_program(switchboard_media::mp3::PROGRAM) {
        eprintln!(
            "warning: the MP3 encoder {missing:?} is not installed: Recordings/{{Sid}}.mp3 answers \
             503 until it is (the .wav is served either way; Debian: apt install lame)"
        );
    }
    let listener = http::bind(&config.http)
        .await
        .with_context(|| format!("binding the HTTP listener on {}", config.http))?;
    let address: SocketAddr = listener.local_addr()?;
    let handle = prometheus()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{address}"));
    let webhooks = WebhookClient::new(ClientSettings {
        breaker: config.breaker()?,
        ..ClientSettings::default()
    })
    .context("building the webhook client")?;
    let (telephony, incoming) = match start_sip(&config).await? {
        Some((telephony, incoming)) => (Some(telephony), Some(incoming)),
        None => (None, None),
    };
    let engine = Engine::new(Parts {
        store: store.clone(),
        webhooks: Arc::new(webhooks),
        telephony,
        settings: Settings {
            public_url,
            error_prompt: config.error_prompt.clone(),
            fallback_scope: config.fallback_scope,
            node_id: config.node_id(address)?,
            sole_node: store.is_single_node(),
            lkg_max_age: config.lkg_max_age()?,
            stream_retry_for: config.stream_retry_for()?,
            node_lease: config.node_lease()?,
            callback_retry_for: config.callback_retry_for()?,
            schedule_min_ahead: config.schedule_min_ahead()?,
        },
    });
    // Registered first, so that no survivor claims this node while it finishes its own work.
    engine
        .join_cluster(switchboard_engine::Membership {
            // Where the other nodes forward requests about this node's live calls.
            address: engine.public_url().to_owned(),
            lease: config.node_lease()?,
        })
        .await
        .context("registering this node")?;
    // What an unclean stop left running is finished before any new work is taken.
    let recovered = engine
        .recover()
        .await
        .context("finishing the work left by the last stop")?;
    if recovered.calls + recovered.messages + recovered.deliveries > 0 {
        eprintln!(
            "finished what the last stop left: {} calls ended, {} message deliveries resumed, {} callbacks queued again",
            recovered.calls, recovered.messages, recovered.deliveries
        );
    }
    // Retries, and what the last stop (or a dead node) left unsent, go out from here on.
    engine.start_outbox();
    // Scheduled messages are sent when due, by whichever node claims each one.
    engine.start_scheduler();
    // Breakers opened or closed on any node hold on every node.
    engine.share_breakers();
    if let Some(incoming) = incoming {
        engine.serve_sip(incoming);
    }
    if let Some(interval) = config.probe_interval()? {
        engine.start_probes(interval);
    }
    let inventory = config.inventory()?;
    let (app, metrics) = match &config.metrics {
        None => (
            switchboard_api::router_with(engine.clone(), inventory)
                .route("/metrics", get(move || async move { handle.render() })),
            None,
        ),
        Some(metrics_addr) => (
            switchboard_api::router_with(engine.clone(), inventory),
            Some(serve_metrics(metrics_addr, handle).await?),
        ),
    };
    println!("http listening on {address}");
    if let Some(sip) = engine.sip_addr() {
        println!("sip listening on udp {sip}");
        println!("sip listening on tcp {sip}");
    }
    let draining = http::serve(listener, app, limits, shutdown).await;
    drain(draining, &engine, drain_timeout).await;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    if tokio::time::timeout(STORE_CLOSE_LIMIT, store.close())
        .await
        .is_err()
    {
        eprintln!("the database did not close within {STORE_CLOSE_LIMIT:?}");
    }
    eprintln!("stopped");
    Ok(())
}

/// Serves `/metrics` alone on a plain listener at `address` (`--metrics`), as Prometheus
/// exporters usually do, and prints `metrics listening on …`. No request here is anything the
/// drain waits for: `run` aborts the task once the drain is over, which ends its connections
/// too (they live in the task's `JoinSet`), so scrapes keep working while the engine drains
/// and a scraper never holds the process. A plain loop rather than `axum::serve`, whose
/// connection tasks would outlive an aborted server.
async fn serve_metrics(
    address: &str,
    handle: PrometheusHandle,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the metrics listener on {address}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route("/metrics", get(move || async move { handle.render() }));
    println!("metrics listening on {bound}");
    Ok(tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve_metrics_connection(stream, app.clone()));
                    }
                    Err(error) => {
                        // Out of descriptors, say: wait rather than spin.
                        tracing::warn!(%error, "the metrics listener could not accept");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next() => {}
            }
        }
    }))
}

/// One scraper's HTTP/1 connection, until it closes or the metrics task is aborted.
async fn serve_metrics_connection(stream: tokio::net::TcpStream, app: axum::Router) {
    use tower::ServiceExt;
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            app.clone().oneshot(request)
        });
    let io = hyper_util::rt::TokioIo::new(stream);
    if let Err(error) = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await
    {
        tracing::debug!(%error, "a metrics connection ended with an error");
    }
}

/// The bounded drain, once the listener is closed. HTTP requests in flight and the engine's
/// work (calls, message sessions and deliveries, callbacks) get the same `limit`, side by side
/// rather than one after the other: the engine refuses new work from the start and ends calls
/// in flight, which is also what a sandbox long-poll on a call waits for, and the exit stays
/// within `limit` plus the engine's and the store's few seconds, whatever clients hold open.
async fn drain(draining: http::Draining, engine: &Engine, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    let engine_stopped = tokio::time::timeout(limit + ENGINE_STOP_GRACE, engine.shutdown(limit));
    let (dropped, drained) = tokio::join!(draining.finish(deadline), engine_stopped);
    if dropped > 0 {
        eprintln!("{dropped} HTTP connections still busy after {limit:?} were dropped");
    }
    match drained {
        Ok(drained) if !drained.complete => eprintln!(
            "the engine's work ({} calls) did not finish within {limit:?}",
            drained.calls
        ),
        Ok(_) => {}
        Err(_) => eprintln!("the engine did not stop within {limit:?}"),
    }
}

/// Binds SIP (UDP and TCP) and prepares RTP ports and speech, unless `--sip off`.
async fn start_sip(
    config: &Config,
) -> anyhow::Result<
    Option<(
        switchboard_engine::voice::sip::Telephony,
        tokio::sync::mpsc::Receiver<switchboard_sip_ua::IncomingCall>,
    )>,
> {
    let Some(bind) = config.sip_addr()? else {
        return Ok(None);
    };
    let trust = config.sip_trust()?;
    let sip_config = switchboard_sip_ua::SipConfig {
        bind,
        trust: trust.clone(),
        max_calls: config.max_calls,
        public_host: None,
        min_se_s: config.sip_min_se,
    };
    let (endpoint, incoming) = switchboard_sip_ua::SipEndpoint::bind(sip_config)
        .await
        .with_context(|| format!("binding SIP on {bind}"))?;
    // RTP leaves from the SIP address; a wildcard bind announces loopback until a public
    // host setting exists.
    let media_ip = if bind.ip().is_unspecified() {
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
    } else {
        bind.ip()
    };
    let (low, high) = config.rtp_range()?;
    if let Some(missing) = missing_program(&config.tts_command) {
        eprintln!(
            "warning: the text-to-speech program {missing:?} (--tts-command) is not installed: \
             <Say> on SIP calls will fail, each with an alert, until it is (Debian: apt install espeak-ng)"
        );
    }
    let telephony = switchboard_engine::voice::sip::Telephony {
        endpoint,
        ports: switchboard_media::session::PortPool::new(media_ip, low, high),
        tts: switchboard_media::tts::Tts::new(switchboard_media::tts::TtsConfig {
            command: config.tts_command.clone(),
            timeout: Duration::from_secs(20),
            cache_entries: 2048,
        }),
        audio: switchboard_media::fetch::AudioFetcher::new(),
        media_ip,
        gateway: config.sip_gateway.clone(),
        media_trust: trust,
        asr: recogniser(config),
    };
    Ok(Some((telephony, incoming)))
}

/// The speech recogniser of real calls (`None` with `--asr off`). Its first worker starts now,
/// in the background: loading the model takes about a second, and a missing interpreter,
/// package or model is a warning on stderr (speech gathers then hear nothing and
/// transcriptions of real audio fail, each with an alert), not a refusal to start.
fn recogniser(config: &Config) -> Option<Arc<switchboard_media::asr::Recogniser>> {
    if config.asr == "off" {
        eprintln!(
            "warning: speech recognition is off (--asr off): speech <Gather> on SIP calls hears \
             nothing and transcriptions of their recordings fail"
        );
        return None;
    }
    let recogniser = Arc::new(switchboard_media::asr::Recogniser::new(
        switchboard_media::asr::AsrConfig {
            python: config.asr_python.clone(),
            workers: config.asr_workers,
        },
    ));
    let checked = recogniser.clone();
    let python = config.asr_python.clone();
    tokio::spawn(async move {
        match checked.check().await {
            Ok(model) => tracing::info!(model, "speech recogniser ready"),
            Err(error) => eprintln!(
                "warning: the speech recogniser cannot run ({error}); --asr-python {python:?} \
                 needs the PyPI package pocketsphinx with its model (pip install \
                 pocketsphinx==5.1.1): speech <Gather> on SIP calls hears nothing and \
                 transcriptions fail until it can"
            ),
        }
    });
    Some(recogniser)
}

/// The program a command line starts (its first word), when it cannot be found: a path that is
/// not an executable file, or a name on no directory of `PATH`.
fn missing_program(command: &str) -> Option<String> {
    let program = command.split_whitespace().next()?;
    let runnable = |path: &std::path::Path| {
        std::fs::metadata(path).is_ok_and(|meta| {
            #[cfg(unix)]
            let executable = {
                use std::os::unix::fs::PermissionsExt;
                meta.permissions().mode() & 0o111 != 0
            };
            #[cfg(not(unix))]
            let executable = true;
            meta.is_file() && executable
        })
    };
    let found = if program.contains('/') {
        runnable(std::path::Path::new(program))
    } else {
        std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| runnable(&dir.join(program)))
        })
    };
    (!found).then(|| program.to_owned())
}

/// Resolves when SIGTERM or SIGINT arrives. The handlers are installed when this is called, not
/// when the future is first polled, so a signal sent right after the `listening` line is never
/// lost to the default action (which would kill the process without draining).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |stream: Option<tokio::signal::unix::Signal>| async move {
                match stream {
                    Some(mut stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(terminate) => {},
                () = wait(interrupt) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        tokio::signal::ctrl_c().await.ok();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_text_to_speech_program_is_named() {
        assert_eq!(super::missing_program("sh -c 'cat'"), None, "on PATH");
        assert_eq!(super::missing_program("/bin/sh -c x"), None, "a path");
        assert_eq!(
            super::missing_program("no-such-tts-program --stdin"),
            Some("no-such-tts-program".to_owned())
        );
        assert_eq!(
            super::missing_program("/nonexistent/espeak-ng --stdin"),
            Some("/nonexistent/espeak-ng".to_owned())
        );
        let plain = std::env::temp_dir().join(format!("not-a-program-{}", std::process::id()));
        std::fs::write(&plain, "text").expect("a plain file");
        let line = format!("{} --stdin", plain.display());
        assert_eq!(
            super::missing_program(&line),
            Some(plain.display().to_string()),
            "not executable"
        );
        std::fs::remove_file(plain).ok();
    }
}
