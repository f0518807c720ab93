//! Twilio's list envelope: `PageSize`, `Page`, `PageToken` in; `first_page_uri`, `next_page_uri`,
//! `previous_page_uri`, `uri`, `page`, `page_size`, `start`, `end` out.
//!
//! Paging is keyset-based: `PageToken=PA<seq>` continues after the row `seq`, `PB<seq>` goes back
//! before it, so pages stay stable while rows are added. `Page` without a token is an offset.

use serde_json::{Map, Value, json};
use switchboard_core::error_code;
use switchboard_store::{ListQuery, Order, Record, Store};

use crate::error::{ApiError, ApiResult};
use crate::form::Params;

const DEFAULT_PAGE_SIZE: i64 = 50;
const MAX_PAGE_SIZE: i64 = 1000;

/// Where a page starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    After(i64),
    Before(i64),
}

/// The paging part of a list request.
#[derive(Clone, Debug)]
pub struct PageRequest {
    page: i64,
    page_size: i64,
    token: Option<Token>,
}

impl PageRequest {
    pub fn from_params(params: &Params) -> ApiResult<PageRequest> {
        let invalid = |name: &str, value: &str| {
            ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("Invalid {name}: {value:?}"),
            )
        };
        let page_size = match params.get("PageSize") {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => match text.parse::<i64>() {
                Ok(size) if size >= 1 => size.min(MAX_PAGE_SIZE),
                _ => return Err(invalid("PageSize", text)),
            },
        };
        let page = match params.get("Page") {
            None => 0,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|page| *page >= 0)
                .ok_or_else(|| invalid("Page", text))?,
        };
        let token = match params.get("PageToken") {
            None | Some("") => None,
            Some(text) => Some(parse_token(text).ok_or_else(|| {
                ApiError::bad_request(
                    error_code::INVALID_PAGE_TOKEN,
                    format!("Invalid PageToken: {text:?}"),
                )
            })?),
        };
        Ok(PageRequest {
            page,
            page_size,
            token,
        })
    }
}

fn parse_token(text: &str) -> Option<Token> {
    let (kind, seq) = text.split_at_checked(2)?;
    let seq = seq.parse::<i64>().ok().filter(|seq| *seq > 0)?;
    match kind {
        "PA" => Some(Token::After(seq)),
        "PB" => Some(Token::Before(seq)),
        _ => None,
    }
}

fn reverse(order: Order) -> Order {
    match order {
        Order::Ascending => Order::Descending,
        Order::Descending => Order::Ascending,
    }
}

/// A row that pages by its `seq`.
pub trait Keyed {
    fn seq(&self) -> i64;
}

impl Keyed for Record {
    fn seq(&self) -> i64 {
        self.seq
    }
}

impl Keyed for switchboard_store::Delivery {
    fn seq(&self) -> i64 {
        self.seq
    }
}

/// One page of records, with whether more exist beyond either edge.
#[derive(Debug)]
pub struct Page<T = Record> {
    pub records: Vec<T>,
    request: PageRequest,
    has_next: bool,
}

/// What one read of a page asks of the store: rows after `after_seq` in `order` (or from
/// `offset` without it), at most `limit`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub order: Order,
    pub after_seq: Option<i64>,
    pub offset: i64,
    pub limit: i64,
}

/// Runs `query` (its kind, owner and filters) for the requested page.
pub async fn fetch_page(
    store: &dyn Store,
    query: ListQuery,
    request: PageRequest,
) -> ApiResult<Page> {
    fetch_keyed(query.order, request, |window| {
        let mut query = query.clone();
        query.order = window.order;
        query.after_seq = window.after_seq;
        query.offset = window.offset;
        query.limit = window.limit;
        async move { Ok(store.list(&query).await?) }
    })
    .await
}

