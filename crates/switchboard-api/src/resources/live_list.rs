//! Lists of live engine state (a conference's participants, a queue's members) in Twilio's
//! paging envelope: the same `fetch_keyed` paging as stored rows, over the items' positions
//! (1, 2, …) as their keys, so `PageSize`, `Page` and the page URIs behave as on any list.

use axum::http::Uri;
use serde_json::Value;
use switchboard_store::Order;

use crate::error::ApiResult;
use crate::form::query_params;
use crate::paging::{Keyed, PageRequest, Window, fetch_keyed};

#[derive(Clone)]
struct Row {
    position: i64,
    item: Value,
}

impl Keyed for Row {
    fn seq(&self) -> i64 {
        self.position
    }
}

fn window(rows: &[Row], window: Window) -> Vec<Row> {
    let after = window.after_seq;
    let selected: Vec<Row> = match window.order {
        Order::Ascending => rows
            .iter()
            .filter(|row| after.is_none_or(|after| row.position > after))
            .cloned()
            .collect(),
        Order::Descending => rows
            .iter()
            .rev()
            .filter(|row| after.is_none_or(|after| row.position < after))
            .cloned()
            .collect(),
    };
    selected
        .into_iter()
        .skip(usize::try_from(window.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(window.limit).unwrap_or(0))
        .collect()
}

/// The page `uri` asks for of `items` (in their order), under `key`.
pub(crate) async fn answer(uri: &Uri, key: &str, items: Vec<Value>) -> ApiResult<Value> {
    let params = query_params(uri.query())?;
    let request = PageRequest::from_params(&params)?;
    let rows: Vec<Row> = items
        .into_iter()
        .zip(1..)
        .map(|(item, position)| Row { position, item })
        .collect();
    let page = fetch_keyed(Order::Ascending, request, |w| {
        let rows = window(&rows, w);
        async move { Ok(rows) }
    })
    .await?;
    let items = page.records.iter().map(|row| row.item.clone()).collect();
    Ok(page.envelope(uri.path(), &[], key, items))
}
