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

use std::borrow::Cow;

use crate::limits::{MAX_ATTRIBUTES, MAX_DEPTH, MAX_ELEMENTS};
use crate::stop_bytes::find_below_or;

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

const BOM: &str = "\u{feff}";

/// Parses `input` (already known to be UTF-8 and under the size cap) into a tree.
pub(crate) fn parse(input: &str) -> Result<Tree<'_>, XmlError> {
    let start = match input.strip_prefix(BOM) {
        Some(rest) if rest.starts_with("<?xml") => {
            return fail(
                0,
                "a byte-order mark before the XML declaration is not allowed",
            );
        }
        Some(_) => BOM.len(),
        None => 0,
    };
    let counts = prescan(input);
    if counts.controls > 0 {
        let offset = input
            .bytes()
            .position(|byte| is_control(char::from(byte)))
            .unwrap_or(0);
        return fail(offset, "control characters are not allowed in XML");
    }
    let mut scanner = Scanner {
        input,
        bytes: input.as_bytes(),
        pos: start,
        // Upper bounds from one cheap pass: every element starts with `<` and every attribute
        // has an `=`, so the arrays never grow (growth of large arrays dominated the profile).
        tree: Tree {
            input,
            buffer: String::new(),
            elements: Vec::with_capacity(counts.tags),
            attributes: Vec::with_capacity(counts.equals),
            nodes: Vec::with_capacity(2 * counts.tags + 1),
        },
        open: [0; MAX_DEPTH],
        depth: 0,
        root_closed: false,
        returns: counts.returns > 0,
        brackets: counts.brackets > 0,
    };
    scanner.run()?;
    Ok(scanner.tree)
}

/// The scanner's state: the input, the read position, the tree so far and the open elements.
struct Scanner<'a> {
    input: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tree: Tree<'a>,
    /// Indices of the open elements, innermost at `depth - 1`.
    open: [usize; MAX_DEPTH],
    depth: usize,
    root_closed: bool,
    /// Whether the input has any `\r` (else text needs no end-of-line handling).
    returns: bool,
    /// Whether the input has any `]` (else no text can contain `]]>`).
    brackets: bool,
}

impl<'a> Scanner<'a> {
    fn run(&mut self) -> Result<(), XmlError> {
        while let Some(&byte) = self.bytes.get(self.pos) {
            match byte {
                b'<' => self.markup()?,
                b'&' => self.text_reference()?,
                _ => self.text_run()?,
            }
        }
        self.finish()
    }

    /// The innermost open element.
    fn parent(&self) -> Option<usize> {
        self.depth.checked_sub(1).map(|top| self.open[top])
    }

    /// Character data up to the next `<` or `&`.
    fn text_run(&mut self) -> Result<(), XmlError> {
        let start = self.pos;
        let end = memchr::memchr2(b'<', b'&', &self.bytes[start..])
            .map_or(self.bytes.len(), |n| start + n);
        self.pos = end;
        let raw = &self.input[start..end];
        if self.brackets
            && let Some(at) = raw.find("]]>")
        {
            return fail(start + at, "`]]>` is not allowed in text");
        }
        if !self.returns {
            return self.text(raw, start, true);
        }
        match normalize_text_eols(raw) {
            Cow::Borrowed(raw) => self.text(raw, start, true),
            Cow::Owned(normalized) => self.text(&normalized, start, false),
        }
    }

    /// `&…;` in character data.
    fn text_reference(&mut self) -> Result<(), XmlError> {
        let start = self.pos;
        let (resolved, end) = match reference(self.input, start) {
            Ok(found) => found,
            Err(Refused::Control) => {
                return fail(
                    start,
                    "character references to control characters are not allowed",
                );
            }
            Err(Refused::Unterminated) => {
                return fail(
                    start,
                    "`&` must start an entity or character reference ending in `;`",
                );
            }
            Err(Refused::Undefined(name)) => {
                let message = format!("undefined entity `&{name};` (entities are never expanded)");
                return fail(start, message);
            }
            Err(Refused::BadCharacter(name)) => {
                return fail(start, format!("invalid character reference `&{name};`"));
            }
        };
        self.pos = end;
        self.text(&resolved, start, false)
    }

