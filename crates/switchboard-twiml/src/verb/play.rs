//! `<Play loop digits>URL</Play>` (§7.3): play audio from a URL, or DTMF tones.

use switchboard_core::error_code::{PLAY_INVALID_LOOP, SCHEMA_VALIDATION_WARNING};

use crate::attributes::WARN;
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// Play audio or tones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Play {
    /// The audio URL as written (relative URLs resolve later); `None` with `digits`.
    pub url: Option<String>,
    /// Times to play; 0 = until the call ends (the engine caps it). Default 1.
    pub loop_count: u32,
    /// DTMF tones `0-9 * #`, `w` = half a second of pause.
    pub digits: Option<String>,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Play {
    let element = validator.element(index);
    let mut attributes = validator.attributes(element);
    let loop_count = attributes.integer("loop", 1, 0..=1000, PLAY_INVALID_LOOP);
    let digits = attributes.checked(
        "digits",
        WARN,
        "digits 0-9, *, # and w",
        crate::noun::valid_dtmf,
    );
    attributes.finish();
    let url = Some(validator.text(element)).filter(|url| !url.is_empty());
    if url.is_none() && digits.is_none() {
        let message = "<Play> has neither a URL nor digits; it plays nothing";
        validator
            .findings
            .warning(SCHEMA_VALIDATION_WARNING, element.offset, message);
    }
    Play {
        url,
        loop_count,
        digits,
    }
}

impl WriteXml for Play {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut element = writer.element("Play");
        element
            .attr("loop", self.loop_count)
            .opt("digits", self.digits.as_deref());
        match &self.url {
            Some(url) => element.text(url),
            None => element.empty(),
        }
    }
}
