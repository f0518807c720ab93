//! The one rule for text on both backends: no NUL character (U+0000) anywhere, and no indexed
//! column longer than `INDEXED_TEXT_MAX_BYTES`.
//!
//! PostgreSQL's `text` (and `jsonb`) cannot hold U+0000 and answers with a driver error, while
//! SQLite stores it. Rather than let the backends disagree (a 500 on one, a 201 on the other),
//! the store refuses a record with a NUL in any column or anywhere in its document (string
//! values and object keys alike) before either backend sees it, with `StoreError::Unstorable`
//! naming where it was. The API refuses such parameters first (400/20422 in `form.rs`); this is
//! the second line, so the engine's own writes follow the same rule.
//!
//! Length: a PostgreSQL B-tree row holds at most about 2.7 KB (after compression, so a long
//! random string in an indexed column fails while the same length of repeated text passes),
//! SQLite has no such limit. Indexed columns (SIDs, the uniqueness key, the phone number, the
//! status) are therefore capped at 1,024 bytes on both backends, far above any real SID, E.164
//! number, SIP URI or status and far below the B-tree limit. Unindexed columns
//! (`friendly_name`, `from_number`) and the document have no cap here; the API caps bodies.
//!
//! Reads are answers, not errors: no stored row can hold a NUL, so a lookup by a SID with one
//! finds nothing and a list filtering on one matches nothing, on both backends alike, without
//! asking the database.

use serde_json::Value;

use crate::StoreError;
use crate::record::{Filter, ListQuery, Record};

/// The longest text an indexed column holds, in bytes.
pub const INDEXED_TEXT_MAX_BYTES: usize = 1024;

const NUL: &str = "contains a NUL character (U+0000), which the store does not hold";
const TOO_LONG: &str = "is longer than the 1024 bytes an indexed column holds";

/// The longest `LIKE` pattern a list query takes, in bytes: every character of an indexed
/// column's longest text escaped, with wildcards around it.
pub const LIKE_PATTERN_MAX_BYTES: usize = 2 * INDEXED_TEXT_MAX_BYTES + 16;

/// Whether `text` can be stored (holds no NUL).
pub(crate) fn is_storable(text: &str) -> bool {
    !text.contains('\0')
}

/// `Ok` when every text of `record` can be stored; otherwise `Unstorable` naming the first
/// column or document path that cannot.
pub(crate) fn check_record(record: &Record) -> Result<(), StoreError> {
    let unstorable = |place: String, problem| StoreError::Unstorable { place, problem };
    // (column, text, indexed)
    let columns = [
        ("sid", Some(&record.sid), true),
        ("account_sid", Some(&record.account_sid), true),
        ("parent_sid", record.parent_sid.as_ref(), true),
        ("unique_key", record.unique_key.as_ref(), true),
        ("phone_number", record.phone_number.as_ref(), true),
        ("from_number", record.from_number.as_ref(), false),
        ("friendly_name", record.friendly_name.as_ref(), false),
        ("status", record.status.as_ref(), true),
    ];
    for (column, text, indexed) in columns {
        let Some(text) = text else { continue };
        if !is_storable(text) {
            return Err(unstorable(column.to_owned(), NUL));
        }
        if indexed && text.len() > INDEXED_TEXT_MAX_BYTES {
            return Err(unstorable(column.to_owned(), TOO_LONG));
        }
    }
    match unstorable_path(&record.doc) {
        Some(path) => Err(unstorable(format!("doc{path}"), NUL)),
        None => Ok(()),
    }
}

/// The JSON path (`.friendly_name`, `[2]`) of the first string or key holding a NUL, if any.
/// Iterative, so a deeply nested document cannot overflow the stack.
fn unstorable_path(doc: &Value) -> Option<String> {
    let mut pending = vec![(String::new(), doc)];
    while let Some((path, value)) = pending.pop() {
        match value {
            Value::String(text) if !is_storable(text) => return Some(path),
            Value::Array(items) => pending.extend(
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| (format!("{path}[{index}]"), item)),
            ),
            Value::Object(fields) => {
                for (key, item) in fields {
                    let path = format!("{path}.{}", key.escape_debug());
                    if !is_storable(key) {
                        return Some(path);
                    }
                    pending.push((path, item));
                }
            }
            _ => {}
        }
    }
    None
}

