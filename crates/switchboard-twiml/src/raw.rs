//! Elements kept as written: SSML inside `<Say>` and the recognised-but-unmodelled voice verbs
//! (`<Connect>`, `<Start>`, `<Stop>`, `<Pay>`, `<Refer>`, `<Echo>`).
//!
//! Nesting is bounded by the tree's depth cap (`MAX_DEPTH`), so the recursive conversion and
//! printing here never go deeper than that constant, whatever the input.

use crate::tree::{Node, Tree};
use crate::writer::{WriteXml, XmlWriter};

/// An element with its attributes (in document order) and children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawElement {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Content>,
}

/// A child of a [`RawElement`] or of `<Say>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Text(String),
    Element(RawElement),
}

impl RawElement {
    /// The element's text and its descendants' text, in order.
    pub fn text(&self) -> String {
        let mut out = String::new();
        push_text(&self.children, &mut out);
        out
    }
}

/// Appends all text under `content` to `out`, depth-first.
pub fn push_text(content: &[Content], out: &mut String) {
    let mut stack: Vec<std::slice::Iter<'_, Content>> = vec![content.iter()];
    while let Some(iter) = stack.last_mut() {
        match iter.next() {
            Some(Content::Text(text)) => out.push_str(text),
            Some(Content::Element(element)) => stack.push(element.children.iter()),
            None => {
                stack.pop();
            }
        }
    }
}

/// SSML elements that end a word wherever they stand.
const WORD_SEPARATORS: &[&str] = &["break", "p", "s", "paragraph", "sentence"];

/// The text under `content` as a plain-text speech engine should hear it: separators
/// (`<break>`, `<p>`, `<s>`) stand for a space, `<sub>` for its `alias`, inline elements
/// (`<emphasis>`, `<prosody>`, `<say-as>`, …) for their text, and whitespace is collapsed.
/// Iterative: the nesting depth comes from the input.
pub fn speakable_text(content: &[Content]) -> String {
    let mut raw = String::new();
    let mut stack: Vec<(std::slice::Iter<'_, Content>, bool)> = vec![(content.iter(), false)];
    while let Some((iter, separates)) = stack.last_mut() {
        let separates = *separates;
        match iter.next() {
            Some(Content::Text(text)) => raw.push_str(text),
            Some(Content::Element(element)) => {
                let separator = WORD_SEPARATORS.contains(&element.name.as_str());
                if separator {
                    raw.push(' ');
                }
                let alias = element.attributes.iter().find(|(name, _)| name == "alias");
                match alias.filter(|_| element.name == "sub") {
                    Some((_, alias)) => raw.push_str(alias),
                    None => stack.push((element.children.iter(), separator)),
                }
            }
            None => {
                stack.pop();
                if separates {
                    raw.push(' ');
                }
            }
        }
    }
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Converts element `index` of `tree` and everything below it, keeping non-blank text trimmed.
pub(crate) fn convert(tree: &Tree<'_>, index: usize) -> RawElement {
    let element = tree.element(index);
    let children = element
        .children()
        .filter_map(|child| match child {
            Node::Element(child) => Some(Content::Element(convert(tree, child))),
            Node::Text { text, .. } => {
                let text = text.trim_ascii();
                (!text.is_empty()).then(|| Content::Text(text.to_owned()))
            }
        })
        .collect();
    RawElement {
        name: element.name.to_owned(),
        attributes: element
            .attributes()
            .map(|a| (a.name.to_owned(), a.value.to_string()))
            .collect(),
        children,
    }
}

impl WriteXml for RawElement {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut element = writer.element_named(&self.name);
        for (name, value) in &self.attributes {
            element.attr(name, value);
        }
        if self.children.is_empty() {
            return element.empty();
        }
        element.children(|writer| write_content(&self.children, writer));
    }
}

/// Writes a list of children.
pub(crate) fn write_content(content: &[Content], writer: &mut XmlWriter) {
    for child in content {
        match child {
            Content::Text(text) => writer.text(text),
            Content::Element(element) => element.write_xml(writer),
        }
    }
}
