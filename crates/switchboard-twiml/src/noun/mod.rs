//! The nouns of `<Dial>` (§7.7), `<Parameter>`, and value checks shared by verbs and nouns.

mod application;
mod client;
mod conference;
mod leg;
mod number;
mod queue;
mod sip;

pub use application::{Application, Sim, WhatsApp};
pub use client::Client;
pub use conference::{Beep, Conference, ConferenceEvent, ConferenceRecord, JitterBufferSize};
pub use leg::{AnsweringMachineDetection, LegCallbacks};
pub use number::Number;
pub(crate) use number::check_phone_number as check_number;
pub use queue::Queue;
pub use sip::{Sip, SipHeader, SipUri};

use crate::tree::Element;
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// Names of nouns and noun children, for telling "misplaced TwiML" from "unknown element".
pub(crate) const NOUNS: &[&str] = &[
    "Number",
    "Client",
    "Sip",
    "Conference",
    "Queue",
    "Application",
    "Sim",
    "WhatsApp",
    "Identity",
    "Parameter",
    "ApplicationSid",
    "Uri",
    "Headers",
    "Header",
    "Task",
    "Body",
    "Media",
    "Message",
];

/// Something `<Dial>` connects the caller to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Noun {
    Number(Number),
    Client(Client),
    Sip(Sip),
    Conference(Conference),
    Queue(Queue),
    Application(Application),
    Sim(Sim),
    WhatsApp(WhatsApp),
}

impl WriteXml for Noun {
    fn write_xml(&self, writer: &mut XmlWriter) {
        match self {
            Noun::Number(noun) => noun.write_xml(writer),
            Noun::Client(noun) => noun.write_xml(writer),
            Noun::Sip(noun) => noun.write_xml(writer),
            Noun::Conference(noun) => noun.write_xml(writer),
            Noun::Queue(noun) => noun.write_xml(writer),
            Noun::Application(noun) => noun.write_xml(writer),
            Noun::Sim(noun) => noun.write_xml(writer),
            Noun::WhatsApp(noun) => noun.write_xml(writer),
        }
    }
}

/// Parses a noun element of `<Dial>`; `None` when the name is not a `<Dial>` noun.
pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Option<Noun> {
    let noun = match validator.element(index).name {
        "Number" => Noun::Number(number::parse(validator, index)),
        "Client" => Noun::Client(client::parse(validator, index)),
        "Sip" => Noun::Sip(sip::parse(validator, index)),
        "Conference" => Noun::Conference(conference::parse(validator, index)),
        "Queue" => Noun::Queue(queue::parse(validator, index)),
        "Application" => Noun::Application(application::parse_application(validator, index)),
        "Sim" => Noun::Sim(application::parse_sim(validator, index)),
        "WhatsApp" => Noun::WhatsApp(application::parse_whatsapp(validator, index)),
        _ => return None,
    };
    Some(noun)
}

/// `<Parameter name value/>`: a custom parameter handed to the far end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub value: String,
}

impl WriteXml for Parameter {
    fn write_xml(&self, writer: &mut XmlWriter) {
        writer
            .element("Parameter")
            .attr("name", &self.name)
            .attr("value", &self.value)
            .empty();
    }
}

pub(crate) fn parse_parameter(validator: &mut Validator<'_, '_>, index: usize) -> Parameter {
    let element = validator.element(index);
    let mut attributes = validator.attributes(element);
    let name = attributes.string("name").unwrap_or_default();
    let value = attributes.string("value").unwrap_or_default();
    attributes.finish();
    validator.no_content(element);
    Parameter { name, value }
}

/// The `<Parameter>` children of `element`; anything else draws a 12200 warning.
pub(crate) fn parameters<'t, 'a>(
    validator: &mut Validator<'t, 'a>,
    element: Element<'t, 'a>,
) -> Vec<Parameter> {
    let mut parameters = Vec::new();
    for child in validator.child_elements(element) {
        if validator.element(child).name == "Parameter" {
            parameters.push(parse_parameter(validator, child));
        } else {
            validator.unexpected(element, child);
        }
    }
    parameters
}

/// A URL as written: absolute or relative, no whitespace or control characters.
pub(crate) fn plausible_url(url: &str) -> bool {
    !url.is_empty() && !has_space_or_control(url)
}

/// Whether `text` has a whitespace or control character (Unicode's definitions).
pub(crate) fn has_space_or_control(text: &str) -> bool {
    // Printable ASCII (`!` to `~`) has neither, and almost every value is all printable ASCII:
    // one pass without early exit (so it vectorises) settles it; only other text is decoded.
    let printable_ascii = text
        .bytes()
        .fold(true, |all, b| all & (b.wrapping_sub(b'!') <= b'~' - b'!'));
    !printable_ascii && text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A BCP-47-like tag: `en`, `en-US`, `cmn-Hans-CN`: a primary part of 2 or 3 ASCII letters,
/// then any number of `-` and 1 to 8 ASCII letters or digits. One pass over the bytes (the
/// `split` iterator it replaces cost four times as much).
pub(crate) fn valid_language(tag: &str) -> bool {
    let part_fits = |primary: bool, length: usize| match primary {
        true => (2..=3).contains(&length),
        false => (1..=8).contains(&length),
    };
    let (mut primary, mut length) = (true, 0);
    for &byte in tag.as_bytes() {
        if byte == b'-' {
            if !part_fits(primary, length) {
                return false;
            }
            (primary, length) = (false, 0);
        } else if byte.is_ascii_alphabetic() || (!primary && byte.is_ascii_digit()) {
            length += 1;
        } else {
            return false;
        }
    }
    part_fits(primary, length)
}

/// DTMF digits with `w` pauses.
pub(crate) fn valid_dtmf(digits: &str) -> bool {
    !digits.is_empty()
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'#' | b'w' | b'W'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings over an alphabet with every kind of byte the checks tell apart, up to 5 long.
    fn strings() -> Vec<String> {
        let alphabet = [
            "a", "Z", "0", "-", "_", " ", "\t", "\u{7f}", "\u{1}", "~", "!", "é", "\u{a0}",
            "\u{85}",
        ];
        let mut all = vec![String::new()];
        let mut previous = vec![String::new()];
        for _ in 0..5 {
            let next: Vec<String> = previous
                .iter()
                .flat_map(|prefix| alphabet.iter().map(move |c| format!("{prefix}{c}")))
                .collect();
            all.extend(next.iter().cloned());
            previous = next;
        }
        all.extend(
            [
                "en",
                "en-US",
                "cmn-Hans-CN",
                "en-abcdefgh",
                "en-abcdefghi",
                "e-US",
            ]
            .map(String::from),
        );
        all
    }

    #[test]
    fn byte_checks_agree_with_their_definitions() {
        for text in strings() {
            let by_chars = text.chars().any(|c| c.is_whitespace() || c.is_control());
            assert_eq!(has_space_or_control(&text), by_chars, "{text:?}");
            let mut parts = text.split('-');
            let primary = parts.next().unwrap_or_default();
            let by_parts = (2..=3).contains(&primary.len())
                && primary.bytes().all(|b| b.is_ascii_alphabetic())
                && parts.all(|part| {
                    (1..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric())
                });
            assert_eq!(valid_language(&text), by_parts, "{text:?}");
        }
    }
}
