//! `<Reject reason>` (§7.8): refuse an inbound call without answering it.

use crate::attributes::WARN;
use crate::keyword::keyword;
use crate::noun::{Parameter, parameters};
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

keyword! {
    /// What the caller hears.
    pub enum RejectReason { Rejected = "rejected", Busy = "busy" }
}

/// Refuse the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// Default `rejected`.
    pub reason: RejectReason,
    pub parameters: Vec<Parameter>,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Reject {
    let element = validator.element(index);
    let mut attributes = validator.attributes(element);
    let reason = attributes.keyword("reason", RejectReason::Rejected, WARN);
    attributes.finish();
    Reject {
        reason,
        parameters: parameters(validator, element),
    }
}

impl WriteXml for Reject {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut element = writer.element("Reject");
        element.attr("reason", self.reason);
        if self.parameters.is_empty() {
            return element.empty();
        }
        element.children(|writer| {
            self.parameters
                .iter()
                .for_each(|parameter| parameter.write_xml(writer))
        });
    }
}
