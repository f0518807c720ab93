//! `<Say voice language loop>` (§7.2): text to speech, SSML children kept for the speech engine.
//!
//! Text is whitespace-collapsed (runs of ASCII whitespace become one space) and trimmed at both
//! ends of the verb, which is what reaches the TTS engine and makes printing idempotent. SSML
//! elements are kept as [`Content::Element`] with their attributes; unknown ones draw a 12200
//! warning and are dropped.

use switchboard_core::ErrorCode;
use switchboard_core::error_code::{
    GATHER_SAY_INVALID_LOOP, GATHER_SAY_INVALID_TEXT, SAY_INVALID_LOOP, SAY_INVALID_TEXT,
    SAY_INVALID_VOICE, SAY_TEXT_TOO_LONG, SCHEMA_VALIDATION_WARNING,
};

use crate::attributes::WARN;
use crate::limits::MAX_SAY_CHARS;
use crate::raw::{Content, RawElement, speakable_text, write_content};
use crate::tree::Node;
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// SSML elements allowed inside `<Say>`, with their attributes.
const SSML: &[(&str, &[&str])] = &[
    ("break", &["strength", "time"]),
    ("emphasis", &["level"]),
    ("lang", &["xml:lang"]),
    ("p", &[]),
    ("phoneme", &["alphabet", "ph"]),
    ("prosody", &["volume", "rate", "pitch"]),
    ("s", &[]),
    ("say-as", &["interpret-as", "format"]),
    ("sub", &["alias"]),
    ("w", &["role"]),
    (
        "amazon:effect",
        &["name", "vocal-tract-length", "phonation"],
    ),
    ("amazon:domain", &["name"]),
];

/// Speak text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Say {
    /// `man`, `woman`, `alice`, `Polly.<Name>` or `Google.<Name>`; `None` = the account default.
    pub voice: Option<String>,
    /// Default `en-US`.
    pub language: String,
    /// Times to speak; 0 = until the call ends (the engine caps it). Default 1.
    pub loop_count: u32,
    /// Text and SSML elements in order.
    pub content: Vec<Content>,
}

impl Say {
    /// The text to speak, for a plain-text speech engine: SSML markup removed, `<break>`, `<p>`
    /// and `<s>` separating words (they never glue two words together), `<sub>` speaking its
    /// `alias`, and whitespace collapsed.
    pub fn text(&self) -> String {
        speakable_text(&self.content)
    }
}

/// Where the `<Say>` sits: the codes differ inside `<Gather>`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Response,
    Gather,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize, place: Place) -> Say {
    let element = validator.element(index);
    let (loop_code, text_code) = match place {
        Place::Response => (SAY_INVALID_LOOP, SAY_INVALID_TEXT),
        Place::Gather => (GATHER_SAY_INVALID_LOOP, GATHER_SAY_INVALID_TEXT),
    };
    let mut attributes = validator.attributes(element);
    let voice = attributes.checked(
        "voice",
        SAY_INVALID_VOICE,
        "man, woman, alice, Polly.<Name> or Google.<Name>",
        valid_voice,
    );
    let language = attributes.checked(
        "language",
        WARN,
        "a language tag such as en-US",
        crate::noun::valid_language,
    );
    let loop_count = attributes.integer("loop", 1, 0..=1000, loop_code);
    attributes.finish();
    let content = ssml_children(validator, index);
    check_text(validator, element.offset, &content, text_code);
    Say {
        voice,
        language: language.unwrap_or_else(|| "en-US".to_owned()),
        loop_count,
        content,
    }
}

fn check_text(
    validator: &mut Validator<'_, '_>,
    offset: usize,
    content: &[Content],
    code: ErrorCode,
) {
    // Bytes bound characters from above, so characters are counted only when the bytes
    // alone could exceed the limit (counting them was 1.5% of a typical document's parse).
    let (bytes, has_markup) = text_size(content, str::len);
    if bytes == 0 && !has_markup {
        validator
            .findings
            .error(code, offset, "<Say> has no text to speak");
    }
    if bytes <= MAX_SAY_CHARS {
        return;
    }
    let (characters, _) = text_size(content, |text| text.chars().count());
    if characters > MAX_SAY_CHARS {
        let message =
            format!("<Say> text is {characters} characters; the limit is {MAX_SAY_CHARS}");
        validator.findings.error(SAY_TEXT_TOO_LONG, offset, message);
    }
}

/// The size of the text under `content` (SSML included), measured by `size`, and whether it has
/// any SSML element.
/// Recursive rather than with a heap stack (one allocation per `<Say>`): `content` was just
/// built from the tree, so its depth is bounded by the tree's MAX_DEPTH.
fn text_size(content: &[Content], size: fn(&str) -> usize) -> (usize, bool) {
    let mut total = 0;
    let mut has_markup = false;
    for child in content {
        match child {
            Content::Text(text) => total += size(text),
            Content::Element(element) => {
                has_markup = true;
                total += text_size(&element.children, size).0;
            }
        }
    }
    (total, has_markup)
}

