//! XML's lexical rules as the scanner applies them: which bytes are white space, control
//! characters and name characters (as lookup tables, since names are checked for every element
//! and attribute), the five predefined entities and character references, attribute values
//! with their white-space normalisation, end-of-line handling in text, the pseudo-attributes of
//! the XML declaration, and the prescan that counts bytes before the scan starts. Nothing here
//! knows about the tree or the open elements; each function reads bytes at a position and says
//! what they are or where they end.
//!
//! This was one file with the scanner until the tree was split by concern. The larger functions
//! the scanner calls (`attribute_value`, `reference`, `normalize_text_eols`, `declaration`) are
//! `#[inline]` so that the scanner's codegen unit keeps its own copy and optimises it together
//! with the scan, as before the split (without that, the split cost measurably more instructions
//! per parse in `examples/parse_count.rs`). The small helpers are inlined either way.

use std::borrow::Cow;

use super::{XmlError, fail};
use crate::stop_bytes::find_below_or;

/// The pseudo-attributes of `<?xml …?>`: `version="1.0"`, then optionally `encoding` (UTF-8
/// only) and `standalone` (`yes` or `no`), in that order, separated by white space.
#[inline]
pub(super) fn declaration(content: &str, offset: usize) -> Result<(), XmlError> {
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
pub(super) enum Refused<'a> {
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
#[inline]
pub(super) fn reference(input: &str, at: usize) -> Result<(Cow<'static, str>, usize), Refused<'_>> {
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
#[inline]
pub(super) fn normalize_text_eols(raw: &str) -> Cow<'_, str> {
    if !raw.as_bytes().contains(&b'\r') {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
}

/// Why an attribute value was refused.
pub(super) enum ValueRefused<'a> {
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
#[inline]
pub(super) fn attribute_value(
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
pub(super) fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// Characters XML 1.0 forbids (C0 controls other than tab, line feed and carriage return).
pub(super) fn is_control(character: char) -> bool {
    character < ' ' && !matches!(character, '\t' | '\n' | '\r')
}

/// Whether a run of name bytes (from `Scanner::name_at`, so every byte is already a name byte)
/// is a name: not empty, and not starting with a digit, `.` or `-`.
pub(super) fn starts_name(name: &str) -> bool {
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

pub(super) const NOT_IN_NAME: u8 = 0;
const NAME_START: u8 = 1;
const NAME_REST: u8 = 2;

/// What each byte may be in a name, as a table: names are checked for every element and
/// attribute, and a lookup is cheaper than the chain of range tests.
pub(super) const NAME_BYTES: [u8; 256] = {
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
pub(super) struct Counts {
    /// `<` bytes: at least the number of elements.
    pub(super) tags: usize,
    /// `=` bytes: at least the number of attributes.
    pub(super) equals: usize,
    /// Control characters XML forbids.
    pub(super) controls: usize,
    /// `\r` bytes: without any, no text needs end-of-line handling.
    pub(super) returns: usize,
    /// `]` bytes: without any, no text can contain `]]>`.
    pub(super) brackets: usize,
}

/// Counts in one pass. Per-chunk `u8` counters (at most 255 per chunk, so they cannot overflow)
/// let the compiler vectorise this into byte compares and byte adds. The chunk is a multiple of
/// the vector width, so only the last chunk has a tail done byte by byte.
pub(super) fn prescan(input: &str) -> Counts {
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
mod tests {
    use crate::tree::{Node, parse};

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
}
