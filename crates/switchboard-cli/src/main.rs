//! The `switchboard` binary: `serve`, `account`, `call`, `sms`, `drill`, `alerts`, `twiml check`.

mod alerts;
mod call;
mod drill;
mod remote;
mod settings;
mod sms;
mod twiml_check;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc instead of glibc's malloc. The engine allocates and frees many small, short-lived
/// objects (requests, TwiML documents, call state) across worker threads; with glibc, profiles
/// showed arena-lock waits, `malloc_consolidate` and heap trimming that faulted pages back in on
/// the next request. Measured on the sandbox voice cycle: 1,392-1,665 calls/s against 1,025-1,065
/// with glibc, for 3% more memory per parked call (BENCHMARKS.md, "Allocator").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "A self-hostable, Twilio-compatible voice and messaging engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine.
    Serve(Box<settings::ServeArgs>),
    /// List the nodes of the database's cluster: id, status (live, draining, dead), calls they
    /// run, last heartbeat (by the database's clock), address, and who took over a dead one.
    Nodes {
        /// Seconds without a heartbeat after which a node counts as dead.
        #[arg(long, env = "SWITCHBOARD_NODE_LEASE", default_value_t = 10)]
        node_lease: u64,
        #[command(flatten)]
        settings: settings::StoreArgs,
    },
    /// Print the main account's SID (and, with --show-token, its auth token).
    Account {
        #[arg(long)]
        show_token: bool,
        #[command(flatten)]
        settings: settings::StoreArgs,
    },
    /// Place a sandbox call on a running engine and print its transcript as it happens.
    Call(call::CallArgs),
    /// Send a sandbox message to a running engine and print the replies.
    Sms(sms::SmsArgs),
    /// Test a number's fallback URL: a sandbox call (or message) in which the primary is treated
    /// as failed; exits 0 only if the fallback answered and no platform prompt was heard.
    Drill(drill::DrillArgs),
    /// Print a running engine's recent alerts, or with --follow each new one as it is recorded.
    Alerts(alerts::AlertsArgs),
    /// Work with TwiML documents.
    Twiml {
        #[command(subcommand)]
        command: TwimlCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TwimlCommand {
    /// Parse and validate TwiML files (`-` for standard input), printing findings with line and
    /// column, in that order.
    Check {
        #[arg(required_unless_present = "supported")]
        files: Vec<PathBuf>,
        /// Validate as a messaging (SMS) response instead of voice.
        #[arg(long)]
        messaging: bool,
        /// Print which verbs and `<Dial>` nouns this engine runs, and exit.
        #[arg(long)]
        supported: bool,
        /// Check as inline TwiML (a `Twiml` parameter), which has no URL: a relative URL in it
        /// is the error a call raises when it reaches it.
        #[arg(long, conflicts_with = "url")]
        inline: bool,
        /// Check as served at this URL: relative URLs are resolved against it as a call would.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Twiml {
            command:
                TwimlCommand::Check {
                    files,
                    messaging,
                    supported,
                    inline,
                    url,
                },
        } => {
            if supported {
                twiml_check::print_supported()
            } else {
                let base = match (inline, url) {
                    (true, _) => twiml_check::Base::Inline,
                    (false, Some(url)) => twiml_check::Base::Url(url),
                    (false, None) => twiml_check::Base::Served,
                };
                twiml_check::run(&files, messaging, &base)
            }
        }
        Command::Serve(args) => runtime().and_then(|runtime| runtime.block_on(serve(*args))),
        Command::Call(args) => runtime().and_then(|runtime| runtime.block_on(call::run(args))),
        Command::Sms(args) => runtime().and_then(|runtime| runtime.block_on(sms::run(args))),
        Command::Drill(args) => runtime().and_then(|runtime| runtime.block_on(drill::run(args))),
        Command::Alerts(args) => runtime().and_then(|runtime| runtime.block_on(alerts::run(args))),
        Command::Account {
            show_token,
            settings,
        } => runtime().and_then(|runtime| runtime.block_on(account(show_token, settings))),
        Command::Nodes {
            node_lease,
            settings,
        } => runtime().and_then(|runtime| runtime.block_on(nodes(node_lease, settings))),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn serve(args: settings::ServeArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = args.resolve()?;
    switchboard_server::run(config, switchboard_server::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn account(show_token: bool, args: settings::StoreArgs) -> anyhow::Result<ExitCode> {
    let database = args.resolve_database()?;
    let store = switchboard_store::open(&database).await?;
    let main = switchboard_api::resources::account::main_account(store.as_ref()).await?;
    store.close().await;
    let Some(account) = main else {
        anyhow::bail!("no account in {database} yet: run `switchboard serve` once first");
    };
    println!("{}", account.sid);
    if show_token {
        println!("{}", account.auth_token);
    }
    Ok(ExitCode::SUCCESS)
}

async fn nodes(lease_s: u64, args: settings::StoreArgs) -> anyhow::Result<ExitCode> {
    let database = args.resolve_database()?;
    let store = switchboard_store::open(&database).await?;
    let lease_ms = i64::try_from(lease_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let nodes = store.nodes(lease_ms).await;
    store.close().await;
    let nodes = nodes?;
    println!("ID\tSTATUS\tCALLS\tLAST HEARTBEAT\tADDRESS\tTAKEN OVER BY");
    for node in nodes {
        println!(
            "{}\t{}\t{}\t{} ({:.1} s ago)\t{}\t{}",
            node.id,
            node.status,
            node.active_calls,
            switchboard_core::date::iso8601(node.heartbeat_ms),
            node.heartbeat_age_ms as f64 / 1000.0,
            node.address,
            node.taken_over_by.as_deref().unwrap_or("-"),
        );
    }
    Ok(ExitCode::SUCCESS)
}
