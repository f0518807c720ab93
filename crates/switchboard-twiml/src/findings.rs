//! Findings collected while parsing: errors and warnings with a byte offset, resolved to
//! line and column once at the end (one sweep over the input, so cost stays linear).

use switchboard_core::ErrorCode;

use crate::limits::MAX_FINDINGS;
use crate::{Finding, Level};

/// A finding whose position is still a byte offset into the input.
#[derive(Debug)]
pub(crate) struct RawFinding {
    pub code: ErrorCode,
    pub level: Level,
    pub message: String,
    pub offset: usize,
}

/// The findings of one parse, in the order they were found.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    list: Vec<RawFinding>,
    has_error: bool,
}

impl Findings {
    pub fn error(&mut self, code: ErrorCode, offset: usize, message: impl Into<String>) {
        self.push(code, Level::Error, offset, message.into());
    }

    pub fn warning(&mut self, code: ErrorCode, offset: usize, message: impl Into<String>) {
        self.push(code, Level::Warning, offset, message.into());
    }

    /// True once no more warnings will be kept: callers skip formatting their messages.
    pub fn warnings_full(&self) -> bool {
        self.list.len() >= MAX_FINDINGS
    }

    pub fn has_error(&self) -> bool {
        self.has_error
    }

    fn push(&mut self, code: ErrorCode, level: Level, offset: usize, message: String) {
        let first_error = level == Level::Error && !self.has_error;
        if self.list.len() < MAX_FINDINGS || first_error {
            self.list.push(RawFinding {
                code,
                level,
                message,
                offset,
            });
        }
        self.has_error |= level == Level::Error;
    }

    /// Turns offsets into 1-based line and column (in characters) with one pass over `input`.
    pub fn resolve(self, input: &[u8]) -> Vec<Finding> {
        let mut order: Vec<usize> = (0..self.list.len()).collect();
        order.sort_by_key(|&index| self.list[index].offset);
        let mut positions = vec![(1u32, 1u32); self.list.len()];
        let mut cursor = LineCursor::default();
        for index in order {
            positions[index] = cursor.advance_to(input, self.list[index].offset);
        }
        self.list
            .into_iter()
            .zip(positions)
            .map(|(raw, (line, column))| Finding {
                code: raw.code,
                level: raw.level,
                message: raw.message,
                line,
                column,
            })
            .collect()
    }
}

/// Walks forward through the input counting lines and characters.
#[derive(Default)]
struct LineCursor {
    offset: usize,
    line: u32,
    column: u32,
}

impl LineCursor {
    fn advance_to(&mut self, input: &[u8], target: usize) -> (u32, u32) {
        let target = target.min(input.len());
        for &byte in &input[self.offset.min(target)..target] {
            if byte == b'\n' {
                self.line += 1;
                self.column = 0;
            } else if byte & 0xC0 != 0x80 {
                // Counts characters, not bytes: UTF-8 continuation bytes do not start one.
                self.column += 1;
            }
        }
        self.offset = self.offset.max(target);
        (self.line + 1, self.column + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::error_code::DOCUMENT_PARSE_FAILURE;

    #[test]
    fn offsets_become_lines_and_character_columns() {
        let input = "ab\né<x\n".as_bytes();
        let mut findings = Findings::default();
        findings.warning(DOCUMENT_PARSE_FAILURE, 5, "late");
        findings.error(DOCUMENT_PARSE_FAILURE, 0, "first");
        let resolved = findings.resolve(input);
        assert_eq!((resolved[0].line, resolved[0].column), (2, 2));
        assert_eq!((resolved[1].line, resolved[1].column), (1, 1));
    }
}