/// The requested page of rows listed in `order` by `read`, whatever they are.
pub async fn fetch_keyed<T, F, Fut>(
    order: Order,
    request: PageRequest,
    mut read: F,
) -> ApiResult<Page<T>>
where
    T: Keyed,
    F: FnMut(Window) -> Fut,
    Fut: std::future::Future<Output = ApiResult<Vec<T>>>,
{
    let limit = request.page_size + 1;
    let mut has_next;
    let mut records = match request.token {
        Some(Token::After(seq)) => {
            read(Window {
                order,
                after_seq: Some(seq),
                offset: 0,
                limit,
            })
            .await?
        }
        Some(Token::Before(seq)) => {
            let window = Window {
                order: reverse(order),
                after_seq: Some(seq),
                offset: 0,
                limit,
            };
            let mut rows = read(window).await?;
            rows.truncate(request.page_size as usize);
            rows.reverse();
            rows
        }
        None => {
            let offset = request.page.saturating_mul(request.page_size);
            read(Window {
                order,
                after_seq: None,
                offset,
                limit,
            })
            .await?
        }
    };
    has_next = records.len() as i64 > request.page_size;
    records.truncate(request.page_size as usize);
    if matches!(request.token, Some(Token::Before(_))) {
        has_next = true;
    }
    Ok(Page {
        records,
        request,
        has_next,
    })
}

impl<T: Keyed> Page<T> {
    /// The Twilio envelope around `items`, under `key`, for the list at `path` with `filters`
    /// (the non-paging query parameters, kept in every page URI).
    pub fn envelope(
        &self,
        path: &str,
        filters: &[(String, String)],
        key: &str,
        items: Vec<Value>,
    ) -> Value {
        let size = self.request.page_size;
        let page = self.request.page;
        let uri = |page: i64, token: Option<String>| {
            let mut query: Vec<String> = filters
                .iter()
                .map(|(name, value)| format!("{name}={}", encode(value)))
                .collect();
            query.push(format!("PageSize={size}"));
            query.push(format!("Page={page}"));
            if let Some(token) = token {
                query.push(format!("PageToken={token}"));
            }
            format!("{path}?{}", query.join("&"))
        };
        let next = match (self.has_next, self.records.last()) {
            (true, Some(last)) => Value::String(uri(page + 1, Some(format!("PA{}", last.seq())))),
            _ => Value::Null,
        };
        let previous = match (page > 0, self.records.first()) {
            (true, Some(first)) => Value::String(uri(page - 1, Some(format!("PB{}", first.seq())))),
            (true, None) => Value::String(uri(page - 1, None)),
            _ => Value::Null,
        };
        let start = page.saturating_mul(size);
        let end = (start + self.records.len() as i64 - 1).max(start);
        let current_token = match self.request.token {
            Some(Token::After(seq)) => Some(format!("PA{seq}")),
            Some(Token::Before(seq)) => Some(format!("PB{seq}")),
            None => None,
        };
        let mut body = Map::new();
        body.insert("first_page_uri".into(), json!(uri(0, None)));
        body.insert("next_page_uri".into(), next);
        body.insert("previous_page_uri".into(), previous);
        body.insert("uri".into(), json!(uri(page, current_token)));
        body.insert("page".into(), json!(page));
        body.insert("page_size".into(), json!(size));
        body.insert("start".into(), json!(start));
        body.insert("end".into(), json!(end));
        body.insert(key.into(), Value::Array(items));
        Value::Object(body)
    }
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_sizes_are_validated() {
        let parse =
            |query: &str| PageRequest::from_params(&Params::parse(query.as_bytes()).unwrap());
        assert_eq!(parse("").unwrap().page_size, 50);
        assert_eq!(parse("PageSize=5000").unwrap().page_size, 1000);
        assert_eq!(
            parse("PageToken=PA12").unwrap().token,
            Some(Token::After(12))
        );
        assert_eq!(
            parse("PageToken=PB3").unwrap().token,
            Some(Token::Before(3))
        );
        for bad in [
            "PageSize=0",
            "PageSize=x",
            "Page=-1",
            "PageToken=XX1",
            "PageToken=PA",
            "PageToken=PA-4",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("PageToken=PAx").unwrap_err().code,
            error_code::INVALID_PAGE_TOKEN
        );
    }
}
