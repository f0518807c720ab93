//! The hardened XML layer: bytes in, a borrowed element tree out, or one 12100 finding.
//!
//! quick-xml's plain `Reader` streams events; this module adds what TwiML needs on top
//! (ecosystem.md §3): no DOCTYPE, no entities beyond the five predefined ones and character
//! references (nothing is ever expanded or fetched), bounded depth, element count and attribute
//! count, UTF-8 only. The tree is built iteratively with an explicit stack, so deep input cannot
//! exhaust the call stack. Names and most text borrow from the input.

use std::borrow::Cow;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesDecl, BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use crate::limits::{MAX_ATTRIBUTES, MAX_DEPTH, MAX_ELEMENTS};

/// No element or node.
const NONE: usize = usize::MAX;

/// An element as stored: attributes and children live in the tree's flat arrays, so building
/// the tree costs no allocation per element.
#[derive(Debug)]
struct StoredElement<'a> {
    name: &'a str,
    offset: usize,
    attributes: (usize, usize),
    first_child: usize,
    last_child: usize,
}

/// A child in an element's singly linked list of children.
#[derive(Debug)]
struct LinkedNode<'a> {
    node: Node<'a>,
    next: usize,
}

/// A view of one element of a [`Tree`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Element<'t, 'a> {
    tree: &'t Tree<'a>,
    pub name: &'a str,
    pub offset: usize,
    pub attributes: &'t [Attribute<'a>],
    first_child: usize,
}

impl<'t, 'a> Element<'t, 'a> {
    /// The element's children in document order.
    pub fn children(self) -> Children<'t, 'a> {
        Children {
            tree: self.tree,
            next: self.first_child,
        }
    }
}

/// Iterator over the children of an element.
pub(crate) struct Children<'t, 'a> {
    tree: &'t Tree<'a>,
    next: usize,
}

impl<'t, 'a> Iterator for Children<'t, 'a> {
    type Item = &'t Node<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let linked = self.tree.nodes.get(self.next)?;
        self.next = linked.next;
        Some(&linked.node)
    }
}

/// One attribute with its value unescaped and normalised.
#[derive(Debug)]
pub(crate) struct Attribute<'a> {
    pub name: &'a str,
    pub value: Cow<'a, str>,
    pub offset: usize,
}

/// A child: an element (index into the tree) or a run of character data.
#[derive(Debug)]
pub(crate) enum Node<'a> {
    Element(usize),
    Text { text: Cow<'a, str>, offset: usize },
}

/// A well-formed document; element 0 is the root.
#[derive(Debug, Default)]
pub(crate) struct Tree<'a> {
    elements: Vec<StoredElement<'a>>,
    attributes: Vec<Attribute<'a>>,
    nodes: Vec<LinkedNode<'a>>,
}

impl<'a> Tree<'a> {
    /// Element `index`. Indices come from this tree (0 is the root, children name the rest),
    /// so they are always in range.
    pub fn element<'t>(&'t self, index: usize) -> Element<'t, 'a> {
        let stored = &self.elements[index];
        Element {
            tree: self,
            name: stored.name,
            offset: stored.offset,
            attributes: &self.attributes[stored.attributes.0..stored.attributes.1],
            first_child: stored.first_child,
        }
    }

    fn append(&mut self, parent: usize, node: Node<'a>) {
        let index = self.nodes.len();
        self.nodes.push(LinkedNode { node, next: NONE });
        let parent = &mut self.elements[parent];
        match parent.last_child {
            NONE => parent.first_child = index,
            last => self.nodes[last].next = index,
        }
        parent.last_child = index;
    }

    fn last_text(&mut self, parent: usize) -> Option<&mut Cow<'a, str>> {
        match self.nodes.get_mut(self.elements[parent].last_child) {
            Some(LinkedNode {
                node: Node::Text { text, .. },
                ..
            }) => Some(text),
            _ => None,
        }
    }
}

/// Why the input is not acceptable XML (always 12100).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct XmlError {
    pub offset: usize,
    pub message: String,
}

fn fail<T>(offset: usize, message: impl Into<String>) -> Result<T, XmlError> {
    Err(XmlError {
        offset,
        message: message.into(),
    })
}

