//! How the answer to a TwiML fetch is interpreted (twilio-behaviour.md §3.10), pure.
//!
//! The document parser is the caller's (`switchboard_twiml::parse` in the engines): this crate
//! takes it as a closure returning the parsed document or the 12100/12102 code, so it does not
//! depend on the TwiML crate. Empty 2xx bodies follow product.md Decision 15: for messaging they
//! mean "no reply" (an empty `<Response/>`), for voice only when the content type says XML.

use serde::{Deserialize, Serialize};
use switchboard_core::ErrorCode;
use switchboard_core::error_code as codes;

use crate::outcome::{Exchange, HttpAnswer};

/// Which engine fetches the document; decides audio and empty-body handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Channel {
    Voice,
    Messaging,
}

/// A usable answer to a TwiML fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply<T> {
    /// A TwiML document (also an empty body read as `<Response/>`).
    Document(T),
    /// Voice only: audio to play, then hang up.
    Audio { content_type: String, body: Vec<u8> },
    /// `text/plain` that is not TwiML: voice speaks it then hangs up; messaging sends it as the reply.
    Text(String),
}

const EMPTY_DOCUMENT: &[u8] = b"<Response/>";

const XML_TYPES: &[&str] = &["text/xml", "application/xml", "text/html"];
const AUDIO_TYPES: &[&str] = &[
    "audio/mpeg",
    "audio/wav",
    "audio/wave",
    "audio/x-wav",
    "audio/aiff",
    "audio/x-aifc",
    "audio/x-aiff",
    "audio/x-gsm",
    "audio/gsm",
    "audio/ulaw",
];

/// The media type without parameters, lowercase (`Text/XML; charset=utf-8` → `text/xml`).
pub fn media_type(content_type: Option<&str>) -> Option<String> {
    essence(content_type).map(str::to_ascii_lowercase)
}

/// The media type without parameters, as sent (compare case-insensitively).
fn essence(content_type: Option<&str>) -> Option<&str> {
    let essence = content_type?.split(';').next()?.trim();
    (!essence.is_empty()).then_some(essence)
}

fn is_one_of(media: Option<&str>, types: &[&str]) -> bool {
    media.is_some_and(|m| types.iter().any(|t| t.eq_ignore_ascii_case(m)))
}

/// Turns an exchange into a reply or the one error code that describes the failure.
pub fn classify_exchange<T>(
    exchange: &Exchange,
    channel: Channel,
    parse: &impl Fn(&[u8]) -> Result<T, ErrorCode>,
) -> Result<Reply<T>, ErrorCode> {
    match &exchange.result {
        Err(error) => Err(error.code(exchange.overrides_present)),
        Ok(answer) => classify_answer(answer, channel, parse),
    }
}

/// Interprets an HTTP answer: status, then content type, then the document.
pub fn classify_answer<T>(
    answer: &HttpAnswer,
    channel: Channel,
    parse: &impl Fn(&[u8]) -> Result<T, ErrorCode>,
) -> Result<Reply<T>, ErrorCode> {
    if !(200..300).contains(&answer.status) {
        return Err(codes::HTTP_RETRIEVAL_FAILURE);
    }
    let media = essence(answer.content_type.as_deref());
    let is_xml = is_one_of(media, XML_TYPES);
    if answer.body.iter().all(u8::is_ascii_whitespace) {
        return match (channel, is_xml) {
            (Channel::Messaging, _) | (Channel::Voice, true) => {
                parse(EMPTY_DOCUMENT).map(Reply::Document)
            }
            (Channel::Voice, false) => Err(codes::INVALID_CONTENT_TYPE),
        };
    }
    match media {
        _ if is_xml => parse(&answer.body).map(Reply::Document),
        Some(text) if text.eq_ignore_ascii_case("text/plain") => Ok(match parse(&answer.body) {
            Ok(document) => Reply::Document(document),
            Err(_) => Reply::Text(String::from_utf8_lossy(&answer.body).into_owned()),
        }),
        Some(audio) if channel == Channel::Voice && is_one_of(media, AUDIO_TYPES) => {
            Ok(Reply::Audio {
                content_type: audio.to_ascii_lowercase(),
                body: answer.body.clone(),
            })
        }
        _ => Err(codes::INVALID_CONTENT_TYPE),
    }
}