/// `FilterTooLong` for a `LIKE` pattern past `LIKE_PATTERN_MAX_BYTES`, which SQLite would
/// refuse past its own limit and PostgreSQL would run.
pub(crate) fn check_query(query: &ListQuery) -> Result<(), StoreError> {
    let too_long = query.filters.iter().any(|filter| {
        matches!(filter, Filter::Like(_, pattern) if pattern.len() > LIKE_PATTERN_MAX_BYTES)
    });
    if too_long {
        return Err(StoreError::FilterTooLong);
    }
    Ok(())
}

/// Whether any stored row could match `query`: `false` when one of its texts holds a NUL.
/// (A long text is still asked: an unindexed column may hold it, and PostgreSQL compares a long
/// text against an index without storing it.)
pub(crate) fn query_can_match(query: &ListQuery) -> bool {
    let texts =
        query
            .account_sid
            .iter()
            .chain(&query.parent_sid)
            .chain(query.filters.iter().filter_map(|filter| match filter {
                Filter::Equals(_, text) | Filter::Like(_, text) => Some(text),
                Filter::Between(..) | Filter::Absent(_) => None,
            }));
    texts.into_iter().all(|text| is_storable(text))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Kind;

    fn check(doc: Value, friendly_name: Option<&str>, expect: Option<&str>) {
        let mut record = Record::new(Kind::Message, "SM1".into(), "AC1".into(), 0, doc);
        record.friendly_name = friendly_name.map(str::to_owned);
        let got = match check_record(&record) {
            Ok(()) => None,
            Err(StoreError::Unstorable { place, .. }) => Some(place),
            Err(other) => panic!("unexpected {other}"),
        };
        assert_eq!(got.as_deref(), expect);
    }

    #[test]
    fn finds_the_first_nul_in_columns_and_documents() {
        check(json!({"body": "a\u{1}b\u{7f}\u{200f}"}), Some("ok"), None);
        check(json!({"body": "a\0b"}), None, Some("doc.body"));
        check(json!({"list": [1, "x", "\0"]}), None, Some("doc.list[2]"));
        check(json!({"outer": {"k\0": 1}}), None, Some("doc.outer.k\\0"));
        check(json!({}), Some("name\0"), Some("friendly_name"));
        check(json!("\0"), None, Some("doc"));
        check(json!({}), Some(&"x".repeat(100_000)), None);
    }

    #[test]
    fn indexed_columns_are_capped() {
        let mut record = Record::new(Kind::Message, "SM1".into(), "AC1".into(), 0, json!({}));
        record.phone_number = Some("1".repeat(INDEXED_TEXT_MAX_BYTES));
        assert!(check_record(&record).is_ok());
        record.phone_number = Some("1".repeat(INDEXED_TEXT_MAX_BYTES + 1));
        assert!(matches!(
            check_record(&record),
            Err(StoreError::Unstorable { place, .. }) if place == "phone_number"
        ));
    }

    #[test]
    fn a_deep_document_is_checked_without_recursion() {
        let mut doc = json!("\0");
        for _ in 0..10_000 {
            doc = Value::Array(vec![doc]);
        }
        let mut record = Record::new(Kind::Message, "SM1".into(), "AC1".into(), 0, doc);
        record.friendly_name = None;
        assert!(check_record(&record).is_err());
        // serde_json's own drop is recursive; leak-free teardown one level at a time.
        let mut value = record.doc;
        while let Value::Array(mut items) = value {
            value = items.pop().unwrap_or(Value::Null);
        }
    }
}
