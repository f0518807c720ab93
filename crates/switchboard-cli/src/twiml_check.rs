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
//! URLs are checked as a call resolves them when it reaches them (`switchboard_flow::
//! written_urls` lists them, `url_finding` gives the interpreter's own 11100 message): with
//! `--inline` the document has no URL, so a relative URL is the error (or, for a callback, the
//! warning) a call raises; with `--url` relative URLs are resolved against it; by default the
//! document is served somewhere, so only a URL that is wrong wherever it is served (a scheme
//! other than http and https) is reported. A finding is placed where the URL is written first
//! in the body (the document model keeps no positions).
//!
//! Exit status: 1 when any file has an ERROR finding (or cannot be read), 0 otherwise, so
//! warnings alone never fail a build.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use switchboard_twiml::{Context, Finding, Level};

/// Where the checked document is served from, for its relative URLs.
pub enum Base {
    /// Inline TwiML: no URL.
    Inline,
    /// This URL.
    Url(String),
    /// Some URL not given: relative URLs resolve.
    Served,
}

impl Base {
    fn url(&self) -> Option<&str> {
        match self {
            Base::Inline => None,
            Base::Url(url) => Some(url),
            Base::Served => Some("https://served.invalid/twiml.xml"),
        }
    }
}

/// The 11100 findings of the URLs a voice call would resolve in `parsed`.
fn url_findings(body: &[u8], document: &switchboard_twiml::Document, base: &Base) -> Vec<Finding> {
    switchboard_flow::written_urls(document)
        .into_iter()
        .filter_map(|url| {
            let message = switchboard_flow::url_finding(base.url(), &url.written)?;
            let (line, column) = position_of(body, &url.written);
            Some(Finding {
                code: switchboard_core::error_code::INVALID_URL_FORMAT,
                level: url.level,
                message,
                line,
                column,
            })
        })
        .collect()
}

/// Line and column (1-based, in characters) of the first place `text` is written in `body`,
/// or of the start when it is written escaped.
fn position_of(body: &[u8], text: &str) -> (u32, u32) {
    let Some(offset) = find_bytes(body, text.as_bytes()) else {
        return (1, 1);
    };
    let before = String::from_utf8_lossy(&body[..offset]);
    let line = before.matches('\n').count() as u32 + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |tail| tail.chars().count()) as u32
        + 1;
    (line, column)
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

pub fn run(files: &[PathBuf], messaging: bool, base: &Base) -> anyhow::Result<ExitCode> {
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
                let urls = match context {
                    Context::Voice => url_findings(&body, &parsed.document, base),
                    // A message session's documents always come from a URL.
                    Context::Messaging => Vec::new(),
                };
                failed |= parsed
                    .unsupported
                    .iter()
                    .any(|finding| finding.level == Level::Error)
                    || urls.iter().any(|finding| finding.level == Level::Error);
                let mut findings = parsed.warnings;
                findings.extend(parsed.unsupported);
                findings.extend(urls);
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
