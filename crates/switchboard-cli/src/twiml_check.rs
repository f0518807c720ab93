//! `switchboard twiml check FILE… [--messaging]`: validate TwiML files and print findings the
//! way a compiler does (`file:line:col: error 12100: message`).
//!
//! Exit status: 1 when any file has an ERROR finding (or cannot be read), 0 otherwise, so
//! warnings alone never fail a build.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use switchboard_twiml::{Context, Finding, Level};

pub fn run(files: &[PathBuf], messaging: bool) -> anyhow::Result<ExitCode> {
    let context = if messaging {
        Context::Messaging
    } else {
        Context::Voice
    };
    let mut stdout = std::io::stdout().lock();
    let mut failed = false;
    for file in files {
        let body = match std::fs::read(file) {
            Ok(body) => body,
            Err(error) => {
                writeln!(
                    stdout,
                    "{}: error: cannot read the file: {error}",
                    file.display()
                )?;
                failed = true;
                continue;
            }
        };
        let findings = match switchboard_twiml::parse(&body, context) {
            Ok(parsed) => parsed.warnings,
            Err(rejected) => {
                failed = true;
                rejected.findings
            }
        };
        for finding in &findings {
            writeln!(stdout, "{}", render(file, finding))?;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One finding as `file:line:col: level code: message`.
fn render(file: &Path, finding: &Finding) -> String {
    let level = match finding.level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    format!(
        "{}:{}:{}: {level} {}: {}",
        file.display(),
        finding.line,
        finding.column,
        finding.code.code,
        finding.message
    )
}
