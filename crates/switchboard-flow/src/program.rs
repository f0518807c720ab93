//! Documents: the rest of the running document and its URL, control transfer (every fetch
//! abandons what is left, §7.1), relative URL resolution (RFC 3986 via the `url` crate), the
//! answers to fetches (§3.10, Decision 2) and the document limit (Decision 11).

use switchboard_core::ErrorCode;
use switchboard_core::error_code::{DOCUMENT_RETRIEVAL_LIMIT, INVALID_URL_FORMAT};
use switchboard_twiml::{Document, Finding, Level, Method, Verb};
use url::Url;

use crate::action::{
    Action, Alert, ExecutionFailure, FetchPurpose, FetchRequest, HangupBy, Source,
};
use crate::call::{Call, Step};
use crate::params::Params;
use crate::setup::{CallStatus, Initial};
use crate::verb::hold::HoldAnswer;

/// The verbs of the current document not run yet, and where the document came from.
#[derive(Debug, Default)]
pub(crate) struct Program {
    verbs: std::vec::IntoIter<Verb>,
    /// The document URL as received (`ErrorUrl`, default `action`); `None` for inline TwiML.
    url: Option<String>,
    /// The same, parsed: the base of relative URLs.
    base: Option<Url>,
    /// Who the document's says speak for: `Twiml`, or `LastResort` for a number's last-resort
    /// document.
    source: Source,
}

impl Program {
    fn new(document: Document, url: Option<String>, source: Source) -> Self {
        let base = url.as_deref().and_then(|url| Url::parse(url).ok());
        Program {
            verbs: document.verbs.into_iter(),
            url,
            base,
            source,
        }
    }

    pub(crate) fn source(&self) -> Source {
        self.source
    }

    pub(crate) fn next_verb(&mut self) -> Option<Verb> {
        self.verbs.next()
    }

    pub(crate) fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Resolves a URL written in the document against the document URL; only `http`/`https`
    /// results are usable.
    pub(crate) fn resolve(&self, written: &str) -> Result<String, UrlError> {
        resolve_against(self.base.as_ref(), written)
    }

    /// The `action` of a verb: the written URL resolved, or the document URL by default.
    pub(crate) fn action_url(
        &self,
        written: Option<&str>,
        verb: &'static str,
    ) -> Result<String, UrlError> {
        match written {
            Some(written) => self.resolve(written),
            None => self.url.clone().ok_or(UrlError::NoDefaultAction { verb }),
        }
    }
}

/// Resolves `written` against `base` (none: inline TwiML); only `http`/`https` results are
/// usable.
fn resolve_against(base: Option<&Url>, written: &str) -> Result<String, UrlError> {
    let parsed = match base {
        Some(base) => base.join(written),
        None => Url::parse(written),
    };
    let written = written.to_owned();
    match parsed {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url.into()),
        Ok(url) => Err(UrlError::UnsupportedScheme {
            written,
            scheme: url.scheme().to_owned(),
        }),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            Err(UrlError::RelativeWithoutBase { written })
        }
        Err(source) => Err(UrlError::Invalid { written, source }),
    }
}

/// A URL a document wrote that the interpreter resolves when it reaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenUrl {
    /// `Redirect`, `Dial/Number`, …
    pub element: &'static str,
    /// The attribute, or `text` for an element's body.
    pub attribute: &'static str,
    pub written: String,
    /// What a URL that cannot be resolved is: an ERROR for what the call fetches or plays (it
    /// cannot go on), a WARNING for a callback (it is dropped and the call goes on).
    pub level: Level,
}

/// Every URL of `document` the interpreter resolves, in document order: the table
/// `twiml check` reads to report, without running a call, what resolving them would raise.
pub fn written_urls(document: &Document) -> Vec<WrittenUrl> {
    let mut urls = Vec::new();
    let mut add = |element, attribute, written: Option<&String>, level| {
        if let Some(written) = written {
            urls.push(WrittenUrl {
                element,
                attribute,
                written: written.clone(),
                level,
            });
        }
    };
    for verb in &document.verbs {
        match verb {
            Verb::Redirect(redirect) => add("Redirect", "text", Some(&redirect.url), Level::Error),
            Verb::Play(play) if play.digits.is_none() => {
                add("Play", "text", play.url.as_ref(), Level::Error);
            }
            Verb::Gather(gather) => add("Gather", "action", gather.action.as_ref(), Level::Error),
            Verb::Record(record) => {
                add("Record", "action", record.action.as_ref(), Level::Error);
                let callback = record.recording_status_callback.as_ref();
                add(
                    "Record",
                    "recordingStatusCallback",
                    callback,
                    Level::Warning,
                );
                let transcribe = record.transcribe_callback.as_ref();
                add("Record", "transcribeCallback", transcribe, Level::Warning);
            }
            Verb::Dial(dial) => {
                add("Dial", "action", dial.action.as_ref(), Level::Error);
                let callback = dial.recording_status_callback.as_ref();
                add("Dial", "recordingStatusCallback", callback, Level::Warning);
                for noun in &dial.nouns {
                    let (element, callbacks) = match noun {
                        switchboard_twiml::noun::Noun::Number(number) => {
                            ("Dial/Number", &number.callbacks)
                        }
                        switchboard_twiml::noun::Noun::Sip(sip) => ("Dial/Sip", &sip.callbacks),
                        _ => continue,
                    };
                    add(element, "url", callbacks.url.as_ref(), Level::Error);
                    let status = callbacks.status_callback.as_ref();
                    add(element, "statusCallback", status, Level::Warning);
                }
            }
            Verb::StartStream(stream) => {
                let callback = stream.status_callback.as_ref();
                add("Start/Stream", "statusCallback", callback, Level::Warning);
            }
            Verb::ConnectStream(connect) => {
                add("Connect", "action", connect.action.as_ref(), Level::Error);
                let callback = connect.stream.status_callback.as_ref();
                add("Connect/Stream", "statusCallback", callback, Level::Warning);
            }
            Verb::Sms(sms) => {
                add("Sms", "action", sms.action.as_ref(), Level::Error);
                add(
                    "Sms",
                    "statusCallback",
                    sms.status_callback.as_ref(),
                    Level::Warning,
                );
            }
            _ => {}
        }
    }
    urls
}

