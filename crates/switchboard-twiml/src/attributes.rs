//! Typed reading of one element's attributes, recording a finding for each bad value and a
//! 12200 warning for each attribute nobody asked for (unknown, misspelled or wrong case).
//!
//! Every reader takes the code Twilio documents for that attribute. Where Twilio documents
//! none, verbs pass [`WARN`]: the bad value is reported as a 12200 warning and the default
//! applies, so the document still runs (Decision 3 keeps errors for documented codes).

use std::ops::RangeInclusive;

use switchboard_core::ErrorCode;
use switchboard_core::error_code::SCHEMA_VALIDATION_WARNING;

use crate::findings::Findings;
use crate::keyword::{Keyword, Method};
use crate::tree::{Attribute, Element};

/// "No documented code": an invalid value is a 12200 warning and the default is used.
pub(crate) const WARN: ErrorCode = SCHEMA_VALIDATION_WARNING;

/// Reads the attributes of one element, tracking which ones were used.
///
/// Each name is read once (a second look at a bad value goes through [`Self::refuse`]), so
/// once every attribute has been read no other name can match, and the remaining look-ups of
/// a verb's many optional attributes are skipped without searching.
pub(crate) struct Attributes<'t, 'a> {
    element: Element<'t, 'a>,
    /// One bit per attribute read so far.
    used: u64,
    /// One bit per attribute of the element.
    all: u64,
    findings: &'t mut Findings,
}

impl<'t, 'a> Attributes<'t, 'a> {
    pub fn new(element: Element<'t, 'a>, findings: &'t mut Findings) -> Self {
        // The tree caps attributes at MAX_ATTRIBUTES (64), so one bit per attribute fits in a u64.
        let all = match element.attribute_count() {
            64.. => u64::MAX,
            count => (1u64 << count) - 1,
        };
        Attributes {
            element,
            used: 0,
            all,
            findings,
        }
    }