/// Parses `input` (already known to be UTF-8 and under the size cap) into a tree.
pub(crate) fn parse(input: &str) -> Result<Tree<'_>, XmlError> {
    if input
        .strip_prefix('\u{feff}')
        .is_some_and(|rest| rest.starts_with("<?xml"))
    {
        return fail(
            0,
            "a byte-order mark before the XML declaration is not allowed",
        );
    }
    let counts = prescan(input);
    if counts.controls > 0 {
        let offset = input
            .bytes()
            .position(|byte| is_control(char::from(byte)))
            .unwrap_or(0);
        return fail(offset, "control characters are not allowed in XML");
    }
    let mut builder = Builder::new(input, &counts);
    builder.run()?;
    Ok(builder.tree)
}

struct Builder<'a> {
    input: &'a str,
    reader: Reader<&'a [u8]>,
    tree: Tree<'a>,
    /// Indices of the open elements, innermost last.
    open: Vec<usize>,
    root_closed: bool,
}

impl<'a> Builder<'a> {
    fn new(input: &'a str, counts: &Counts) -> Self {
        let mut reader = Reader::from_str(input);
        let config = reader.config_mut();
        config.enable_all_checks(true);
        config.expand_empty_elements = false;
        // Upper bounds from one cheap pass: every element starts with `<` and every attribute
        // has an `=`, so the arrays never grow (growth of large arrays dominated the profile).
        let tree = Tree {
            elements: Vec::with_capacity(counts.tags),
            attributes: Vec::with_capacity(counts.equals),
            nodes: Vec::with_capacity(2 * counts.tags + 1),
        };
        Builder {
            input,
            reader,
            tree,
            open: Vec::new(),
            root_closed: false,
        }
    }

    fn run(&mut self) -> Result<(), XmlError> {
        loop {
            let start = position(self.reader.buffer_position());
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(error) => {
                    let offset = position(self.reader.error_position());
                    return fail(
                        offset,
                        format!("the document is not well-formed XML: {error}"),
                    );
                }
            };
            match event {
                Event::Start(tag) => self.start(&tag, start, false)?,
                Event::Empty(tag) => self.start(&tag, start, true)?,
                Event::End(_) => self.end(),
                Event::Text(text) => self.text(text.xml10_content(), start)?,
                Event::CData(data) => self.text(data.xml10_content(), start)?,
                Event::GeneralRef(reference) => self.reference(&reference, start)?,
                Event::Decl(decl) => declaration(&decl, start)?,
                Event::DocType(_) => {
                    return fail(start, "DOCTYPE declarations are not allowed in TwiML");
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => return self.finish(),
            }
        }
    }

    fn start(&mut self, tag: &BytesStart<'a>, offset: usize, empty: bool) -> Result<(), XmlError> {
        if self.root_closed {
            return fail(offset, "only one root element is allowed");
        }
        if self.open.len() >= MAX_DEPTH {
            return fail(
                offset,
                format!("elements are nested deeper than {MAX_DEPTH} levels"),
            );
        }
        if self.tree.elements.len() >= MAX_ELEMENTS {
            return fail(
                offset,
                format!("the document has more than {MAX_ELEMENTS} elements"),
            );
        }
        let name = self.borrowed(tag.name().0);
        if !valid_name(name) {
            return fail(
                offset,
                format!("`{}` is not a valid element name", name.escape_debug()),
            );
        }
        let first_attribute = self.tree.attributes.len();
        self.attributes(tag, offset)?;
        let attributes = (first_attribute, self.tree.attributes.len());
        let index = self.tree.elements.len();
        let stored = StoredElement {
            name,
            offset,
            attributes,
            first_child: NONE,
            last_child: NONE,
        };
        self.tree.elements.push(stored);
        if let Some(&parent) = self.open.last() {
            self.tree.append(parent, Node::Element(index));
        }
        if empty {
            self.root_closed |= self.open.is_empty();
        } else {
            self.open.push(index);
        }
        Ok(())
    }

