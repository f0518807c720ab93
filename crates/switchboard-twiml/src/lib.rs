//! TwiML parsing and validation: a response body in, a typed [`Document`] or a precise refusal out.
//!
//! This crate is pure (no IO, no clock) and total: every byte sequence yields `Ok` or `Err`, never
//! a panic, in time linear in the input. The pipeline is
//! 1. the size cap (11750) and UTF-8 check, before any parsing;
//! 2. `tree`: a hardened quick-xml reader builds a borrowed element tree (12100 on anything
//!    that is not plain, entity-free, bounded XML);
//! 3. `validate`: document rules (12102, 12101, 12200) and one module per verb under
//!    [`verb`] (and per `<Dial>` noun under [`noun`]) turn elements into typed values with
//!    defaults applied, recording 13xxx/14xxx findings.
//!
//! Any ERROR finding makes the document [`Rejected`] ("cannot execute", Decision 3); WARNING
//! findings (12200, 13223) travel with the [`Parsed`] document, which still runs. `Display` on
//! [`Document`] prints canonical TwiML that parses back to the same document.

mod attributes;
mod findings;
pub mod keyword;
pub mod limits;
pub mod noun;
pub mod raw;
mod stop_bytes;
pub mod support;
mod tree;
mod validate;
pub mod verb;
pub mod writer;

use std::fmt;

use switchboard_core::ErrorCode;
use switchboard_core::error_code::{DOCUMENT_PARSE_FAILURE, RESPONSE_BODY_TOO_LARGE};

use crate::findings::Findings;
use crate::limits::MAX_BODY_BYTES;
use crate::writer::{WriteXml, XmlWriter};

pub use crate::keyword::Method;
pub use crate::noun::Noun;
pub use crate::raw::{Content, RawElement};
pub use crate::verb::Verb;

/// Which engine will run the document: the set of allowed verbs differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    Voice,
    Messaging,
}

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// The document cannot be executed (fallback).
    Error,
    /// Recorded as a warning alert; the document still runs.
    Warning,
}

/// One problem found in a document, with its Twilio code and 1-based position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub code: ErrorCode,
    pub level: Level,
    pub message: String,
    pub line: u32,
    /// Column in characters, 1-based.
    pub column: u32,
}

/// A runnable document and the warnings it raised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub document: Document,
    pub warnings: Vec<Finding>,
    /// Valid TwiML this engine does not run (`support`): errors for `twiml check`, each with the
    /// code and message of the alert a call raises when it reaches the element and skips it.
    pub unsupported: Vec<Finding>,
}

/// A document that cannot be executed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The first ERROR finding; its code becomes the fallback request's `ErrorCode`.
    pub error: Finding,
    /// Every finding, errors and warnings, in the order found.
    pub findings: Vec<Finding>,
}

/// The verbs of a `<Response>`, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Document {
    pub verbs: Vec<Verb>,
}

/// Parses and validates a TwiML response body.
pub fn parse(input: &[u8], context: Context) -> Result<Parsed, Rejected> {
    let mut findings = Findings::default();
    if input.len() > MAX_BODY_BYTES {
        let message = format!(
            "the body is {} bytes; TwiML responses are limited to {MAX_BODY_BYTES}",
            input.len()
        );
        findings.error(RESPONSE_BODY_TOO_LARGE, 0, message);
        return Err(reject(findings, &[]));
    }
    let text = match std::str::from_utf8(input) {
        Ok(text) => text,
        Err(error) => {
            findings.error(
                DOCUMENT_PARSE_FAILURE,
                error.valid_up_to(),
                "TwiML must be UTF-8; this byte is not",
            );
            return Err(reject(findings, input));
        }
    };
    let tree = match tree::parse(text) {
        Ok(tree) => tree,
        Err(error) => {
            findings.error(DOCUMENT_PARSE_FAILURE, error.offset, error.message);
            return Err(reject(findings, input));
        }
    };
    let mut validator = validate::Validator::new(&tree, context);
    let document = validate::document(&mut validator);
    let findings = validator.findings;
    if findings.has_error() {
        return Err(reject(findings, input));
    }
    Ok(Parsed {
        document,
        warnings: findings.resolve(input),
        unsupported: validator.unsupported.resolve(input),
    })
}

fn reject(findings: Findings, input: &[u8]) -> Rejected {
    let findings = findings.resolve(input);
    let error = findings
        .iter()
        .find(|finding| finding.level == Level::Error)
        .cloned()
        // `reject` is only called after an error was recorded, and the first error is always kept.
        .unwrap_or_else(internal_error);
    Rejected { error, findings }
}

fn internal_error() -> Finding {
    let code = switchboard_core::error_code::INTERNAL_FAILURE;
    Finding {
        code,
        level: Level::Error,
        message: code.message.to_owned(),
        line: 1,
        column: 1,
    }
}

impl WriteXml for Document {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut element = writer.element("Response");
        if self.verbs.is_empty() {
            return element.empty();
        }
        element.children(|writer| {
            for verb in &self.verbs {
                verb.write_xml(writer);
            }
        });
    }
}

/// Prints canonical TwiML, XML declaration included.
impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
        writer::display(self, f)
    }
}

/// The document as TwiML text (same as `to_string`).
pub fn print(document: &Document) -> String {
    document.to_string()
}
