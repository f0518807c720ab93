//! The walk from a well-formed tree to a typed [`Document`]: document rules (§7.1), verb
//! dispatch per context, and the helpers every verb and noun uses to read its content.

use switchboard_core::error_code::{
    INVALID_TWIML_VERSION, INVALID_VERB_FOR_SMS_REPLY, REPLY_LIMIT_EXCEEDED,
    ROOT_ELEMENT_MUST_BE_RESPONSE, SCHEMA_VALIDATION_WARNING,
};

use crate::Context;
use crate::Document;
use crate::attributes::Attributes;
use crate::findings::Findings;
use crate::limits::MAX_MESSAGES;
use crate::tree::{Element, Node, Tree};
use crate::verb::{self, Verb};

/// Every verb name of voice TwiML, modelled or not (§7.1); `Message` is messaging-only.
pub(crate) const VOICE_VERBS: &[&str] = &[
    "Say", "Play", "Pause", "Gather", "Record", "Dial", "Hangup", "Redirect", "Reject", "Enqueue",
    "Leave", "Sms", "Connect", "Start", "Stop", "Pay", "Prompt", "Refer", "Echo",
];

/// TwiML versions `<Response version>` may name.
const VERSIONS: &[&str] = &["2010-04-01", "2008-08-01"];

/// State of one validation pass.
pub(crate) struct Validator<'t, 'a> {
    pub tree: &'t Tree<'a>,
    pub findings: Findings,
    pub context: Context,
    /// What the document uses that this engine does not run (`support`), apart from the
    /// findings that decide whether the document is valid.
    pub unsupported: Findings,
}

impl<'t, 'a> Validator<'t, 'a> {
    pub fn new(tree: &'t Tree<'a>, context: Context) -> Self {
        Validator {
            tree,
            findings: Findings::default(),
            context,
            unsupported: Findings::default(),
        }
    }

    #[inline]
    pub fn element(&self, index: usize) -> Element<'t, 'a> {
        let tree: &'t Tree<'a> = self.tree;
        tree.element(index)
    }

    pub fn attributes(&mut self, element: Element<'t, 'a>) -> Attributes<'_, 'a> {
        Attributes::new(element, &mut self.findings)
    }

    /// The element's text, trimmed; child elements draw a 12200 warning and are skipped.
    pub fn text(&mut self, element: Element<'t, 'a>) -> String {
        let mut only: Option<&'t str> = None;
        let mut joined: Option<String> = None;
        for child in element.children() {
            match child {
                Node::Text { text: part, .. } => match (&mut joined, only) {
                    (Some(joined), _) => joined.push_str(part),
                    (None, Some(first)) => joined = Some(format!("{first}{part}")),
                    (None, None) => only = Some(part),
                },
                Node::Element(index) => self.unexpected(element, index),
            }
        }
        match joined {
            Some(joined) => joined.trim_ascii().to_owned(),
            None => only.unwrap_or_default().trim_ascii().to_owned(),
        }
    }

    /// Warns (12200) about any text or child element inside an element that takes none.
    pub fn no_content(&mut self, element: Element<'t, 'a>) {
        for index in self.child_elements(element) {
            self.unexpected(element, index);
        }
    }

    /// Child elements of `element`; non-blank text between them draws a 12200 warning.
    pub fn child_elements(&mut self, element: Element<'t, 'a>) -> impl Iterator<Item = usize> + 't {
        for child in element.children() {
            if let Node::Text { text, offset } = child
                && !self.findings.warnings_full()
                && !text.trim_ascii().is_empty()
            {
                let message = format!(
                    "text is not allowed directly inside <{}>; it is ignored",
                    element.name
                );
                self.findings
                    .warning(SCHEMA_VALIDATION_WARNING, offset, message);
            }
        }
        element.children().filter_map(|child| match child {
            Node::Element(index) => Some(index),
            Node::Text { .. } => None,
        })
    }

    /// How many child elements `element` has.
    pub fn child_elements_count(&self, element: Element<'t, 'a>) -> usize {
        element
            .children()
            .filter(|child| matches!(child, Node::Element(_)))
            .count()
    }

    /// Warns (12200) that `child` is not expected inside `parent` and is skipped.
    pub fn unexpected(&mut self, parent: Element<'_, '_>, child: usize) {
        let child = self.tree.element(child);
        if self.findings.warnings_full() {
            return;
        }
        let message = format!(
            "<{}> is not allowed inside <{}>; it is ignored",
            child.name, parent.name
        );
        self.findings
            .warning(SCHEMA_VALIDATION_WARNING, child.offset, message);
    }
}