    /// Appends the attributes of `tag` to the tree.
    fn attributes(&mut self, tag: &BytesStart<'a>, offset: usize) -> Result<(), XmlError> {
        let first = self.tree.attributes.len();
        // Duplicates are checked here against the element's attributes already stored (at most
        // MAX_ATTRIBUTES, so this stays linear in the input): quick-xml's own check allocates a
        // vector of names per element.
        for (count, attribute) in tag.attributes().with_checks(false).enumerate() {
            let Ok(attribute) = attribute else {
                return fail(offset, "malformed or duplicate attribute");
            };
            let key = attribute.key.0;
            if self.tree.attributes[first..]
                .iter()
                .any(|previous| previous.name == key)
            {
                return fail(offset, "malformed or duplicate attribute");
            }
            if count == MAX_ATTRIBUTES {
                return fail(
                    offset,
                    format!("an element has more than {MAX_ATTRIBUTES} attributes"),
                );
            }
            let name = self.borrowed(attribute.key.0);
            let at = self.offset_of(name, offset);
            if !valid_name(name) {
                return fail(
                    at,
                    format!("`{}` is not a valid attribute name", name.escape_debug()),
                );
            }
            let Ok(value) = attribute.normalized_value(XmlVersion::Implicit1_0) else {
                let message = format!(
                    "attribute `{name}` uses an undefined entity or a bad character reference"
                );
                return fail(at, message);
            };
            // The prescan found no control character in the input, so only a character
            // reference (which makes the value owned) can have produced one.
            if matches!(value, Cow::Owned(_)) && value.chars().any(is_control) {
                return fail(
                    at,
                    format!("attribute `{name}` refers to a control character"),
                );
            }
            let value = match value {
                Cow::Borrowed(text) => Cow::Borrowed(self.borrowed(text)),
                Cow::Owned(text) => Cow::Owned(text),
            };
            self.tree.attributes.push(Attribute {
                name,
                value,
                offset: at,
            });
        }
        Ok(())
    }

    fn end(&mut self) {
        // quick-xml checks that end names match (`check_end_names`), so an End always closes
        // the innermost open element.
        self.open.pop();
        self.root_closed |= self.open.is_empty();
    }

    fn text(&mut self, text: Cow<'a, str>, offset: usize) -> Result<(), XmlError> {
        if text.is_empty() {
            return Ok(());
        }
        let Some(&parent) = self.open.last() else {
            if text.trim_ascii().is_empty() {
                return Ok(());
            }
            return fail(offset, "text is not allowed outside the root element");
        };
        if let Some(previous) = self.tree.last_text(parent) {
            previous.to_mut().push_str(&text);
        } else {
            self.tree.append(parent, Node::Text { text, offset });
        }
        Ok(())
    }

    fn reference(&mut self, reference: &BytesRef<'a>, offset: usize) -> Result<(), XmlError> {
        let resolved: Cow<'a, str> = match reference.resolve_char_ref() {
            Ok(Some(character)) if !is_control(character) => Cow::Owned(character.to_string()),
            Ok(Some(_)) => {
                return fail(
                    offset,
                    "character references to control characters are not allowed",
                );
            }
            Ok(None) => match resolve_predefined_entity(reference) {
                Some(text) => Cow::Borrowed(text),
                None => {
                    let message = format!(
                        "undefined entity `&{};` (entities are never expanded)",
                        &**reference
                    );
                    return fail(offset, message);
                }
            },
            Err(_) => {
                return fail(
                    offset,
                    format!("invalid character reference `&{};`", &**reference),
                );
            }
        };
        self.text(resolved, offset)
    }

    fn finish(&self) -> Result<(), XmlError> {
        if let Some(&innermost) = self.open.last() {
            let element = &self.tree.elements[innermost];
            return fail(
                element.offset,
                format!("element <{}> is never closed", element.name),
            );
        }
        if self.tree.elements.is_empty() {
            return fail(self.input.len(), "the document has no root element");
        }
        Ok(())
    }

    /// Re-borrows a slice of an event as the same slice of the input, so the tree outlives the
    /// reader's events. The slice reader always borrows names and raw values from the input;
    /// should that ever change, the empty string keeps the parser total instead of panicking.
    fn borrowed(&self, slice: &str) -> &'a str {
        match self.offset_in_input(slice) {
            Some(start) => &self.input[start..start + slice.len()],
            None => "",
        }
    }

    fn offset_of(&self, slice: &str, fallback: usize) -> usize {
        self.offset_in_input(slice).unwrap_or(fallback)
    }

    fn offset_in_input(&self, slice: &str) -> Option<usize> {
        let base = self.input.as_ptr() as usize;
        let start = (slice.as_ptr() as usize).checked_sub(base)?;
        let inside = start + slice.len() <= self.input.len();
        (inside && self.input.is_char_boundary(start)).then_some(start)
    }
}

fn declaration(decl: &BytesDecl<'_>, offset: usize) -> Result<(), XmlError> {
    if offset != 0 {
        return fail(
            offset,
            "the XML declaration must be the very first bytes of the body",
        );
    }
    match decl.version() {
        Ok(version) if &*version == "1.0" => {}
        _ => return fail(offset, "the XML declaration must say version=\"1.0\""),
    }
    match decl.encoding() {
        None => Ok(()),
        Some(Ok(encoding)) if encoding.eq_ignore_ascii_case("utf-8") => Ok(()),
        Some(_) => fail(offset, "TwiML must be encoded as UTF-8"),
    }
}

