//! `switchboard call`: places a sandbox call on a running engine (being built: issue 5).

use std::process::ExitCode;

use clap::Args;

use crate::remote::Remote;

#[derive(Debug, Args)]
pub struct CallArgs {
    /// A number provisioned on the engine.
    #[arg(long)]
    pub to: String,
    #[arg(long, default_value = "+15005550006")]
    pub from: String,
    /// Keys the caller presses once the call is answered (`0-9*#`, `w` = half a second).
    #[arg(long)]
    pub digits: Option<String>,
    #[command(flatten)]
    pub remote: Remote,
}

pub async fn run(args: CallArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "calls are not part of this build yet (to {} on {})",
        args.to,
        args.remote.server
    )
}
