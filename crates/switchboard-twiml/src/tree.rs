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

/// An element of the document, its children in order.
#[derive(Debug)]
pub(crate) struct Element<'a> {
    pub name: &'a str,
    pub offset: usize,
    pub attributes: Vec<Attribute<'a>>,
    pub children: Vec<Node<'a>>,
}

/// One attribute with its value unescaped and normalised.
#[derive(Debug)]
pub(crate) struct Attribute<'a> {
    pub name: &'a str,
    pub value: Cow<'a, str>,
    pub offset: usize,
}

/// A child: an element (index into [`Tree::elements`]) or a run of character data.
#[derive(Debug)]
pub(crate) enum Node<'a> {
    Element(usize),
    Text { text: Cow<'a, str>, offset: usize },
}

/// A well-formed document; element 0 is the root.
#[derive(Debug)]
pub(crate) struct Tree<'a> {
    pub elements: Vec<Element<'a>>,
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
    let mut builder = Builder::new(input);
    builder.run()?;
    Ok(Tree {
        elements: builder.elements,
    })
}

struct Builder<'a> {
    input: &'a str,
    reader: Reader<&'a [u8]>,
    elements: Vec<Element<'a>>,
    /// Indices of the open elements, innermost last.
    open: Vec<usize>,
    root_closed: bool,
}

impl<'a> Builder<'a> {
    fn new(input: &'a str) -> Self {
        let mut reader = Reader::from_str(input);
        let config = reader.config_mut();
        config.enable_all_checks(true);
        config.expand_empty_elements = false;
        Builder {
            input,
            reader,
            elements: Vec::new(),
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
        if self.elements.len() >= MAX_ELEMENTS {
            return fail(
                offset,
                format!("the document has more than {MAX_ELEMENTS} elements"),
            );
        }
        let name = self.borrowed(tag.name().0);
        let attributes = self.attributes(tag, offset)?;
        let index = self.elements.len();
        self.elements.push(Element {
            name,
            offset,
            attributes,
            children: Vec::new(),
        });
        if let Some(&parent) = self.open.last() {
            self.elements[parent].children.push(Node::Element(index));
        }
        if empty {
            self.root_closed |= self.open.is_empty();
        } else {
            self.open.push(index);
        }
        Ok(())
    }

    fn attributes(
        &self,
        tag: &BytesStart<'a>,
        offset: usize,
    ) -> Result<Vec<Attribute<'a>>, XmlError> {
        let mut attributes = Vec::new();
        for attribute in tag.attributes().with_checks(true) {
            let Ok(attribute) = attribute else {
                return fail(offset, "malformed or duplicate attribute");
            };
            if attributes.len() == MAX_ATTRIBUTES {
                return fail(
                    offset,
                    format!("an element has more than {MAX_ATTRIBUTES} attributes"),
                );
            }
            let name = self.borrowed(attribute.key.0);
            let at = self.offset_of(name, offset);
            let Ok(value) = attribute.normalized_value(XmlVersion::Implicit1_0) else {
                return fail(
                    at,
                    format!(
                        "attribute `{name}` uses an undefined entity or a bad character reference"
                    ),
                );
            };
            let value = match value {
                Cow::Borrowed(text) => Cow::Borrowed(self.borrowed(text)),
                Cow::Owned(text) => Cow::Owned(text),
            };
            attributes.push(Attribute {
                name,
                value,
                offset: at,
            });
        }
        Ok(attributes)
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
        let children = &mut self.elements[parent].children;
        if let Some(Node::Text { text: previous, .. }) = children.last_mut() {
            previous.to_mut().push_str(&text);
        } else {
            children.push(Node::Text { text, offset });
        }
        Ok(())
    }

    fn reference(&mut self, reference: &BytesRef<'a>, offset: usize) -> Result<(), XmlError> {
        let resolved: Cow<'a, str> = match reference.resolve_char_ref() {
            Ok(Some(character)) => Cow::Owned(character.to_string()),
            Ok(None) => match resolve_predefined_entity(reference) {
                Some(text) => Cow::Borrowed(text),
                None => {
                    return fail(
                        offset,
                        format!(
                            "undefined entity `&{};` (entities are never expanded)",
                            &**reference
                        ),
                    );
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
            let element = &self.elements[innermost];
            return fail(
                element.offset,
                format!("element <{}> is never closed", element.name),
            );
        }
        if self.elements.is_empty() {
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
        assert_eq!(tree.elements[0].attributes[0].value, "<A");
        let Node::Text { text, .. } = &tree.elements[0].children[0] else {
            panic!("text")
        };
        assert_eq!(text, "x&B<c>");
    }

    #[test]
    fn refuses_malformed_documents() {
        for input in [
            "",
            "<r>",
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