fn valid_voice(voice: &str) -> bool {
    let named = |prefix: &str| {
        voice.strip_prefix(prefix).is_some_and(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
    };
    matches!(voice, "man" | "woman" | "alice") || named("Polly.") || named("Google.")
}

/// Converts the children of element `index`, collapsing whitespace and trimming the ends.
fn ssml_children(validator: &mut Validator<'_, '_>, index: usize) -> Vec<Content> {
    let mut content = ssml_content(validator, index, &mut true);
    if let Some(Content::Text(last)) = content.last_mut() {
        let trimmed = last.trim_end_matches(' ').len();
        last.truncate(trimmed);
    }
    content.retain(|child| !matches!(child, Content::Text(text) if text.is_empty()));
    content
}

/// Converts children of element `index`. Recursion depth is bounded by the tree's MAX_DEPTH.
fn ssml_content(
    validator: &mut Validator<'_, '_>,
    index: usize,
    last_space: &mut bool,
) -> Vec<Content> {
    let element = validator.element(index);
    // At most one entry per child (adjacent text merges), so this never regrows.
    let mut content: Vec<Content> = Vec::with_capacity(element.child_count());
    for child in element.children() {
        match child {
            Node::Text { text, .. } => push_collapsed(&mut content, text, last_space),
            Node::Element(child) => {
                if let Some(converted) = ssml_element(validator, child, last_space) {
                    content.push(Content::Element(converted));
                }
            }
        }
    }
    content.retain(|child| !matches!(child, Content::Text(text) if text.is_empty()));
    content
}

fn ssml_element(
    validator: &mut Validator<'_, '_>,
    index: usize,
    last_space: &mut bool,
) -> Option<RawElement> {
    let element = validator.element(index);
    let Some((name, allowed)) = SSML.iter().find(|(name, _)| *name == element.name) else {
        if validator.findings.warnings_full() {
            return None;
        }
        let message = format!(
            "<{}> is not an SSML element <Say> supports; it is ignored",
            element.name
        );
        validator
            .findings
            .warning(SCHEMA_VALIDATION_WARNING, element.offset, message);
        return None;
    };
    let mut attributes = Vec::new();
    for attribute in element.attributes() {
        if allowed.contains(&attribute.name) {
            attributes.push((
                attribute.name.to_owned(),
                attribute.value.trim_ascii().to_owned(),
            ));
        } else {
            let message = format!(
                "<{name}> has no attribute `{}`; it is ignored",
                attribute.name
            );
            validator
                .findings
                .warning(SCHEMA_VALIDATION_WARNING, attribute.offset, message);
        }
    }
    let children = ssml_content(validator, index, last_space);
    Some(RawElement {
        name: (*name).to_owned(),
        attributes,
        children,
    })
}

/// Appends text with whitespace runs collapsed (also across SSML element boundaries, through
/// `last_space`), merging with a preceding text child.
fn push_collapsed(content: &mut Vec<Content>, text: &str, last_space: &mut bool) {
    if text.is_empty() {
        return;
    }
    if !matches!(content.last(), Some(Content::Text(_))) {
        content.push(Content::Text(String::with_capacity(text.len())));
    }
    let Some(Content::Text(target)) = content.last_mut() else {
        return;
    };
    let bytes = text.as_bytes();
    if plain_spacing(bytes, *last_space) {
        // Nothing to collapse (the usual case): one copy.
        target.push_str(text);
        *last_space = bytes.last() == Some(&b' ');
        return;
    }
    // Copies runs verbatim and rewrites only whitespace that is not a lone space after a
    // non-space; every split point is an ASCII byte, so slicing stays on char boundaries.
    let mut previous_space = *last_space;
    let mut run_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        // Most bytes are above the space character, which no whitespace is: one compare.
        if byte > b' ' {
            previous_space = false;
            continue;
        }
        let space = byte.is_ascii_whitespace();
        if space && (byte != b' ' || previous_space) {
            target.push_str(&text[run_start..index]);
            if !previous_space {
                target.push(' ');
            }
            run_start = index + 1;
        }
        previous_space = space;
    }
    target.push_str(&text[run_start..]);
    *last_space = previous_space;
}

/// Whether `bytes` needs no collapsing: no tab, line break or other byte below the space (the
/// tree refused control characters, so those are the only ones), no two spaces in a row, and no
/// leading space after a space. Folds without an early exit, so the compiler vectorises it.
fn plain_spacing(bytes: &[u8], last_space: bool) -> bool {
    if last_space && bytes.first() == Some(&b' ') {
        return false;
    }
    let low = bytes.iter().fold(false, |found, &b| found | (b < b' '));
    let doubled = bytes
        .iter()
        .zip(bytes.iter().skip(1))
        .fold(false, |found, (&a, &b)| found | ((a == b' ') & (b == b' ')));
    !low && !doubled
}

impl WriteXml for Say {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut element = writer.element("Say");
        element
            .opt("voice", self.voice.as_deref())
            .attr("language", &self.language)
            .attr("loop", self.loop_count);
        if self.content.is_empty() {
            return element.empty();
        }
        element.children(|writer| write_content(&self.content, writer));
    }
}
