//! Media streams (§7.12): `<Start><Stream>` (one-way), `<Stop><Stream name>` and
//! `<Connect action method><Stream>` (two-way), each with `<Parameter>` children.
//!
//! `<Start>`, `<Stop>` and `<Connect>` take other nouns on Twilio too (`<Siprec>`,
//! `<Transcription>`, `<ConversationRelay>`, `<Room>`, …); only a single `<Stream>` child is
//! modelled here, anything else stays an unmodelled verb (`unmodelled.rs`) that the engine
//! refuses. What Twilio refuses only when the stream opens is kept out of the document's
//! validity (which would send the call to its fallback URL) and reported, like what the engine
//! does not run, in `Parsed::unsupported`: a `<Connect>` stream whose track is not
//! `inbound_track` (31941, an error: the call skips the stream at run time with the same
//! alert), a URL that is not `ws://`/`wss://` (31922) or has no host (31923), and `ws://`
//! (a warning: this engine accepts it, Twilio does not).

use switchboard_core::error_code::{
    SCHEMA_VALIDATION_WARNING, STREAM_INVALID_TRACK, STREAM_URL_MALFORMED, STREAM_URL_SCHEME,
};

use crate::attributes::WARN;
use crate::keyword::{Method, keyword};
use crate::noun::{Parameter, parse_parameter};
use crate::tree::Node;
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// Longest `<Parameter>` name and value together (Twilio: "under 500 characters").
pub const MAX_PARAMETER_CHARS: usize = 499;

keyword! {
    /// Which audio a stream carries.
    pub enum StreamTrack {
        /// What the caller says (the default).
        InboundTrack = "inbound_track",
        /// What the caller hears.
        OutboundTrack = "outbound_track",
        BothTracks = "both_tracks",
    }
}

impl StreamTrack {
    /// The `start.tracks` list of the `start` frame.
    pub fn tracks(self) -> &'static [&'static str] {
        match self {
            StreamTrack::InboundTrack => &["inbound"],
            StreamTrack::OutboundTrack => &["outbound"],
            StreamTrack::BothTracks => &["inbound", "outbound"],
        }
    }
}

/// `<Stream>`: where the call's audio goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    /// The WebSocket URL exactly as written (it is also what the opening request signs).
    pub url: String,
    /// Unique per call; `<Stop><Stream name>` and the REST API find the stream by it.
    pub name: Option<String>,
    pub track: StreamTrack,
    pub status_callback: Option<String>,
    /// Default `POST`.
    pub status_callback_method: Method,
    /// `start.customParameters`, in document order.
    pub parameters: Vec<Parameter>,
}

/// `<Connect action method><Stream>`: a two-way stream that holds the call until the
/// application closes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectStream {
    pub action: Option<String>,
    /// Default `POST`.
    pub method: Method,
    pub stream: Stream,
}

/// `<Stop><Stream name>`: stops the one-way stream of that name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopStream {
    pub name: Option<String>,
}

/// The single `<Stream>` child of `element`, if that is all it holds (blank text aside).
fn only_stream_child(validator: &Validator<'_, '_>, index: usize) -> Option<usize> {
    let element = validator.element(index);
    let mut found = None;
    for child in element.children() {
        match child {
            Node::Element(child) if found.is_none() => {
                if validator.element(child).name != "Stream" {
                    return None;
                }
                found = Some(child);
            }
            Node::Element(_) => return None,
            Node::Text { text, .. } if !text.trim_ascii().is_empty() => return None,
            Node::Text { .. } => {}
        }
    }
    found
}

/// `<Start><Stream>`; `None` when `<Start>` holds something else.
pub(crate) fn parse_start(validator: &mut Validator<'_, '_>, index: usize) -> Option<Stream> {
    let child = only_stream_child(validator, index)?;
    let element = validator.element(index);
    validator.attributes(element).finish();
    Some(parse_stream(validator, child, false))
}

/// `<Stop><Stream>`; `None` when `<Stop>` holds something else.
pub(crate) fn parse_stop(validator: &mut Validator<'_, '_>, index: usize) -> Option<StopStream> {
    let child = only_stream_child(validator, index)?;
    let element = validator.element(index);
    validator.attributes(element).finish();
    let stream = validator.element(child);
    let mut attributes = validator.attributes(stream);
    let name = attributes.string("name");
    attributes.finish();
    validator.no_content(stream);
    Some(StopStream { name })
}