/// A notification-only webhook (status callback, debugger webhook) succeeded when it got a 2xx;
/// its body is ignored.
pub fn classify_notification(exchange: &Exchange) -> Result<(), ErrorCode> {
    match &exchange.result {
        Err(error) => Err(error.code(exchange.overrides_present)),
        Ok(answer) if (200..300).contains(&answer.status) => Ok(()),
        Ok(_) => Err(codes::HTTP_RETRIEVAL_FAILURE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test fixture standing in for `switchboard_twiml::parse`: accepts a `<Response` root only.
    fn stand_in_parse(body: &[u8]) -> Result<String, ErrorCode> {
        let text = std::str::from_utf8(body)
            .map_err(|_| codes::DOCUMENT_PARSE_FAILURE)?
            .trim();
        if !text.starts_with('<') || !text.ends_with('>') {
            return Err(codes::DOCUMENT_PARSE_FAILURE);
        }
        if text.starts_with("<Response") {
            Ok(text.to_string())
        } else {
            Err(codes::ROOT_ELEMENT_MUST_BE_RESPONSE)
        }
    }

    fn answer(status: u16, content_type: Option<&str>, body: &str) -> HttpAnswer {
        HttpAnswer {
            status,
            content_type: content_type.map(str::to_string),
            body: body.as_bytes().to_vec(),
            final_url: "http://h/".to_string(),
        }
    }

    fn check(
        status: u16,
        content_type: Option<&str>,
        body: &str,
        channel: Channel,
        expect: Result<Reply<String>, u32>,
    ) {
        let got = classify_answer(
            &answer(status, content_type, body),
            channel,
            &stand_in_parse,
        )
        .map_err(|c| c.code);
        assert_eq!(
            got, expect,
            "{status} {content_type:?} {body:?} {channel:?}"
        );
    }

    #[test]
    fn table() {
        use Channel::*;
        let doc = |s: &str| Ok(Reply::Document(s.to_string()));
        check(
            200,
            Some("text/xml"),
            "<Response/>",
            Voice,
            doc("<Response/>"),
        );
        check(
            200,
            Some("Application/XML; charset=utf-8"),
            "<Response></Response>",
            Voice,
            doc("<Response></Response>"),
        );
        check(
            200,
            Some("text/html"),
            "<Response/>",
            Messaging,
            doc("<Response/>"),
        );
        check(404, Some("text/xml"), "<Response/>", Voice, Err(11200));
        check(500, None, "", Voice, Err(11200));
        check(200, Some("text/xml"), "<Foo/>", Voice, Err(12102));
        check(200, Some("text/xml"), "<Response", Voice, Err(12100));
        check(200, Some("application/json"), "{}", Voice, Err(12300));
        check(200, None, "<Response/>", Voice, Err(12300));
        check(
            200,
            Some("text/plain"),
            "<Response/>",
            Voice,
            doc("<Response/>"),
        );
        check(
            200,
            Some("text/plain"),
            "Hello there",
            Voice,
            Ok(Reply::Text("Hello there".into())),
        );
        check(
            200,
            Some("text/plain"),
            "Hi",
            Messaging,
            Ok(Reply::Text("Hi".into())),
        );
        let audio = Ok(Reply::Audio {
            content_type: "audio/mpeg".into(),
            body: b"ID3".to_vec(),
        });
        check(200, Some("audio/mpeg"), "ID3", Voice, audio);
        check(200, Some("audio/mpeg"), "ID3", Messaging, Err(12300));
    }

    #[test]
    fn empty_bodies_decision_15() {
        use Channel::*;
        let empty = Ok(Reply::Document("<Response/>".to_string()));
        check(200, None, "", Messaging, empty.clone());
        check(204, Some("text/plain"), "", Messaging, empty.clone());
        check(200, Some("text/xml"), "  ", Voice, empty);
        check(200, Some("text/plain"), "", Voice, Err(12300));
        check(200, None, "", Voice, Err(12300));
    }
}