/// Characters XML 1.0 forbids (C0 controls other than tab, line feed and carriage return).
fn is_control(character: char) -> bool {
    character < ' ' && !matches!(character, '\t' | '\n' | '\r')
}

/// An XML name (simplified to ASCII letters, digits, `_ : . -` and any non-ASCII character,
/// not starting with a digit, `.` or `-`), so that printed names always parse back the same.
fn valid_name(name: &str) -> bool {
    // Bytes of non-ASCII characters are all >= 0x80, so checking bytes accepts them whole.
    let bytes = name.as_bytes();
    bytes
        .first()
        .is_some_and(|&b| NAME_BYTES[usize::from(b)] == NAME_START)
        && bytes
            .iter()
            .all(|&b| NAME_BYTES[usize::from(b)] != NOT_IN_NAME)
}

const NOT_IN_NAME: u8 = 0;
const NAME_START: u8 = 1;
const NAME_REST: u8 = 2;

/// What each byte may be in a name, as a table: names are checked for every element and
/// attribute, and a lookup is cheaper than the chain of range tests.
const NAME_BYTES: [u8; 256] = {
    let mut table = [NOT_IN_NAME; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = if b.is_ascii_alphabetic() || b == b'_' || b == b':' || !b.is_ascii() {
            NAME_START
        } else if b.is_ascii_digit() || b == b'.' || b == b'-' {
            NAME_REST
        } else {
            NOT_IN_NAME
        };
        byte += 1;
    }
    table
};

/// Byte counts from one pass over the input.
struct Counts {
    /// `<` bytes: at least the number of elements.
    tags: usize,
    /// `=` bytes: at least the number of attributes.
    equals: usize,
    /// Control characters XML forbids.
    controls: usize,
}

/// Counts in one pass. Per-chunk `u8` counters (at most 255 per chunk, so they cannot overflow)
/// let the compiler vectorise this into byte compares and byte adds.
fn prescan(input: &str) -> Counts {
    let mut counts = Counts {
        tags: 0,
        equals: 0,
        controls: 0,
    };
    for chunk in input.as_bytes().chunks(255) {
        let (mut tags, mut equals, mut controls) = (0u8, 0u8, 0u8);
        for &byte in chunk {
            tags += u8::from(byte == b'<');
            equals += u8::from(byte == b'=');
            controls += u8::from(byte < 0x20 && byte != b'\t' && byte != b'\n' && byte != b'\r');
        }
        counts.tags += usize::from(tags);
        counts.equals += usize::from(equals);
        counts.controls += usize::from(controls);
    }
    counts
}

fn position(offset: u64) -> usize {
    usize::try_from(offset).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(input: &str) -> XmlError {
        parse(input).expect_err("should be rejected")
    }

    #[test]
    fn refuses_doctype_and_unknown_entities() {
        assert!(
            error("<!DOCTYPE r [<!ENTITY a \"b\">]><r>&a;</r>")
                .message
                .contains("DOCTYPE")
        );
        assert!(error("<r>&a;</r>").message.contains("undefined entity"));
        assert!(error("<r a=\"&a;\"/>").message.contains("undefined entity"));
    }

    #[test]
    fn resolves_predefined_entities_and_character_references() {
        let tree = parse("<r a=\"&lt;&#65;\">x&amp;&#x42;<![CDATA[<c>]]></r>").expect("valid");
        let root = tree.element(0);
        assert_eq!(root.attributes[0].value, "<A");
        let Some(Node::Text { text, .. }) = root.children().next() else {
            panic!("text")
        };
        assert_eq!(text, "x&B<c>");
    }

    #[test]
    fn refuses_malformed_documents() {
        for input in [
            "",
            "<r>",
            "<r>\u{0}</r>",
            "<r a\u{5}b=\"\"/>",
            "<r>&#5;</r>",
            "<r a=\"&#11;\"/>",
            "<1r/>",
            "<r></s>",
            "<r/><r/>",
            "x<r/>",
            "<r a=b/>",
            "<r a='1' a='2'/>",
            " <?xml version=\"1.0\"?><r/>",
        ] {
            error(input);
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(error(&deep).message.contains("nested deeper"));
    }
}