/// `<Connect><Stream>`; `None` when `<Connect>` holds something else.
pub(crate) fn parse_connect(
    validator: &mut Validator<'_, '_>,
    index: usize,
) -> Option<ConnectStream> {
    let child = only_stream_child(validator, index)?;
    let element = validator.element(index);
    let mut attributes = validator.attributes(element);
    let action = attributes.string("action");
    let method = attributes.method("method", WARN);
    attributes.finish();
    let stream = parse_stream(validator, child, true);
    Some(ConnectStream {
        action,
        method,
        stream,
    })
}

fn parse_stream(validator: &mut Validator<'_, '_>, index: usize, two_way: bool) -> Stream {
    let element = validator.element(index);
    let mut attributes = validator.attributes(element);
    let url = attributes.string("url").unwrap_or_default();
    let name = attributes.string("name");
    let track = attributes.keyword("track", StreamTrack::InboundTrack, WARN);
    let status_callback = attributes.string("statusCallback");
    let status_callback_method = attributes.method("statusCallbackMethod", WARN);
    attributes.finish();
    let offset = element.offset;
    if two_way && track != StreamTrack::InboundTrack {
        let message = format!(
            "<Connect><Stream> carries only inbound_track, not {track}; the stream is not opened"
        );
        validator
            .unsupported
            .error(STREAM_INVALID_TRACK, offset, message);
    }
    match url_problem(&url) {
        Some(UrlProblem::Scheme) => {
            let message = format!(
                "<Stream> url \"{}\" is not ws:// or wss://",
                url.escape_debug()
            );
            validator
                .unsupported
                .error(STREAM_URL_SCHEME, offset, message);
        }
        Some(UrlProblem::Malformed) => {
            let message = format!("<Stream> url \"{}\" is not a URL", url.escape_debug());
            validator
                .unsupported
                .error(STREAM_URL_MALFORMED, offset, message);
        }
        Some(UrlProblem::Insecure) => {
            let message =
                "<Stream> url uses ws://; this engine accepts it, Twilio accepts only wss://";
            validator
                .unsupported
                .warning(SCHEMA_VALIDATION_WARNING, offset, message);
        }
        None => {}
    }
    let mut parameters = Vec::new();
    for child in validator.child_elements(element) {
        if validator.element(child).name != "Parameter" {
            validator.unexpected(element, child);
            continue;
        }
        let parameter = parse_parameter(validator, child);
        let chars = parameter.name.chars().count() + parameter.value.chars().count();
        if chars > MAX_PARAMETER_CHARS {
            let message = format!(
                "<Parameter> name and value are {chars} characters; at most {MAX_PARAMETER_CHARS} are allowed, it is ignored"
            );
            let offset = validator.element(child).offset;
            validator.findings.warning(WARN, offset, message);
            continue;
        }
        parameters.push(parameter);
    }
    Stream {
        url,
        name,
        track,
        status_callback,
        status_callback_method,
        parameters,
    }
}

/// What is wrong with a stream URL as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlProblem {
    /// Not `ws://` or `wss://` (31922).
    Scheme,
    /// No host, or whitespace (31923).
    Malformed,
    /// `ws://`: accepted here, not by Twilio.
    Insecure,
}

/// Checks a stream URL the way the engine will when it opens it.
pub fn url_problem(url: &str) -> Option<UrlProblem> {
    if crate::noun::has_space_or_control(url) {
        return Some(UrlProblem::Malformed);
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some(if url.is_empty() || !url.contains(':') {
            UrlProblem::Malformed
        } else {
            UrlProblem::Scheme
        });
    };
    let insecure = match scheme.to_ascii_lowercase().as_str() {
        "wss" => false,
        "ws" => true,
        _ => return Some(UrlProblem::Scheme),
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Some(UrlProblem::Malformed);
    }
    insecure.then_some(UrlProblem::Insecure)
}

fn write_stream(stream: &Stream, writer: &mut XmlWriter) {
    let mut e = writer.element("Stream");
    e.attr("url", &stream.url)
        .opt("name", stream.name.as_deref())
        .attr("track", stream.track)
        .opt("statusCallback", stream.status_callback.as_deref())
        .attr("statusCallbackMethod", stream.status_callback_method);
    if stream.parameters.is_empty() {
        return e.empty();
    }
    e.children(|writer| {
        for parameter in &stream.parameters {
            parameter.write_xml(writer);
        }
    });
}

