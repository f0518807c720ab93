//! `<Sms>` (§7.10): the legacy verb that sends a text message (during a call, or as a reply).

use switchboard_core::error_code::{
    MESSAGE_INVALID_BODY, MESSAGE_INVALID_FROM, MESSAGE_INVALID_METHOD,
    MESSAGE_INVALID_STATUS_CALLBACK, MESSAGE_INVALID_TO,
};

use crate::keyword::Method;
use crate::limits::MAX_MESSAGE_BODY_CHARS;
use crate::noun::plausible_url;
use crate::validate::Validator;
use crate::verb::message::valid_address;
use crate::writer::{WriteXml, XmlWriter};

/// Send a text message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sms {
    pub body: String,
    /// `None` = the caller.
    pub to: Option<String>,
    /// `None` = the called number.
    pub from: Option<String>,
    pub action: Option<String>,
    pub method: Method,
    pub status_callback: Option<String>,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Sms {
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
    let body = validator.text(element);
    let characters = body.chars().count();
    if body.is_empty() || characters > MAX_MESSAGE_BODY_CHARS {
        let message = format!(
            "<Sms> text must be 1 to {MAX_MESSAGE_BODY_CHARS} characters, not {characters}"
        );
        validator
            .findings
            .error(MESSAGE_INVALID_BODY, element.offset, message);
    }
    Sms {
        body,
        to,
        from,
        action,
        method,
        status_callback,
    }
}

impl WriteXml for Sms {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Sms");
        e.opt("to", self.to.as_deref())
            .opt("from", self.from.as_deref())
            .opt("action", self.action.as_deref());
        e.attr("method", self.method)
            .opt("statusCallback", self.status_callback.as_deref())
            .text(&self.body);
    }
}
