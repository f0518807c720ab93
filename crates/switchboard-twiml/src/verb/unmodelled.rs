//! Valid voice verbs outside this engine's scope (§7.1): recognised so they draw no false 12200
//! warning, kept as written (attributes and children) for the engine to refuse at run time.

use crate::keyword::keyword;
use crate::raw::{RawElement, convert};
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

keyword! {
    /// Which unmodelled verb.
    pub enum UnmodelledKind {
        Connect = "Connect",
        Start = "Start",
        Stop = "Stop",
        Pay = "Pay",
        Refer = "Refer",
        Echo = "Echo",
    }
}

/// An unmodelled verb and its content, unvalidated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnmodelledVerb {
    pub kind: UnmodelledKind,
    pub element: RawElement,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Option<UnmodelledVerb> {
    let name = validator.element(index).name;
    let kind = <UnmodelledKind as crate::keyword::Keyword>::from_keyword(name)?;
    Some(UnmodelledVerb {
        kind,
        element: convert(validator.tree, index),
    })
}

impl WriteXml for UnmodelledVerb {
    fn write_xml(&self, writer: &mut XmlWriter) {
        self.element.write_xml(writer);
    }
}
