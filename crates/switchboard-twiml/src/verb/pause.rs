//! `<Pause length>` (§7.4): silence, or delayed answering as the first verb.

use switchboard_core::error_code::PAUSE_INVALID_LENGTH;

use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// Wait `length` seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pause {
    /// Seconds, at least 1 (default 1).
    pub length: u32,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Pause {
    let element = validator.element(index);
    let mut attributes = validator.attributes(element);
    let length = attributes.integer("length", 1, 1..=86_400, PAUSE_INVALID_LENGTH);
    attributes.finish();
    validator.no_content(element);
    Pause { length }
}

impl WriteXml for Pause {
    fn write_xml(&self, writer: &mut XmlWriter) {
        writer.element("Pause").attr("length", self.length).empty();
    }
}