    /// Character data `text`, found at `offset`. `at_offset` says `text` is the slice of the
    /// input that starts at `offset` (a plain text run, the usual case), so its span is known
    /// without working it out from the pointer.
    fn text(&mut self, text: &str, offset: usize, at_offset: bool) -> Result<(), XmlError> {
        if text.is_empty() {
            return Ok(());
        }
        let Some(parent) = self.parent() else {
            if text.trim_ascii().is_empty() {
                return Ok(());
            }
            return fail(offset, "text is not allowed outside the root element");
        };
        if !self.tree.extend_last_text(parent, text) {
            let span = match at_offset {
                true => Span {
                    start: offset as u32,
                    len: text.len() as u32,
                },
                false => self.tree.span(text),
            };
            self.tree.append(parent, span, NONE, offset);
        }
        Ok(())
    }

    /// Anything starting with `<`.
    fn markup(&mut self) -> Result<(), XmlError> {
        let start = self.pos;
        let rest = &self.bytes[start + 1..];
        match rest.first() {
            Some(b'/') => self.end_tag(start),
            Some(b'?') => self.processing_instruction(start),
            Some(b'!') if rest.starts_with(b"!--") => self.comment(start),
            Some(b'!') if rest.starts_with(b"![CDATA[") => self.cdata(start),
            Some(b'!') if rest.starts_with(b"!DOCTYPE") => {
                fail(start, "DOCTYPE declarations are not allowed in TwiML")
            }
            Some(b'!') => fail(start, "markup declarations are not allowed in TwiML"),
            _ => self.start_tag(start),
        }
    }

