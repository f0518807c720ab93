//! `switchboard twiml check`: placeholder until the TwiML crate lands (issue 3).

use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(files: &[PathBuf], messaging: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("twiml check is not built yet ({} files, messaging={messaging})", files.len())
}
