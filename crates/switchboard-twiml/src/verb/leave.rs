//! `<Leave>` (§7.8): leave the queue from an `<Enqueue>` wait document.

use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// Leave the current queue; the `<Enqueue>` action gets `QueueResult=leave`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leave;

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Leave {
    let element = validator.element(index);
    validator.attributes(element).finish();
    validator.no_content(element);
    Leave
}

impl WriteXml for Leave {
    fn write_xml(&self, writer: &mut XmlWriter) {
        writer.element("Leave").empty();
    }
}
