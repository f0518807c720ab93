//! `<Redirect method>URL</Redirect>` (§7.8, §7.11): fetch another document and run it instead.

use switchboard_core::error_code::{
    INVALID_URL_FORMAT, MESSAGE_INVALID_METHOD, REDIRECT_INVALID_METHOD,
};

use crate::Context;
use crate::keyword::Method;
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// Continue with the document at `url` (kept as written; relative URLs resolve later).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub url: String,
    /// Default `POST`.
    pub method: Method,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Redirect {
    let element = validator.element(index);
    let code = match validator.context {
        Context::Voice => REDIRECT_INVALID_METHOD,
        Context::Messaging => MESSAGE_INVALID_METHOD,
    };
    let mut attributes = validator.attributes(element);
    let method = attributes.method("method", code);
    attributes.finish();
    let url = validator.text(element);
    if !crate::noun::plausible_url(&url) {
        let message = format!(
            "<Redirect> needs a URL as its text, not \"{}\"",
            url.escape_debug()
        );
        validator
            .findings
            .error(INVALID_URL_FORMAT, element.offset, message);
    }
    Redirect { url, method }
}

impl WriteXml for Redirect {
    fn write_xml(&self, writer: &mut XmlWriter) {
        writer
            .element("Redirect")
            .attr("method", self.method)
            .text(&self.url);
    }
}
