//! `<Client>` inside `<Dial>` (§7.7): a Voice SDK identity, with optional custom parameters.

use switchboard_core::error_code::DIAL_GENERIC;

use crate::attributes::WARN;
use crate::noun::{LegCallbacks, Parameter, parse_parameter};
use crate::tree::Node;
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// A client identity to ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// From the text or the `<Identity>` child, trimmed; at most 256 characters.
    pub identity: String,
    pub parameters: Vec<Parameter>,
    pub callbacks: LegCallbacks,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Client {
    let element = validator.element(index);
    let mut a = validator.attributes(element);
    let callbacks = LegCallbacks::parse(&mut a, WARN);
    a.finish();
    let mut identity = String::new();
    let mut parameters = Vec::new();
    for child in element.children() {
        match child {
            Node::Text { text, .. } => identity.push_str(text),
            Node::Element(child) => match validator.element(child).name {
                "Identity" => identity.push_str(&validator.text(validator.element(child))),
                "Parameter" => parameters.push(parse_parameter(validator, child)),
                _ => validator.unexpected(element, child),
            },
        }
    }
    let identity = identity.trim_ascii().to_owned();
    if identity.is_empty() || identity.chars().count() > 256 {
        validator.findings.error(
            DIAL_GENERIC,
            element.offset,
            "<Client> needs an identity of 1 to 256 characters",
        );
    }
    Client {
        identity,
        parameters,
        callbacks,
    }
}

impl WriteXml for Client {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Client");
        self.callbacks.write(&mut e);
        if self.parameters.is_empty() {
            return e.text(&self.identity);
        }
        e.children(|writer| {
            writer.element("Identity").text(&self.identity);
            self.parameters
                .iter()
                .for_each(|parameter| parameter.write_xml(writer));
        });
    }
}
