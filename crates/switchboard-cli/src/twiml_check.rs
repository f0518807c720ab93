//! `switchboard twiml check FILE… [--messaging]`: validate TwiML files and print findings the
//! way a compiler does (`file:line:col: error 12100: message`), in the order of their line and
//! column. `-` reads the document from standard input (shown as `<stdin>`).
//!
//! Valid TwiML this engine does not run (`switchboard_twiml::support`, the table the engine
//! reads too) is an error here, with the code and message of the alert a call raises when it
//! reaches it. `--supported` prints that table.
//!
//! A body that is not XML at all is what the engine sends as the reply (messaging) or speaks
//! (voice) when it is served as `text/plain`: it is a note here, not an error, and the note
//! says that the same body served as XML is error 12100.
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
        let from_stdin = file.as_os_str() == "-";
        let read = if from_stdin {
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut body).map(|_| body)
        } else {
            std::fs::read(file)
        };
        let shown = if from_stdin {
            Path::new("<stdin>")
        } else {
            file.as_path()
        };
        let body = match read {
            Ok(body) => body,
            Err(error) => {
                writeln!(
                    stdout,
                    "{}: error: cannot read the file: {error}",
                    shown.display()
                )?;
                failed = true;
                continue;
            }
        };
        let mut findings = match switchboard_twiml::parse(&body, context) {
            Ok(parsed) => {
                failed |= !parsed.unsupported.is_empty();
                let mut findings = parsed.warnings;
                findings.extend(parsed.unsupported);
                findings
            }
            Err(_) if is_plain_text(&body) => {
                let what = match context {
                    Context::Messaging => "sends it as the reply",
                    Context::Voice => "speaks it and hangs up",
                };
                writeln!(
                    stdout,
                    "{}: note: not TwiML; served as text/plain, the engine {what} (served as XML it is error 12100)",
                    shown.display()
                )?;
                continue;
            }
            Err(rejected) => {
                failed = true;
                rejected.findings
            }
        };
        // Stable: findings at one place keep the order the parser found them in.
        findings.sort_by_key(|finding| (finding.line, finding.column));
        for finding in &findings {
            writeln!(stdout, "{}", render(shown, finding))?;
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

/// `twiml check --supported`: what this engine runs, by context, one element a line.
pub fn print_supported() -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    for entry in switchboard_twiml::support::TABLE {
        let context = match entry.context {
            Context::Voice => "voice",
            Context::Messaging => "messaging",
        };
        let verdict = if entry.runs {
            "runs"
        } else {
            "not run (an error here; skipped with an ERROR alert on a call)"
        };
        writeln!(
            stdout,
            "{context:<9}  <{}>  {verdict}",
            entry.element.replace('/', "><")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A body the engine's `text/plain` rule takes as text: valid UTF-8 that does not start (after
/// white space) like markup.
fn is_plain_text(body: &[u8]) -> bool {
    std::str::from_utf8(body)
        .map(|text| {
            let text = text.trim_start();
            !text.is_empty() && !text.starts_with('<')
        })
        .unwrap_or(false)
}