/// `<Start><Stream>` as written back.
pub(crate) fn write_start(stream: &Stream, writer: &mut XmlWriter) {
    writer
        .element("Start")
        .children(|writer| write_stream(stream, writer));
}

impl WriteXml for StopStream {
    fn write_xml(&self, writer: &mut XmlWriter) {
        writer.element("Stop").children(|writer| {
            writer
                .element("Stream")
                .opt("name", self.name.as_deref())
                .empty();
        });
    }
}

impl WriteXml for ConnectStream {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Connect");
        e.opt("action", self.action.as_deref())
            .attr("method", self.method);
        e.children(|writer| write_stream(&self.stream, writer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, Level, Verb, parse};

    fn parse_ok(body: &str) -> crate::Parsed {
        match parse(body.as_bytes(), Context::Voice) {
            Ok(parsed) => parsed,
            Err(rejected) => panic!("{body}: {:?}", rejected.error),
        }
    }

    #[test]
    fn start_stop_and_connect_parse_to_streams() {
        let body = r#"<Response>
            <Start><Stream url="wss://bot.example/s" name="one" track="both_tracks"
                statusCallback="https://cb.example/s" statusCallbackMethod="GET">
                <Parameter name="a" value="1"/><Parameter name="b" value="2"/></Stream></Start>
            <Stop><Stream name="one"/></Stop>
            <Connect action="/after" method="GET"><Stream url="wss://bot.example/c"/></Connect>
        </Response>"#;
        let parsed = parse_ok(body);
        assert!(parsed.unsupported.is_empty(), "{:?}", parsed.unsupported);
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let [
            Verb::StartStream(start),
            Verb::StopStream(stop),
            Verb::ConnectStream(connect),
        ] = parsed.document.verbs.as_slice()
        else {
            panic!("{:?}", parsed.document.verbs);
        };
        assert_eq!(start.url, "wss://bot.example/s");
        assert_eq!(start.track, StreamTrack::BothTracks);
        assert_eq!(start.status_callback_method, Method::Get);
        assert_eq!(start.parameters.len(), 2);
        assert_eq!(stop.name.as_deref(), Some("one"));
        assert_eq!(connect.action.as_deref(), Some("/after"));
        assert_eq!(connect.method, Method::Get);
        assert_eq!(connect.stream.track, StreamTrack::InboundTrack);
        // Printing gives back the same document.
        let again = parse_ok(&parsed.document.to_string());
        assert_eq!(again.document, parsed.document);
    }

    #[test]
    fn run_time_refusals_are_reported_apart_from_validity() {
        let cases = [
            (
                r#"<Connect><Stream url="wss://b.example" track="both_tracks"/></Connect>"#,
                31941,
                Level::Error,
            ),
            (
                r#"<Start><Stream url="https://b.example"/></Start>"#,
                31922,
                Level::Error,
            ),
            (
                r#"<Start><Stream url="wss://"/></Start>"#,
                31923,
                Level::Error,
            ),
            (
                r#"<Start><Stream url="ws://b.example"/></Start>"#,
                12200,
                Level::Warning,
            ),
        ];
        for (verb, code, level) in cases {
            let parsed = parse_ok(&format!("<Response>{verb}</Response>"));
            let [finding] = parsed.unsupported.as_slice() else {
                panic!("{verb}: {:?}", parsed.unsupported);
            };
            assert_eq!((finding.code.code, finding.level), (code, level), "{verb}");
        }
    }

    #[test]
    fn other_nouns_stay_unmodelled() {
        let parsed = parse_ok(r#"<Response><Connect><Room>r</Room></Connect></Response>"#);
        assert!(matches!(parsed.document.verbs[0], Verb::Unmodelled(_)));
        assert_eq!(parsed.unsupported[0].code.code, 13750);
    }

    #[test]
    fn long_parameters_are_dropped_with_a_warning() {
        let long = "x".repeat(500);
        let body = format!(
            r#"<Response><Start><Stream url="wss://b.example"><Parameter name="n" value="{long}"/></Stream></Start></Response>"#
        );
        let parsed = parse_ok(&body);
        let [Verb::StartStream(stream)] = parsed.document.verbs.as_slice() else {
            panic!();
        };
        assert!(stream.parameters.is_empty());
        assert_eq!(parsed.warnings.len(), 1);
    }
}