/// Validates the whole tree.
// `#[inline]` here, on the three helpers below, on `Validator::element` and on `verb::parse`:
// they were inlined into `crate::parse` only while they happened to share its codegen unit, and
// splitting `tree.rs` into three files moved the units apart (0.2% to 0.4% more instructions
// per parse, `examples/parse_count.rs`).
#[inline]
pub(crate) fn document(validator: &mut Validator<'_, '_>) -> Document {
    let root = validator.element(0);
    if root.name != "Response" {
        let message = format!(
            "the root element is <{}>; TwiML documents must start with <Response>",
            root.name
        );
        validator
            .findings
            .error(ROOT_ELEMENT_MUST_BE_RESPONSE, root.offset, message);
        return Document::default();
    }
    response_attributes(validator, root);
    // Sized once: a Verb is a few hundred bytes, and regrowing a large Vec showed in profiles.
    let mut verbs = Vec::with_capacity(validator.child_elements_count(root));
    let mut messages = 0;
    for index in validator.child_elements(root) {
        count_message(validator, index, &mut messages);
        top_level_verb(validator, index, &mut verbs);
    }
    Document { verbs }
}

#[inline]
fn response_attributes<'t, 'a>(validator: &mut Validator<'t, 'a>, root: Element<'t, 'a>) {
    let mut attributes = validator.attributes(root);
    let version = attributes.string("version");
    attributes.finish();
    if let Some(version) = version.filter(|version| !VERSIONS.contains(&version.as_str())) {
        let message = format!("TwiML version \"{version}\" is not supported (use 2010-04-01)");
        validator
            .findings
            .error(INVALID_TWIML_VERSION, root.offset, message);
    }
}

/// Appends element `index` to `verbs` when it is a verb of the context; records why not otherwise.
#[inline]
fn top_level_verb(validator: &mut Validator<'_, '_>, index: usize, verbs: &mut Vec<Verb>) {
    let element = validator.element(index);
    let messaging = validator.context == Context::Messaging;
    if messaging
        && !matches!(element.name, "Message" | "Sms" | "Redirect")
        && VOICE_VERBS.contains(&element.name)
    {
        let message = format!(
            "<{}> is a voice verb; a messaging response may only use <Message> and <Redirect>",
            element.name
        );
        validator
            .findings
            .error(INVALID_VERB_FOR_SMS_REPLY, element.offset, message);
        return;
    }
    if !verb::parse(validator, index, verbs) {
        let context = match validator.context {
            Context::Voice => "voice",
            Context::Messaging => "messaging",
        };
        if validator.findings.warnings_full() {
            return;
        }
        let message = format!(
            "<{}> is not a {context} TwiML verb; it is ignored",
            element.name
        );
        validator
            .findings
            .warning(SCHEMA_VALIDATION_WARNING, element.offset, message);
    }
}

#[inline]
fn count_message(validator: &mut Validator<'_, '_>, index: usize, count: &mut usize) {
    let element = validator.element(index);
    if validator.context != Context::Messaging || element.name != "Message" {
        return;
    }
    *count += 1;
    if *count == MAX_MESSAGES + 1 {
        let message = format!("a response may send at most {MAX_MESSAGES} <Message> replies");
        validator
            .findings
            .error(REPLY_LIMIT_EXCEEDED, element.offset, message);
    }
}