    fn take(&mut self, name: &str) -> Option<Attribute<'t>> {
        let element: Element<'t, 'a> = self.element;
        if self.used == self.all {
            debug_assert!(
                element.attribute_index(name).is_none(),
                "<{}> {name} read twice",
                element.name
            );
            return None;
        }
        let index = element.attribute_index(name)?;
        let bit = 1u64 << (index % 64);
        debug_assert!(self.used & bit == 0, "<{}> {name} read twice", element.name);
        self.used |= bit;
        element.attribute(index)
    }

    /// Records that attribute `name`, already read, has a bad value: for values checked in
    /// more than one step.
    pub fn refuse(&mut self, name: &str, code: ErrorCode, expected: &str) {
        let element: Element<'t, 'a> = self.element;
        if let Some(attribute) = element
            .attribute_index(name)
            .and_then(|index| element.attribute(index))
        {
            self.invalid(attribute, code, expected);
        }
    }

    /// A free-form string (URL, SID, label), trimmed of surrounding ASCII whitespace.
    pub fn string(&mut self, name: &str) -> Option<String> {
        self.take(name)
            .map(|attribute| attribute.value.trim_ascii().to_owned())
    }

    /// A string that must satisfy `valid`; otherwise `code` and `None`.
    pub fn checked(
        &mut self,
        name: &str,
        code: ErrorCode,
        expected: &str,
        valid: fn(&str) -> bool,
    ) -> Option<String> {
        self.checked_str(name, code, expected, valid)
            .map(str::to_owned)
    }

    /// As [`Self::checked`], borrowing the value: for callers that only inspect it, so no
    /// intermediate `String` is allocated.
    pub fn checked_str(
        &mut self,
        name: &str,
        code: ErrorCode,
        expected: &str,
        valid: fn(&str) -> bool,
    ) -> Option<&'t str> {
        let attribute = self.take(name)?;
        let value = attribute.value.trim_ascii();
        if valid(value) {
            return Some(value);
        }
        self.invalid(attribute, code, expected);
        None
    }

    /// `GET` or `POST` (any case); `POST` when absent.
    pub fn method(&mut self, name: &str, code: ErrorCode) -> Method {
        let Some(attribute) = self.take(name) else {
            return Method::Post;
        };
        let value = attribute.value.trim_ascii();
        if value.eq_ignore_ascii_case("GET") {
            Method::Get
        } else if value.eq_ignore_ascii_case("POST") {
            Method::Post
        } else {
            self.invalid(attribute, code, "GET or POST");
            Method::Post
        }
    }

    /// `true` or `false` (any case).
    pub fn boolean(&mut self, name: &str, default: bool, code: ErrorCode) -> bool {
        self.optional_boolean(name, code).unwrap_or(default)
    }

    pub fn optional_boolean(&mut self, name: &str, code: ErrorCode) -> Option<bool> {
        let attribute = self.take(name)?;
        let value = attribute.value.trim_ascii();
        if value.eq_ignore_ascii_case("true") {
            Some(true)
        } else if value.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            self.invalid(attribute, code, "true or false");
            None
        }
    }

    /// A decimal integer within `range`.
    pub fn integer(
        &mut self,
        name: &str,
        default: u32,
        range: RangeInclusive<u32>,
        code: ErrorCode,
    ) -> u32 {
        self.optional_integer(name, range, code).unwrap_or(default)
    }

    pub fn optional_integer(
        &mut self,
        name: &str,
        range: RangeInclusive<u32>,
        code: ErrorCode,
    ) -> Option<u32> {
        let attribute = self.take(name)?;
        let value = attribute.value.trim_ascii();
        let parsed = if value.bytes().all(|byte| byte.is_ascii_digit()) {
            value.parse::<u32>().ok()
        } else {
            None
        };
        match parsed {
            Some(number) if range.contains(&number) => Some(number),
            _ => {
                let expected = format!("a whole number from {} to {}", range.start(), range.end());
                self.invalid(attribute, code, &expected);
                None
            }
        }
    }

    /// One keyword of `T`.
    pub fn keyword<T: Keyword>(&mut self, name: &str, default: T, code: ErrorCode) -> T {
        self.optional_keyword(name, code).unwrap_or(default)
    }

    pub fn optional_keyword<T: Keyword>(&mut self, name: &str, code: ErrorCode) -> Option<T> {
        let attribute = self.take(name)?;
        let value = T::from_keyword(attribute.value.trim_ascii());
        if value.is_none() {
            self.invalid(attribute, code, &one_of::<T>());
        }
        value
    }

    /// A space- (or comma-) separated list of keywords; duplicates are kept once.
    pub fn keyword_list<T: Keyword + PartialEq>(
        &mut self,
        name: &str,
        default: &[T],
        code: ErrorCode,
    ) -> Vec<T> {
        let Some(attribute) = self.take(name) else {
            return default.to_vec();
        };
        let mut values = Vec::new();
        for word in attribute
            .value
            .split([' ', ',', '\t', '\n', '\r'])
            .filter(|word| !word.is_empty())
        {
            match T::from_keyword(word) {
                Some(value) if !values.contains(&value) => values.push(value),
                Some(_) => {}
                None => {
                    self.invalid(attribute, code, &format!("a list of {}", one_of::<T>()));
                    return default.to_vec();
                }
            }
        }
        values
    }

    /// Records that `attribute` has a bad value.
    pub fn invalid(&mut self, attribute: Attribute<'_>, code: ErrorCode, expected: &str) {
        let message = format!(
            "<{}> {}=\"{}\" is invalid: expected {expected}",
            self.element.name,
            attribute.name,
            attribute.value.escape_debug()
        );
        if code == WARN {
            self.findings.warning(
                code,
                attribute.offset,
                format!("{message}; the default is used"),
            );
        } else {
            self.findings.error(code, attribute.offset, message);
        }
    }

    /// Warns (12200) about every attribute that was not read, in document order. Only the
    /// bits of unread attributes are visited, so the usual case (all read) costs one compare.
    pub fn finish(self) {
        let mut unread = self.all & !self.used;
        while unread != 0 {
            let index = unread.trailing_zeros() as usize;
            unread &= unread - 1;
            let Some(attribute) = self.element.attribute(index) else {
                continue;
            };
            if self.findings.warnings_full() {
                continue;
            }
            let message = format!(
                "<{}> has no attribute `{}`; it is ignored",
                self.element.name, attribute.name
            );
            self.findings
                .warning(SCHEMA_VALIDATION_WARNING, attribute.offset, message);
        }
    }
}

fn one_of<T: Keyword>() -> String {
    let words: Vec<&str> = T::ALL.iter().map(|(word, _)| *word).collect();
    format!("one of {}", words.join(", "))
}
