//! The hardened XML layer: bytes in, a borrowed element tree out, or one 12100 finding.
//!
//! This is a single-pass scanner written for TwiML, not a general XML parser. It accepts plain
//! XML 1.0 (elements, attributes, text, CDATA, comments, processing instructions, the XML
//! declaration) and refuses everything else: no DOCTYPE, no entities beyond the five predefined
//! ones and character references (nothing is ever expanded or fetched), bounded depth, element
//! count and attribute count, UTF-8 only. Nesting is tracked with a fixed-size stack, so deep
//! input cannot exhaust the call stack, and every byte is looked at a bounded number of times,
//! so the time is linear in the input. Names and most text borrow from the input.
//!
//! Why not quick-xml here (ecosystem.md §3 chose it, and it is still the benchmark's baseline and
//! the oracle the fuzz target and the tests compare this scanner with): issue 3 asks for the
//! whole parse and validation within 2x of a bare quick-xml event scan, and building this tree
//! on top of quick-xml's events alone cost 1.5x that scan. quick-xml checks UTF-8 again for
//! every event (the body was checked once already), re-scans every start tag to iterate its
//! attributes, keeps its own growing buffer of open names, and hands out events we then copy
//! into the tree. Scanning once into the flat arrays below does the same checks in one pass.
//!
//! The module is split by concern. This file is the flat tree: its stored arrays, the views
//! the validators read and the error type. `scanner.rs` is the single pass that builds it
//! (markup, tags, nesting, text nodes) and holds `parse`, the entry point, re-exported here, so
//! that the scan loop stays inlined into it. `lexical.rs` holds XML's lexical rules as the
//! scanner applies them (character and name classes, references, attribute values, end-of-line
//! handling, the XML declaration and the counting prescan). `oracle.rs` checks the scanner
//! against quick-xml. `Tree::append` and `Tree::extend_last_text` run for every node the
//! scanner adds, so they are `#[inline]` for the reason `lexical.rs` gives.

mod lexical;
mod scanner;

#[cfg(test)]
mod oracle;

pub(crate) use scanner::parse;

/// No element or node.
const NONE: u32 = u32::MAX;

/// A run of text: a slice of the input, or (with [`IN_BUFFER`] set in `start`) of the tree's
/// buffer of text that had to be rewritten (references resolved, line ends normalised, runs
/// merged). Four bytes each: the input is at most 64 KiB, and the buffer at most twice that.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    len: u32,
}

const IN_BUFFER: u32 = 1 << 31;

/// An element as stored: attributes and children live in the tree's flat arrays, so building
/// the tree costs no allocation per element, and nothing in it needs dropping.
#[derive(Debug)]
struct StoredElement<'a> {
    name: &'a str,
    offset: u32,
    attributes: (u32, u32),
    first_child: u32,
    last_child: u32,
}

#[derive(Debug)]
struct StoredAttribute<'a> {
    name: &'a str,
    value: Span,
    offset: u32,
}

/// A child in an element's singly linked list of children: text, or (when `element` is not
/// [`NONE`]) the element with that index.
#[derive(Debug)]
struct LinkedNode {
    text: Span,
    element: u32,
    offset: u32,
    next: u32,
}

/// A view of one element of a [`Tree`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Element<'t, 'a> {
    tree: &'t Tree<'a>,
    pub name: &'a str,
    pub offset: usize,
    stored_attributes: &'t [StoredAttribute<'a>],
    first_child: u32,
}

impl<'t, 'a> Element<'t, 'a> {
    /// The element's children in document order.
    pub fn children(self) -> Children<'t, 'a> {
        Children {
            tree: self.tree,
            next: self.first_child,
        }
    }

    /// How many children the element has (without reading them).
    pub fn child_count(self) -> usize {
        let mut count = 0;
        let mut next = self.first_child;
        while let Some(linked) = self.tree.nodes.get(next as usize) {
            count += 1;
            next = linked.next;
        }
        count
    }

    /// The element's attributes in document order.
    pub fn attributes(self) -> impl ExactSizeIterator<Item = Attribute<'t>> + 't {
        let tree = self.tree;
        self.stored_attributes
            .iter()
            .map(move |stored| tree.attribute(stored))
    }

    /// How many attributes the element has.
    pub fn attribute_count(self) -> usize {
        self.stored_attributes.len()
    }

    /// The position of the attribute called `name`. Validators look up every attribute a verb
    /// takes, so most comparisons fail: the length and first byte settle those without `memcmp`.
    pub fn attribute_index(self, name: &str) -> Option<usize> {
        let first = name.as_bytes().first();
        self.stored_attributes.iter().position(|stored| {
            stored.name.len() == name.len()
                && stored.name.as_bytes().first() == first
                && stored.name == name
        })
    }

