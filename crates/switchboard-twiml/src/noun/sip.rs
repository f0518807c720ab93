//! `<Sip>` inside `<Dial>` (§7.7): a SIP URI to call, as text or `<Uri>` children, with
//! optional `<Headers>`. Every attribute or URI problem is 13241.

use switchboard_core::error_code::SIP_INVALID_ATTRIBUTE;

use crate::noun::{AnsweringMachineDetection, LegCallbacks};
use crate::tree::{Element, Node};
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// A SIP endpoint to ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sip {
    /// The URI given as text (empty when only `<Uri>` children are used).
    pub uri: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub uris: Vec<SipUri>,
    pub headers: Vec<SipHeader>,
    pub callbacks: LegCallbacks,
    pub machine_detection: AnsweringMachineDetection,
}

/// A `<Uri>` child: one of several URIs to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    pub uri: String,
    pub priority: Option<u32>,
    pub weight: Option<u32>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// A `<Header name value/>` inside `<Headers>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipHeader {
    pub name: String,
    pub value: String,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Sip {
    let element = validator.element(index);
    let mut a = validator.attributes(element);
    let username = a.string("username");
    let password = a.string("password");
    let callbacks = LegCallbacks::parse(&mut a, SIP_INVALID_ATTRIBUTE);
    let machine_detection = AnsweringMachineDetection::parse(&mut a, SIP_INVALID_ATTRIBUTE);
    a.finish();
    let mut sip = Sip {
        uri: String::new(),
        username,
        password,
        uris: vec![],
        headers: vec![],
        callbacks,
        machine_detection,
    };
    for child in element.children() {
        match child {
            Node::Text { text, .. } => sip.uri.push_str(text),
            Node::Element(child) => parse_child(validator, element, child, &mut sip),
        }
    }
    sip.uri = sip.uri.trim_ascii().to_owned();
    if sip.uris.is_empty() || !sip.uri.is_empty() {
        check_uri(validator, &sip.uri, element.offset);
    }
    sip
}

fn parse_child<'t, 'a>(
    validator: &mut Validator<'t, 'a>,
    parent: Element<'t, 'a>,
    index: usize,
    sip: &mut Sip,
) {
    let element = validator.element(index);
    match element.name {
        "Uri" => {
            let mut a = validator.attributes(element);
            let priority = a.optional_integer("priority", 0..=u32::MAX, SIP_INVALID_ATTRIBUTE);
            let weight = a.optional_integer("weight", 0..=u32::MAX, SIP_INVALID_ATTRIBUTE);
            let (username, password) = (a.string("username"), a.string("password"));
            a.finish();
            let uri = validator.text(element);
            check_uri(validator, &uri, element.offset);
            sip.uris.push(SipUri {
                uri,
                priority,
                weight,
                username,
                password,
            });
        }
        "Headers" => headers(validator, element, &mut sip.headers),
        _ => validator.unexpected(parent, index),
    }
}

/// The `<Header name value/>` children of `<Headers>`.
fn headers<'t, 'a>(
    validator: &mut Validator<'t, 'a>,
    element: Element<'t, 'a>,
    headers: &mut Vec<SipHeader>,
) {
    validator.attributes(element).finish();
    for header in validator.child_elements(element) {
        let header_element = validator.element(header);
        if header_element.name != "Header" {
            validator.unexpected(element, header);
            continue;
        }
        let mut a = validator.attributes(header_element);
        let name = a.string("name").unwrap_or_default();
        let value = a.string("value").unwrap_or_default();
        a.finish();
        validator.no_content(header_element);
        headers.push(SipHeader { name, value });
    }
}

/// `sip:` or `sips:` URI under 255 characters, headers (after `?`) under 1024.
fn check_uri(validator: &mut Validator<'_, '_>, uri: &str, offset: usize) {
    let (address, headers) = uri.split_once('?').unwrap_or((uri, ""));
    let scheme_ok = address.starts_with("sip:") || address.starts_with("sips:");
    if !scheme_ok
        || address.len() >= 255
        || headers.len() >= 1024
        || !crate::noun::plausible_url(uri)
    {
        let message = format!(
            "\"{}\" is not a SIP URI (sip:user@host, under 255 characters)",
            uri.escape_debug()
        );
        validator
            .findings
            .error(SIP_INVALID_ATTRIBUTE, offset, message);
    }
}

impl WriteXml for Sip {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Sip");
        e.opt("username", self.username.as_deref())
            .opt("password", self.password.as_deref());
        self.callbacks.write(&mut e);
        self.machine_detection.write(&mut e);
        if self.uris.is_empty() && self.headers.is_empty() {
            return e.text(&self.uri);
        }
        e.children(|writer| {
            writer.text(&self.uri);
            for uri in &self.uris {
                let mut u = writer.element("Uri");
                u.opt("priority", uri.priority).opt("weight", uri.weight);
                u.opt("username", uri.username.as_deref())
                    .opt("password", uri.password.as_deref())
                    .text(&uri.uri);
            }
            if !self.headers.is_empty() {
                writer.element("Headers").children(|writer| {
                    for header in &self.headers {
                        writer
                            .element("Header")
                            .attr("name", &header.name)
                            .attr("value", &header.value)
                            .empty();
                    }
                });
            }
        });
    }
}