/// What the interpreter would raise resolving `written` in a document served at `base`
/// (`None`: inline TwiML, which has no URL): `None` when it resolves, else the message of its
/// 11100 alert, word for word.
pub fn url_finding(base: Option<&str>, written: &str) -> Option<String> {
    let base = base.and_then(|base| Url::parse(base).ok());
    resolve_against(base.as_ref(), written)
        .err()
        .map(|error| error.to_string())
}

/// Why a URL in a document cannot be used: all of these are 11100 (Invalid URL format).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UrlError {
    #[error(
        "\"{written}\" is relative but the document has no URL to resolve it against \
         (inline TwiML needs absolute URLs)"
    )]
    RelativeWithoutBase { written: String },
    #[error("\"{written}\" is a {scheme} URL; only http and https URLs can be fetched")]
    UnsupportedScheme { written: String, scheme: String },
    #[error("\"{written}\" is not a valid URL: {source}")]
    Invalid {
        written: String,
        source: url::ParseError,
    },
    #[error("<{verb}> has no action and the document has no URL to default to (inline TwiML)")]
    NoDefaultAction { verb: &'static str },
}

impl Call {
    /// Starts a leg's first TwiML or a live update's.
    pub(crate) fn start(&mut self, initial: Initial, purpose: FetchPurpose) {
        match initial {
            Initial::Fetch { url, method } => {
                let params = self.params();
                self.fetch(url, method, params, purpose);
            }
            Initial::Inline(document) => self.load(document, None, Source::Twiml),
        }
    }

    fn load(&mut self, document: Document, url: Option<String>, source: Source) {
        self.program = Program::new(document, url, source);
        self.step = Step::Idle;
    }

    /// Asks for a document, abandoning the rest of the current one (control transfer).
    pub(crate) fn fetch(
        &mut self,
        url: String,
        method: Method,
        params: Params,
        purpose: FetchPurpose,
    ) {
        if !self.count_document(Some(&url)) {
            return;
        }
        self.program = Program::default();
        self.emit(Action::Fetch(FetchRequest {
            url,
            method,
            params,
            purpose,
            reply_ignored: false,
        }));
        self.step = Step::AwaitingDocument;
    }

    /// Counts one more document; past the limit, ends the call (Decision 11) and says no.
    pub(crate) fn count_document(&mut self, url: Option<&str>) -> bool {
        if self.documents_without_input < self.setup.max_documents {
            self.documents_without_input += 1;
            return true;
        }
        let message = format!(
            "{} documents were requested without caller input in between; the call is ended",
            self.setup.max_documents
        );
        self.alert(
            DOCUMENT_RETRIEVAL_LIMIT,
            Level::Error,
            message,
            url.map(str::to_owned),
        );
        self.platform_prompt();
        false
    }

    /// The running document cannot execute: the driver runs the failover path for it.
    pub(crate) fn execution_failure(&mut self, error: UrlError, params: Params) {
        let (code, message) = (INVALID_URL_FORMAT, error.to_string());
        let error_url = self.program.url().map(str::to_owned);
        if !self.count_document(error_url.as_deref()) {
            return;
        }
        self.program = Program::default();
        self.emit(Action::ExecutionFailed(ExecutionFailure {
            code,
            message,
            error_url,
            params,
        }));
        self.step = Step::AwaitingDocument;
    }

    /// Requests a verb's `action` (default: the document URL); 11100 when it cannot be resolved.
    pub(crate) fn request_action(
        &mut self,
        written: Option<&str>,
        method: Method,
        params: Params,
        purpose: FetchPurpose,
        verb: &'static str,
    ) {
        match self.program.action_url(written, verb) {
            Ok(url) => self.fetch(url, method, params, purpose),
            Err(error) => self.execution_failure(error, params),
        }
    }

