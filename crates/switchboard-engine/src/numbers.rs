//! The number directory: which provisioned number an inbound call or message is for.
//!
//! Every inbound call and message looks its number up; `NumberIndex` turns that into a read by
//! SID (served from the store's cache) instead of a query.

use switchboard_store::{Column, Filter, Kind, ListQuery, Record};

use crate::Engine;
use crate::error::EngineResult;

/// The number provisioned on this engine as `number`, if any.
pub(crate) async fn find(state: &Engine, number: &str) -> EngineResult<Option<Record>> {
    if let Some(sid) = state.numbers.sid(number) {
        match state.store.get(Kind::PhoneNumber, &sid).await? {
            Some(record) if record.phone_number.as_deref() == Some(number) => {
                return Ok(Some(record));
            }
            _ => state.numbers.forget(number),
        }
    }
    let mut query = ListQuery::new(Kind::PhoneNumber, "");
    query.account_sid = None;
    query
        .filters
        .push(Filter::Equals(Column::PhoneNumber, number.to_owned()));
    query.limit = 1;
    let found = state.store.list(&query).await?.into_iter().next();
    if let Some(record) = &found {
        state.numbers.remember(number, &record.sid);
    }
    Ok(found)
}

/// Phone number to the SID of the number resource provisioned with it, so the lookup made for
/// every inbound call and message is a read by SID (served from the store's cache on SQLite)
/// instead of a query. An entry is only a hint: `find` reads the row it names and checks
/// its number, and falls back to the query when the number was released or provisioned again.
#[derive(Debug, Default)]
pub struct NumberIndex {
    sids: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// Hints kept; past this the index starts again empty (every lookup still works, by query).
const NUMBER_INDEX_CAPACITY: usize = 100_000;

impl NumberIndex {
    fn sids(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
        self.sids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sid(&self, number: &str) -> Option<String> {
        self.sids().get(number).cloned()
    }

    fn remember(&self, number: &str, sid: &str) {
        let mut sids = self.sids();
        if sids.len() >= NUMBER_INDEX_CAPACITY {
            sids.clear();
        }
        sids.insert(number.to_owned(), sid.to_owned());
    }

    fn forget(&self, number: &str) {
        self.sids().remove(number);
    }
}
