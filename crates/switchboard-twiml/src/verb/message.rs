//! Messaging `<Message>` (§7.11): a reply with text (direct or `<Body>` children) and `<Media>`.

use switchboard_core::error_code::{
    MESSAGE_INVALID_BODY, MESSAGE_INVALID_FROM, MESSAGE_INVALID_METHOD,
    MESSAGE_INVALID_STATUS_CALLBACK, MESSAGE_INVALID_TO,
};

use crate::keyword::Method;
use crate::limits::{MAX_MESSAGE_BODY_CHARS, MAX_MESSAGE_MEDIA};
use crate::noun::plausible_url;
use crate::tree::{Element, Node};
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// Send a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Direct text and `<Body>` children concatenated, trimmed; at most 1600 characters.
    pub body: String,
    /// Media URLs as written, at most 10.
    pub media: Vec<String>,
    /// `None` = the sender of the inbound message.
    pub to: Option<String>,
    /// `None` = the number that received it.
    pub from: Option<String>,
    pub action: Option<String>,
    pub method: Method,
    pub status_callback: Option<String>,
}

/// A phone number, short code or channel address (`whatsapp:+1…`): non-empty, no spaces.
pub(crate) fn valid_address(address: &str) -> bool {
    !address.is_empty()
        && address.chars().count() <= 256
        && !crate::noun::has_space_or_control(address)
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Message {
    let element = validator.element(index);
    let mut a = validator.attributes(element);
    let to = a.checked(
        "to",
        MESSAGE_INVALID_TO,
        "a phone number or address",
        valid_address,
    );
    let from = a.checked(
        "from",
        MESSAGE_INVALID_FROM,
        "a phone number or address",
        valid_address,
    );
    let action = a.string("action");
    let method = a.method("method", MESSAGE_INVALID_METHOD);
    let status_callback = a.checked(
        "statusCallback",
        MESSAGE_INVALID_STATUS_CALLBACK,
        "a URL",
        plausible_url,
    );
    a.finish();
    let (body, media) = content(validator, element);
    check(validator, element, &body, &media);
    Message {
        body,
        media,
        to,
        from,
        action,
        method,
        status_callback,
    }
}

fn content<'t, 'a>(
    validator: &mut Validator<'t, 'a>,
    element: Element<'t, 'a>,
) -> (String, Vec<String>) {
    let mut body = String::new();
    let mut media = Vec::new();
    for child in element.children() {
        match child {
            Node::Text { text, .. } => body.push_str(text),
            Node::Element(index) => {
                let child = validator.element(index);
                match child.name {
                    "Body" => {
                        validator.attributes(child).finish();
                        body.push_str(&validator.text(child));
                    }
                    "Media" => {
                        validator.attributes(child).finish();
                        media.push(validator.text(child));
                    }
                    _ => validator.unexpected(element, index),
                }
            }
        }
    }
    (body.trim_ascii().to_owned(), media)
}

fn check(
    validator: &mut Validator<'_, '_>,
    element: Element<'_, '_>,
    body: &str,
    media: &[String],
) {
    let characters = body.chars().count();
    let message = if body.is_empty() && media.is_empty() {
        "<Message> has neither a body nor media".to_owned()
    } else if characters > MAX_MESSAGE_BODY_CHARS {
        format!("<Message> body is {characters} characters; the limit is {MAX_MESSAGE_BODY_CHARS}")
    } else if media.len() > MAX_MESSAGE_MEDIA {
        format!(
            "<Message> has {} <Media>; the limit is {MAX_MESSAGE_MEDIA}",
            media.len()
        )
    } else if media.iter().any(|url| !plausible_url(url)) {
        "<Media> needs a URL as its text".to_owned()
    } else {
        return;
    };
    validator
        .findings
        .error(MESSAGE_INVALID_BODY, element.offset, message);
}

impl WriteXml for Message {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Message");
        e.opt("to", self.to.as_deref())
            .opt("from", self.from.as_deref())
            .opt("action", self.action.as_deref());
        e.attr("method", self.method)
            .opt("statusCallback", self.status_callback.as_deref());
        if self.media.is_empty() {
            return e.text(&self.body);
        }
        e.children(|writer| {
            if !self.body.is_empty() {
                writer.element("Body").text(&self.body);
            }
            self.media
                .iter()
                .for_each(|url| writer.element("Media").text(url));
        });
    }
}