    /// Requests an `action` whose answer cannot run (the caller hung up, §7.6/§7.7 [O]).
    pub(crate) fn request_action_after_hangup(
        &mut self,
        written: Option<&str>,
        method: Method,
        extra: Params,
        purpose: FetchPurpose,
        verb: &'static str,
    ) {
        let mut params = self.params_at(CallStatus::Completed);
        params.extend(extra);
        match self.program.action_url(written, verb) {
            Ok(url) => self.emit(Action::Fetch(FetchRequest {
                url,
                method,
                params,
                purpose,
                reply_ignored: true,
            })),
            Err(error) => {
                let url = self.program.url().map(str::to_owned);
                self.alert(INVALID_URL_FORMAT, Level::Error, error.to_string(), url);
            }
        }
    }

    /// Resolves a notification URL (status callbacks); a bad one is a warning and is dropped.
    pub(crate) fn resolve_callback(&mut self, written: Option<&str>) -> Option<String> {
        match self.program.resolve(written?) {
            Ok(url) => Some(url),
            Err(error) => {
                let url = self.program.url().map(str::to_owned);
                self.alert(INVALID_URL_FORMAT, Level::Warning, error.to_string(), url);
                None
            }
        }
    }

    pub(crate) fn alert(
        &mut self,
        code: ErrorCode,
        level: Level,
        message: String,
        url: Option<String>,
    ) {
        self.emit(Action::Alert(Alert {
            code,
            level,
            message,
            url,
        }));
    }

    pub(crate) fn on_document(
        &mut self,
        document: Document,
        url: Option<String>,
        warnings: Vec<Finding>,
    ) {
        if !matches!(self.step, Step::AwaitingDocument) {
            return;
        }
        for finding in warnings {
            let message = format!(
                "line {}, column {}: {}",
                finding.line, finding.column, finding.message
            );
            self.alert(finding.code, finding.level, message, url.clone());
        }
        self.load(document, url, Source::Twiml);
    }

    pub(crate) fn on_text_response(&mut self, text: String) {
        if matches!(self.step, Step::AwaitingDocument) && self.hold.is_some() {
            return self.hold_answer(HoldAnswer::Text(text));
        }
        if matches!(self.step, Step::AwaitingDocument) {
            self.closing_say(text, Source::Twiml, HangupBy::Twiml);
        }
    }

    pub(crate) fn on_audio_response(&mut self, url: String) {
        if matches!(self.step, Step::AwaitingDocument) && self.hold.is_some() {
            return self.hold_answer(HoldAnswer::Audio(url));
        }
        if matches!(self.step, Step::AwaitingDocument) {
            self.closing_play(url);
        }
    }

    pub(crate) fn on_no_usable_twiml(&mut self) {
        if matches!(self.step, Step::AwaitingDocument) && self.hold.is_some() {
            return self.hold_answer(HoldAnswer::Nothing);
        }
        if matches!(self.step, Step::AwaitingDocument) {
            self.platform_prompt();
        }
    }

    /// The number's last-resort document instead of the platform prompt: inline, its says
    /// marked `LastResort`.
    pub(crate) fn on_last_resort(&mut self, document: Document) {
        if matches!(self.step, Step::AwaitingDocument) && self.hold.is_some() {
            return self.hold_answer(HoldAnswer::Nothing);
        }
        if matches!(self.step, Step::AwaitingDocument) {
            self.load(document, None, Source::LastResort);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(url: Option<&str>) -> Program {
        Program::new(Document::default(), url.map(str::to_owned), Source::Twiml)
    }

    #[test]
    fn urls_resolve_against_the_document_url() {
        let base = Some("https://app.example.com/ivr/menu.xml?lang=en#ct=1000");
        let cases = [
            (base, "next", Ok("https://app.example.com/ivr/next")),
            (base, "/root", Ok("https://app.example.com/root")),
            (base, "../up?x=1", Ok("https://app.example.com/up?x=1")),
            (
                base,
                "?page=2",
                Ok("https://app.example.com/ivr/menu.xml?page=2"),
            ),
            (base, "//other.example/a", Ok("https://other.example/a")),
            (
                base,
                "http://abs.example/b#rc=2",
                Ok("http://abs.example/b#rc=2"),
            ),
            (base, "ftp://files.example/x", Err("ftp")),
            (None, "https://abs.example/", Ok("https://abs.example/")),
            (
                None,
                "relative",
                Err("relative but the document has no URL"),
            ),
            (None, "http://[::1", Err("not a valid URL")),
        ];
        for (base, written, expected) in cases {
            let got = program(base).resolve(written);
            match (expected, &got) {
                (Ok(want), Ok(got)) => assert_eq!(got, want, "{written}"),
                (Err(fragment), Err(error)) => {
                    assert!(error.to_string().contains(fragment), "{error}")
                }
                _ => panic!("{base:?} + {written}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn default_action_is_the_document_url_as_received() {
        let url = "https://app.example.com/ivr?step=1";
        assert_eq!(
            program(Some(url)).action_url(None, "Gather"),
            Ok(url.to_owned())
        );
        let inline = program(None).action_url(None, "Gather");
        assert_eq!(inline, Err(UrlError::NoDefaultAction { verb: "Gather" }));
    }
}
