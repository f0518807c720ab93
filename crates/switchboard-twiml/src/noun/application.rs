//! `<Application>`, `<Sim>` and `<WhatsApp>` inside `<Dial>` (§7.7): the small nouns that name
//! an endpoint by SID or number.

use switchboard_core::error_code::DIAL_GENERIC;

use crate::attributes::WARN;
use crate::noun::{LegCallbacks, Parameter, parse_parameter};
use crate::tree::Node;
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// Dial another TwiML application (`AP…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    /// From the text or the `<ApplicationSid>` child.
    pub application_sid: String,
    pub parameters: Vec<Parameter>,
    pub callbacks: LegCallbacks,
    pub customer_id: Option<String>,
    pub copy_parent_to: bool,
}

/// Dial a Twilio SIM (`DE…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sim {
    pub sim_sid: String,
}

/// Dial a WhatsApp user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhatsApp {
    pub phone_number: String,
    pub callbacks: LegCallbacks,
}

pub(crate) fn parse_application(validator: &mut Validator<'_, '_>, index: usize) -> Application {
    let element = validator.element(index);
    let mut a = validator.attributes(element);
    let callbacks = LegCallbacks::parse(&mut a, WARN);
    let customer_id = a.string("customerId");
    let copy_parent_to = a.boolean("copyParentTo", false, WARN);
    a.finish();
    let mut sid = String::new();
    let mut parameters = Vec::new();
    for child in element.children() {
        match child {
            Node::Text { text, .. } => sid.push_str(text),
            Node::Element(child) => match validator.element(child).name {
                "ApplicationSid" => sid.push_str(&validator.text(validator.element(child))),
                "Parameter" => parameters.push(parse_parameter(validator, child)),
                _ => validator.unexpected(element, child),
            },
        }
    }
    let application_sid = sid.trim_ascii().to_owned();
    require(
        validator,
        &application_sid,
        element.offset,
        "<Application> needs an application SID",
    );
    Application {
        application_sid,
        parameters,
        callbacks,
        customer_id,
        copy_parent_to,
    }
}

pub(crate) fn parse_sim(validator: &mut Validator<'_, '_>, index: usize) -> Sim {
    let element = validator.element(index);
    validator.attributes(element).finish();
    let sim_sid = validator.text(element);
    require(validator, &sim_sid, element.offset, "<Sim> needs a SIM SID");
    Sim { sim_sid }
}

pub(crate) fn parse_whatsapp(validator: &mut Validator<'_, '_>, index: usize) -> WhatsApp {
    let element = validator.element(index);
    let mut a = validator.attributes(element);
    let callbacks = LegCallbacks::parse(&mut a, WARN);
    a.finish();
    let phone_number = validator.text(element);
    require(
        validator,
        &phone_number,
        element.offset,
        "<WhatsApp> needs a phone number",
    );
    WhatsApp {
        phone_number,
        callbacks,
    }
}

fn require(validator: &mut Validator<'_, '_>, value: &str, offset: usize, message: &str) {
    if value.is_empty() {
        validator.findings.error(DIAL_GENERIC, offset, message);
    }
}

impl WriteXml for Application {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Application");
        self.callbacks.write(&mut e);
        e.opt("customerId", self.customer_id.as_deref())
            .attr("copyParentTo", self.copy_parent_to);
        if self.parameters.is_empty() {
            return e.text(&self.application_sid);
        }
        e.children(|writer| {
            writer.element("ApplicationSid").text(&self.application_sid);
            self.parameters
                .iter()
                .for_each(|parameter| parameter.write_xml(writer));
        });
    }
}

impl WriteXml for Sim {
    fn write_xml(&self, writer: &mut XmlWriter) {
        writer.element("Sim").text(&self.sim_sid);
    }
}

impl WriteXml for WhatsApp {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("WhatsApp");
        self.callbacks.write(&mut e);
        e.text(&self.phone_number);
    }
}
