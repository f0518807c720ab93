//! The single pass that builds the flat tree: markup, start and end tags with their
//! attributes, nesting on a fixed-size stack, comments, CDATA, processing instructions and text
//! nodes. What a reference, an attribute value, a name or the XML declaration may look like is
//! decided in `lexical.rs`; the scanner only walks the input once, keeps the open elements and
//! appends to the tree.

use std::borrow::Cow;

use super::lexical::{
    NAME_BYTES, NOT_IN_NAME, Refused, ValueRefused, attribute_value, declaration, is_control,
    is_space, normalize_text_eols, prescan, reference, starts_name,
};
use super::{NONE, Span, StoredAttribute, StoredElement, Tree, XmlError, fail};
use crate::limits::{MAX_ATTRIBUTES, MAX_DEPTH, MAX_ELEMENTS};

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

#[cfg(test)]
mod tests {
    use crate::limits::MAX_DEPTH;
    use crate::tree::{XmlError, parse};

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
    fn depth_is_bounded() {
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(error(&deep).message.contains("nested deeper"));
    }
}
