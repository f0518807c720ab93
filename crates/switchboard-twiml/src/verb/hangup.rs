//! `<Hangup>` (§7.8): end the call now, with optional `<Parameter>` children.

use crate::noun::{Parameter, parameters};
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// End the call; status `completed`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hangup {
    pub parameters: Vec<Parameter>,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Hangup {
    let element = validator.element(index);
    validator.attributes(element).finish();
    Hangup {
        parameters: parameters(validator, element),
    }
}

impl WriteXml for Hangup {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut element = writer.element("Hangup");
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