    /// Attribute `index` (from [`Self::attribute_index`]).
    pub fn attribute(self, index: usize) -> Option<Attribute<'t>> {
        let stored = self.stored_attributes.get(index)?;
        Some(self.tree.attribute(stored))
    }
}

/// Iterator over the children of an element.
pub(crate) struct Children<'t, 'a> {
    tree: &'t Tree<'a>,
    next: u32,
}

impl<'t, 'a> Iterator for Children<'t, 'a> {
    type Item = Node<'t>;

    fn next(&mut self) -> Option<Self::Item> {
        let linked = self.tree.nodes.get(self.next as usize)?;
        self.next = linked.next;
        Some(match linked.element {
            NONE => Node::Text {
                text: self.tree.text(linked.text),
                offset: linked.offset as usize,
            },
            element => Node::Element(element as usize),
        })
    }
}

/// One attribute with its value unescaped and normalised.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attribute<'t> {
    pub name: &'t str,
    pub value: &'t str,
    pub offset: usize,
}

/// A child: an element (index into the tree) or a run of character data.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Node<'t> {
    Element(usize),
    Text { text: &'t str, offset: usize },
}

/// A well-formed document; element 0 is the root.
#[derive(Debug, Default)]
pub(crate) struct Tree<'a> {
    input: &'a str,
    /// Text that is not a slice of the input.
    buffer: String,
    elements: Vec<StoredElement<'a>>,
    attributes: Vec<StoredAttribute<'a>>,
    nodes: Vec<LinkedNode>,
}

impl<'a> Tree<'a> {
    /// Element `index`. Indices come from this tree (0 is the root, children name the rest),
    /// so they are always in range.
    pub fn element<'t>(&'t self, index: usize) -> Element<'t, 'a> {
        let stored = &self.elements[index];
        let (first, end) = stored.attributes;
        Element {
            tree: self,
            name: stored.name,
            offset: stored.offset as usize,
            stored_attributes: self
                .attributes
                .get(first as usize..end as usize)
                .unwrap_or_default(),
            first_child: stored.first_child,
        }
    }

    fn attribute<'t>(&'t self, stored: &StoredAttribute<'a>) -> Attribute<'t> {
        Attribute {
            name: stored.name,
            value: self.text(stored.value),
            offset: stored.offset as usize,
        }
    }

    /// The text of `span`. Spans come from this tree, so they are always in range; should
    /// that ever not hold, the empty string keeps the parser total instead of panicking.
    fn text(&self, span: Span) -> &str {
        let (source, start) = match span.start & IN_BUFFER {
            0 => (self.input, span.start),
            _ => (self.buffer.as_str(), span.start & !IN_BUFFER),
        };
        let start = start as usize;
        source.get(start..start + span.len as usize).unwrap_or("")
    }

    /// A span for `text`: borrowed when it is a slice of the input, else copied to the buffer.
    fn span(&mut self, text: &str) -> Span {
        let base = self.input.as_ptr() as usize;
        let at = (text.as_ptr() as usize).wrapping_sub(base);
        if at <= self.input.len() && text.len() <= self.input.len() - at {
            return Span {
                start: at as u32,
                len: text.len() as u32,
            };
        }
        let start = self.buffer.len() as u32 | IN_BUFFER;
        self.buffer.push_str(text);
        Span {
            start,
            len: text.len() as u32,
        }
    }

    #[inline]
    fn append(&mut self, parent: usize, text: Span, element: u32, offset: usize) {
        let index = self.nodes.len() as u32;
        self.nodes.push(LinkedNode {
            text,
            element,
            offset: offset as u32,
            next: NONE,
        });
        let parent = &mut self.elements[parent];
        match parent.last_child {
            NONE => parent.first_child = index,
            last => self.nodes[last as usize].next = index,
        }
        parent.last_child = index;
    }

    /// Appends `text` to the text node that is the last child of `parent`, if there is one.
    #[inline]
    fn extend_last_text(&mut self, parent: usize, text: &str) -> bool {
        let last = self.elements[parent].last_child;
        let Some(node) = self.nodes.get(last as usize) else {
            return false;
        };
        if node.element != NONE {
            return false;
        }
        let mut span = node.text;
        if span.start & IN_BUFFER == 0 {
            // First merge: move the text to the end of the buffer. Text nodes only merge with
            // what immediately follows them in the input, and nothing else is added to the
            // buffer in between, so a node already in the buffer is always at its end.
            let start = span.start as usize;
            let copied = self
                .input
                .get(start..start + span.len as usize)
                .unwrap_or("");
            span.start = self.buffer.len() as u32 | IN_BUFFER;
            self.buffer.push_str(copied);
        }
        self.buffer.push_str(text);
        span.len += text.len() as u32;
        self.nodes[last as usize].text = span;
        true
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