    /// The name starting at `at`, and where it ends. Empty when no name byte is there.
    fn name_at(&self, at: usize) -> &'a str {
        let length = self.bytes[at..]
            .iter()
            .position(|&b| NAME_BYTES[usize::from(b)] == NOT_IN_NAME)
            .unwrap_or(self.bytes.len() - at);
        // Name bytes are ASCII or whole non-ASCII characters (every byte of those is a name
        // byte and none is one of the ASCII stop bytes), so both ends are character boundaries.
        self.input.get(at..at + length).unwrap_or("")
    }

    fn skip_space(&mut self) -> bool {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(|&b| is_space(b)) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn start_tag(&mut self, offset: usize) -> Result<(), XmlError> {
        if self.root_closed {
            return fail(offset, "only one root element is allowed");
        }
        if self.depth >= MAX_DEPTH {
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
        let name = self.name_at(offset + 1);
        if !starts_name(name) {
            return fail(offset, "`<` must start a tag with a valid element name");
        }
        self.pos = offset + 1 + name.len();
        let first_attribute = self.tree.attributes.len();
        let empty = loop {
            let spaced = self.skip_space();
            match self.bytes.get(self.pos) {
                Some(b'>') => {
                    self.pos += 1;
                    break false;
                }
                Some(b'/') if self.bytes.get(self.pos + 1) == Some(&b'>') => {
                    self.pos += 2;
                    break true;
                }
                None => return fail(offset, format!("the tag <{name}> is never closed with `>`")),
                Some(_) if !spaced => {
                    return fail(
                        self.pos,
                        format!(
                            "malformed tag <{name}>: attributes must be separated by white space"
                        ),
                    );
                }
                Some(_) => self.attribute(first_attribute, offset)?,
            }
        };
        let index = self.tree.elements.len();
        self.tree.elements.push(StoredElement {
            name,
            offset: offset as u32,
            attributes: (first_attribute as u32, self.tree.attributes.len() as u32),
            first_child: NONE,
            last_child: NONE,
        });
        if let Some(parent) = self.parent() {
            self.tree
                .append(parent, Span { start: 0, len: 0 }, index as u32, offset);
        }
        if empty {
            self.root_closed |= self.depth == 0;
        } else {
            self.open[self.depth] = index;
            self.depth += 1;
        }
        Ok(())
    }

    /// One `name="value"` at the read position, appended to the tree.
    fn attribute(&mut self, first: usize, tag: usize) -> Result<(), XmlError> {
        let at = self.pos;
        let name = self.name_at(at);
        if !starts_name(name) {
            return fail(at, "malformed attribute: expected a valid attribute name");
        }
        if self.tree.attributes.len() - first == MAX_ATTRIBUTES {
            return fail(
                tag,
                format!("an element has more than {MAX_ATTRIBUTES} attributes"),
            );
        }
        // At most MAX_ATTRIBUTES earlier ones, so this stays linear in the input.
        if self.tree.attributes[first..].iter().any(|previous| {
            previous.name.len() == name.len()
                && previous.name.as_bytes().first() == name.as_bytes().first()
                && previous.name == name
        }) {
            return fail(at, format!("duplicate attribute `{name}`"));
        }
        self.pos = at + name.len();
        self.skip_space();
        if self.bytes.get(self.pos) != Some(&b'=') {
            return fail(
                self.pos,
                format!("attribute `{name}` must be followed by `=`"),
            );
        }
        self.pos += 1;
        self.skip_space();
        let quote = match self.bytes.get(self.pos) {
            Some(&quote @ (b'"' | b'\'')) => quote,
            _ => {
                return fail(
                    self.pos,
                    format!("the value of attribute `{name}` must be quoted"),
                );
            }
        };
        let start = self.pos + 1;
        let value = attribute_value(self.input, start, quote).map_err(|refused| {
            let message = match refused {
                ValueRefused::Unclosed => {
                    format!("the value of attribute `{name}` is never closed")
                }
                ValueRefused::LessThan => format!("attribute `{name}` contains `<`"),
                ValueRefused::Reference(Refused::Control) => {
                    format!("attribute `{name}` refers to a control character")
                }
                ValueRefused::Reference(_) => format!(
                    "attribute `{name}` uses an undefined entity or a bad character reference"
                ),
            };
            XmlError {
                offset: at,
                message,
            }
        });
        let (value, end) = value?;
        self.pos = end + 1;
        let value = match value {
            // A borrowed value is the input between the quotes.
            Cow::Borrowed(_) => Span {
                start: start as u32,
                len: (end - start) as u32,
            },
            Cow::Owned(value) => self.tree.span(&value),
        };
        self.tree.attributes.push(StoredAttribute {
            name,
            value,
            offset: at as u32,
        });
        Ok(())
    }

    fn end_tag(&mut self, offset: usize) -> Result<(), XmlError> {
        let name = self.name_at(offset + 2);
        self.pos = offset + 2 + name.len();
        self.skip_space();
        if name.is_empty() || self.bytes.get(self.pos) != Some(&b'>') {
            return fail(offset, "malformed end tag");
        }
        self.pos += 1;
        let Some(innermost) = self.parent() else {
            return fail(
                offset,
                format!("end tag </{name}> has no open element to close"),
            );
        };
        let open = self.tree.elements[innermost].name;
        if open != name {
            return fail(
                offset,
                format!("end tag </{name}> does not match the open element <{open}>"),
            );
        }
        self.depth -= 1;
        self.root_closed |= self.depth == 0;
        Ok(())
    }

    fn comment(&mut self, offset: usize) -> Result<(), XmlError> {
        let body = offset + 4;
        let Some(dashes) = find(&self.bytes[body..], b"--") else {
            return fail(offset, "the comment is never closed with `-->`");
        };
        let end = body + dashes;
        if self.bytes.get(end + 2) != Some(&b'>') {
            return fail(end, "`--` is not allowed inside a comment");
        }
        self.pos = end + 3;
        Ok(())
    }

    fn cdata(&mut self, offset: usize) -> Result<(), XmlError> {
        let body = offset + "<![CDATA[".len();
        let Some(length) = find(&self.bytes[body..], b"]]>") else {
            return fail(offset, "the CDATA section is never closed with `]]>`");
        };
        self.pos = body + length + 3;
        if self.parent().is_none() {
            return fail(offset, "CDATA is not allowed outside the root element");
        }
        let text = normalize_text_eols(&self.input[body..body + length]);
        self.text(&text, offset, false)
    }

    fn processing_instruction(&mut self, offset: usize) -> Result<(), XmlError> {
        let target = self.name_at(offset + 2);
        let body = offset + 2 + target.len();
        let Some(length) = find(&self.bytes[body..], b"?>") else {
            return fail(
                offset,
                "the processing instruction is never closed with `?>`",
            );
        };
        self.pos = body + length + 2;
        let content = &self.input[body..body + length];
        if !starts_name(target) || content.as_bytes().first().is_some_and(|&b| !is_space(b)) {
            return fail(offset, "malformed processing instruction");
        }
        if target == "xml" {
            if offset != 0 {
                return fail(
                    offset,
                    "the XML declaration must be the very first bytes of the body",
                );
            }
            return declaration(content, offset);
        }
        if target.eq_ignore_ascii_case("xml") {
            return fail(offset, "processing instructions named `xml` are reserved");
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), XmlError> {
        if let Some(innermost) = self.parent() {
            let element = &self.tree.elements[innermost];
            return fail(
                element.offset as usize,
                format!("element <{}> is never closed", element.name),
            );
        }
        if self.tree.elements.is_empty() {
            return fail(self.input.len(), "the document has no root element");
        }
        Ok(())
    }
}

/// The first `needle` in `haystack`. The needles here are two or three bytes long and
/// documents small, so scanning for the first byte beats `memmem`, whose searcher costs more to
/// build than a whole TwiML body takes to scan.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(found) = memchr::memchr(first, &haystack[from..]) {
        let at = from + found;
        if haystack[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The pseudo-attributes of `<?xml …?>`: `version="1.0"`, then optionally `encoding` (UTF-8
/// only) and `standalone` (`yes` or `no`), in that order, separated by white space.
fn declaration(content: &str, offset: usize) -> Result<(), XmlError> {
    const MALFORMED: &str = "malformed XML declaration";
    const VERSION: &str = "the XML declaration must say version=\"1.0\"";
    // The declaration nearly every document starts with (and the walk below accepts), without
    // the walk: it was 1.3% of a typical document's parse.
    if content == " version=\"1.0\" encoding=\"UTF-8\"" {
        return Ok(());
    }
    let bytes = content.as_bytes();
    let mut at = 0;
    // 0: version is next; 1: encoding or standalone may follow; 2: only standalone may follow.
    let mut stage = 0;
    loop {
        let space_start = at;
        while bytes.get(at).is_some_and(|&b| is_space(b)) {
            at += 1;
        }
        if at == bytes.len() {
            break;
        }
        if at == space_start {
            return fail(offset, MALFORMED);
        }
        let name_start = at;
        while bytes.get(at).is_some_and(|&b| b.is_ascii_alphabetic()) {
            at += 1;
        }
        let name = &content[name_start..at];
        while bytes.get(at).is_some_and(|&b| is_space(b)) {
            at += 1;
        }
        if bytes.get(at) != Some(&b'=') {
            return fail(offset, if stage == 0 { VERSION } else { MALFORMED });
        }
        at += 1;
        while bytes.get(at).is_some_and(|&b| is_space(b)) {
            at += 1;
        }
        let Some(&quote @ (b'"' | b'\'')) = bytes.get(at) else {
            return fail(offset, MALFORMED);
        };
        let Some(length) = memchr::memchr(quote, &bytes[at + 1..]) else {
            return fail(offset, MALFORMED);
        };
        let value = &content[at + 1..at + 1 + length];
        at += length + 2;
        match (stage, name) {
            (0, "version") if value == "1.0" => stage = 1,
            (0, _) => return fail(offset, VERSION),
            (1, "encoding") if value.eq_ignore_ascii_case("utf-8") => stage = 2,
            (1, "encoding") => return fail(offset, "TwiML must be encoded as UTF-8"),
            (1 | 2, "standalone") if matches!(value, "yes" | "no") => stage = 3,
            _ => return fail(offset, MALFORMED),
        }
    }
    if stage == 0 {
        return fail(offset, VERSION);
    }
    Ok(())
}

/// Why a reference or an attribute value was refused.
enum Refused<'a> {
    /// A character reference to a control character.
    Control,
    /// `&` without a `;` close enough after it.
    Unterminated,
    /// A named entity other than the five predefined ones.
    Undefined(&'a str),
    /// A character reference that is not a number naming a character.
    BadCharacter(&'a str),
}

/// Longest reference considered: `&#x10FFFF;` and `&#1114111;` are 10 bytes; predefined
/// entities are shorter. Looking no further keeps a stray `&` from scanning the rest of the input.
const MAX_REFERENCE: usize = 32;

/// Resolves the reference starting with the `&` at `at`, and returns where it ends.
fn reference(input: &str, at: usize) -> Result<(Cow<'static, str>, usize), Refused<'_>> {
    let window = &input.as_bytes()[at + 1..input.len().min(at + 1 + MAX_REFERENCE)];
    let Some(length) = memchr::memchr(b';', window) else {
        return Err(Refused::Unterminated);
    };
    let name = input
        .get(at + 1..at + 1 + length)
        .ok_or(Refused::Unterminated)?;
    let end = at + 2 + length;
    let predefined = match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => {
            let Some(number) = name.strip_prefix('#') else {
                return Err(if valid_name(name) {
                    Refused::Undefined(name)
                } else {
                    Refused::Unterminated
                });
            };
            let parsed = match number.strip_prefix('x') {
                Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u32::from_str_radix(hex, 16).ok()
                }
                None if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => {
                    number.parse().ok()
                }
                _ => None,
            };
            let character = parsed
                .and_then(char::from_u32)
                .filter(|&c| c != '\0' && c != '\u{fffe}' && c != '\u{ffff}')
                .ok_or(Refused::BadCharacter(name))?;
            if is_control(character) {
                return Err(Refused::Control);
            }
            return Ok((Cow::Owned(character.to_string()), end));
        }
    };
    Ok((Cow::Borrowed(predefined), end))
}

/// XML 1.0 end-of-line handling for character data: `\r\n` and a lone `\r` become `\n`.
fn normalize_text_eols(raw: &str) -> Cow<'_, str> {
    if !raw.as_bytes().contains(&b'\r') {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
}

/// Why an attribute value was refused.
enum ValueRefused<'a> {
    Unclosed,
    LessThan,
    Reference(Refused<'a>),
}

/// What a byte means inside an attribute value: nothing, its end (when it is the opening
/// quote), or something to handle. One table lookup per byte finds both the closing quote and
/// anything needing work, in a single pass.
const PLAIN: u8 = 0;
const DOUBLE_QUOTE: u8 = 1;
const SINGLE_QUOTE: u8 = 2;
const SPECIAL: u8 = 3;

const VALUE_BYTES: [u8; 256] = {
    let mut table = [PLAIN; 256];
    table[b'"' as usize] = DOUBLE_QUOTE;
    table[b'\'' as usize] = SINGLE_QUOTE;
    table[b'<' as usize] = SPECIAL;
    table[b'&' as usize] = SPECIAL;
    table[b'\t' as usize] = SPECIAL;
    table[b'\n' as usize] = SPECIAL;
    table[b'\r' as usize] = SPECIAL;
    table
};

/// The attribute value starting at `start` and closed by `quote`, with references resolved
/// and white space normalised as XML 1.0 §3.3.3 says (`\t`, `\n`, `\r` and `\r\n` each become
/// one space), and the index of its closing quote.
fn attribute_value(
    input: &str,
    start: usize,
    quote: u8,
) -> Result<(Cow<'_, str>, usize), ValueRefused<'_>> {
    let bytes = input.as_bytes();
    let closing = if quote == b'"' {
        DOUBLE_QUOTE
    } else {
        SINGLE_QUOTE
    };
    // The common case: plain bytes up to the quote, borrowed. Every byte VALUE_BYTES does not
    // call plain is `<` or below `(` (both quotes, `&`, tab, line feed, carriage return), so a
    // word-at-a-time search for those skips the plain runs; the few plain bytes it also stops
    // at (the space, `!`, `#`, `$`, `%`, the other quote) are stepped over.
    let mut at = start;
    loop {
        let Some(found) = find_below_or(bytes, at, b'(', b'<') else {
            return Err(ValueRefused::Unclosed);
        };
        // `found` indexes a byte of `bytes`.
        match VALUE_BYTES[usize::from(bytes[found])] {
            class if class == closing => return Ok((Cow::Borrowed(&input[start..found]), found)),
            SPECIAL => {
                at = found;
                break;
            }
            _ => at = found + 1,
        }
    }
    let mut value = String::with_capacity(at - start + 16);
    let mut run = start;
    loop {
        let Some(&byte) = bytes.get(at) else {
            return Err(ValueRefused::Unclosed);
        };
        match VALUE_BYTES[usize::from(byte)] {
            class if class == closing => {
                value.push_str(&input[run..at]);
                return Ok((Cow::Owned(value), at));
            }
            SPECIAL => {
                value.push_str(&input[run..at]);
                match byte {
                    b'<' => return Err(ValueRefused::LessThan),
                    b'&' => {
                        let (resolved, next) =
                            reference(input, at).map_err(ValueRefused::Reference)?;
                        value.push_str(&resolved);
                        at = next;
                    }
                    b'\r' if bytes.get(at + 1) == Some(&b'\n') => {
                        value.push(' ');
                        at += 2;
                    }
                    _ => {
                        value.push(' ');
                        at += 1;
                    }
                }
                run = at;
            }
            _ => at += 1,
        }
    }
}

/// XML white space.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// Characters XML 1.0 forbids (C0 controls other than tab, line feed and carriage return).
fn is_control(character: char) -> bool {
    character < ' ' && !matches!(character, '\t' | '\n' | '\r')
}

/// Whether a run of name bytes (from `Scanner::name_at`, so every byte is already a name byte)
/// is a name: not empty, and not starting with a digit, `.` or `-`.
fn starts_name(name: &str) -> bool {
    name.as_bytes()
        .first()
        .is_some_and(|&b| NAME_BYTES[usize::from(b)] == NAME_START)
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
    /// `\r` bytes: without any, no text needs end-of-line handling.
    returns: usize,
    /// `]` bytes: without any, no text can contain `]]>`.
    brackets: usize,
}

/// Counts in one pass. Per-chunk `u8` counters (at most 255 per chunk, so they cannot overflow)
/// let the compiler vectorise this into byte compares and byte adds. The chunk is a multiple of
/// the vector width, so only the last chunk has a tail done byte by byte.
fn prescan(input: &str) -> Counts {
    let mut counts = Counts {
        tags: 0,
        equals: 0,
        controls: 0,
        returns: 0,
        brackets: 0,
    };
    for chunk in input.as_bytes().chunks(240) {
        let (mut tags, mut equals, mut low) = (0u8, 0u8, 0u8);
        let (mut spaces, mut returns, mut brackets) = (0u8, 0u8, 0u8);
        for &byte in chunk {
            tags += u8::from(byte == b'<');
            equals += u8::from(byte == b'=');
            // Controls are the bytes below the space but tab, line feed and carriage return:
            // counted as a difference of simple compares, which vectorise far better than
            // one compare chained with three exclusions.
            low += u8::from(byte < b' ');
            spaces += u8::from(byte == b'\t') + u8::from(byte == b'\n');
            returns += u8::from(byte == b'\r');
            brackets += u8::from(byte == b']');
        }
        counts.tags += usize::from(tags);
        counts.equals += usize::from(equals);
        // Every tab, line feed and carriage return was also counted in `low`.
        counts.controls += usize::from(low) - usize::from(spaces) - usize::from(returns);
        counts.returns += usize::from(returns);
        counts.brackets += usize::from(brackets);
    }
    counts
}

#[cfg(test)]
mod oracle;

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
        assert_eq!(root.attribute(0).expect("attribute").value, "<A");
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
    fn refuses_what_quick_xml_lets_through() {
        for (input, says) in [
            ("<r a=\"<\"/>", "contains `<`"),
            ("<r>a]]>b</r>", "`]]>` is not allowed"),
            ("<r a=\"1\"b=\"2\"/>", "separated by white space"),
            (
                "<?xml version=\"1.0\" mode=\"x\"?><r/>",
                "malformed XML declaration",
            ),
            (
                "<?xml version=\"1.0\"encoding=\"UTF-8\"?><r/>",
                "malformed XML declaration",
            ),
            ("<?xml encoding=\"UTF-8\"?><r/>", "version=\"1.0\""),
            ("<?xml?><r/>", "version=\"1.0\""),
            ("<?XML x?><r/>", "reserved"),
            ("<r><!-- a -- b --></r>", "`--` is not allowed"),
            ("<r><!-- a ---></r>", "`--` is not allowed"),
            ("<![CDATA[x]]><r/>", "CDATA is not allowed outside"),
            ("<r>&#xD800;</r>", "invalid character reference"),
            ("<r>&#;</r>", "invalid character reference"),
            ("<r>& x;</r>", "must start an entity"),
            ("<r>&amp</r>", "must start an entity"),
            ("<r a=\"&#1;\"/>", "control character"),
            ("<r a=\"1/>", "never closed"),
            ("<r a/>", "must be followed by `=`"),
            ("<r a=1/>", "must be quoted"),
            ("<r></r ></r>", "no open element"),
            ("<r><s></r></s>", "does not match"),
            ("<r/ >", "malformed tag"),
            ("<r><!DOCTYPE x></r>", "DOCTYPE"),
            ("<r><!ELEMENT x></r>", "markup declarations"),
            ("<r><!-- never closed </r>", "never closed"),
            ("<r><?pi never closed</r>", "never closed"),
        ] {
            let message = error(input).message;
            assert!(message.contains(says), "{input:?}: {message}");
        }
    }

    #[test]
    fn reads_the_xml_it_accepts_as_xml_1_0_says() {
        let input = "\u{feff}<?pi ok?><!-- c --><r a = \"x\r\ny\tz\" b='\"&apos;'>l1\r\nl2\rl3<?p?><![CDATA[\r\n]]></r>\n";
        let tree = parse(input).expect("valid");
        let root = tree.element(0);
        assert_eq!(root.attribute(0).expect("attribute").value, "x y z");
        assert_eq!(root.attribute(1).expect("attribute").value, "\"'");
        let Some(Node::Text { text, .. }) = root.children().next() else {
            panic!("text")
        };
        assert_eq!(text, "l1\nl2\nl3\n");
        for declaration in [
            "<?xml version='1.0'?>",
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\" ?>",
            "<?xml version=\"1.0\" standalone='no'?>",
        ] {
            assert!(
                parse(&format!("{declaration}<r/>")).is_ok(),
                "{declaration}"
            );
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(error(&deep).message.contains("nested deeper"));
    }
}
