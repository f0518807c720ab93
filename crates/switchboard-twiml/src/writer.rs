//! The XML printer the document types use to write themselves back as TwiML.
//!
//! Output is canonical rather than a copy of the input: every attribute that has a value is
//! written (defaults included), text is escaped so that parsing the output yields the same
//! document (`print(parse(x))` round-trips), and no whitespace is added between elements.

use std::fmt::{self, Display, Write};

/// Accumulates XML text.
#[derive(Default)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    pub fn into_string(self) -> String {
        self.out
    }

    /// Starts `<name`; finish it with [`ElementWriter::empty`], [`ElementWriter::text`] or
    /// [`ElementWriter::children`].
    pub fn element(&mut self, name: &'static str) -> ElementWriter<'_> {
        self.element_named(name)
    }

    /// Like [`XmlWriter::element`] for names taken from the input (SSML, unmodelled verbs).
    pub fn element_named<'w>(&'w mut self, name: &'w str) -> ElementWriter<'w> {
        self.out.push('<');
        self.out.push_str(name);
        ElementWriter { writer: self, name }
    }

    /// Escaped character data.
    pub fn text(&mut self, text: &str) {
        for character in text.chars() {
            match character {
                '&' => self.out.push_str("&amp;"),
                '<' => self.out.push_str("&lt;"),
                '>' => self.out.push_str("&gt;"),
                '\r' => self.out.push_str("&#13;"),
                other => self.out.push(other),
            }
        }
    }

    fn attribute_value(&mut self, value: &str) {
        for character in value.chars() {
            match character {
                '&' => self.out.push_str("&amp;"),
                '<' => self.out.push_str("&lt;"),
                '>' => self.out.push_str("&gt;"),
                '"' => self.out.push_str("&quot;"),
                '\t' => self.out.push_str("&#9;"),
                '\n' => self.out.push_str("&#10;"),
                '\r' => self.out.push_str("&#13;"),
                other => self.out.push(other),
            }
        }
    }
}

/// An element whose start tag is being written.
pub struct ElementWriter<'w> {
    writer: &'w mut XmlWriter,
    name: &'w str,
}

impl ElementWriter<'_> {
    /// Writes `name="value"`.
    pub fn attr(&mut self, name: &str, value: impl Display) -> &mut Self {
        let out = &mut self.writer.out;
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = write!(text, "{value}");
        self.writer.attribute_value(&text);
        self.writer.out.push('"');
        self
    }

    /// Writes the attribute only when it has a value.
    pub fn opt(&mut self, name: &str, value: Option<impl Display>) -> &mut Self {
        if let Some(value) = value {
            self.attr(name, value);
        }
        self
    }

    /// Ends the element as `<name …/>`.
    pub fn empty(&mut self) {
        self.writer.out.push_str("/>");
    }

    /// Ends the element with text content.
    pub fn text(&mut self, text: &str) {
        self.writer.out.push('>');
        self.writer.text(text);
        close(self.writer, self.name);
    }

    /// Ends the element with children written by `body`.
    pub fn children(&mut self, body: impl FnOnce(&mut XmlWriter)) {
        self.writer.out.push('>');
        body(self.writer);
        close(self.writer, self.name);
    }
}

fn close(writer: &mut XmlWriter, name: &str) {
    writer.out.push_str("</");
    writer.out.push_str(name);
    writer.out.push('>');
}

/// Anything that prints itself as TwiML.
pub trait WriteXml {
    fn write_xml(&self, writer: &mut XmlWriter);
}

/// Formats a [`WriteXml`] value through `Display`.
pub(crate) fn display(value: &impl WriteXml, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut writer = XmlWriter::default();
    value.write_xml(&mut writer);
    f.write_str(&writer.out)
}
