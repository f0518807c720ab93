//! `Listing`: one description per listable resource (what is stored, how it is ordered, which
//! query parameters filter it, how a row is rendered and where its page URIs point) and the one
//! list request every resource answers with it.
//!
//! A description is data (a `const` per resource) rather than a trait: the lists differ only in
//! these values, and the few that need more (typed number lists, a subaccount's own row, the
//! Monitor v1 `meta` envelope) adjust the query before, or the envelope after, `Listing::answer`.

use axum::Json;
use axum::http::Uri;
use serde_json::Value;
use switchboard_core::{date, error_code};
use switchboard_store::{Column, Filter, Kind, ListQuery, Order, Record};

use super::ACCOUNTS;
use super::scoped::Scoped;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::form::{Params, query_params};
use crate::paging::{PageRequest, fetch_page};

const DAY_MS: i64 = 86_400_000;

/// How one resource is listed.
pub(crate) struct Listing {
    pub kind: Kind,
    /// The key the page's items go under (`calls`, `incoming_phone_numbers`, …).
    pub key: &'static str,
    pub order: Order,
    /// The query parameters that filter the list, in the order they are checked and kept in the
    /// page URIs.
    pub params: &'static [Param],
    /// The Twilio representation of one listed row.
    pub render: fn(&AppState, &Record) -> ApiResult<Value>,
    /// The path the page URIs (`uri`, `first_page_uri`, …) are written on.
    pub path: ListPath,
}

/// A query parameter that filters a list; each one present is kept in the page URIs as given.
pub(crate) enum Param {
    /// `name=value`: rows whose `column` is the value.
    Equals(&'static str, Column),
    /// `name=value`: rows whose parent is the value.
    Parent(&'static str),
    /// `name`, `name>` and `name<`: rows on, from or up to a UTC day (`YYYY-MM-DD`, or also an
    /// ISO 8601 time when `times` is set) in `column`, each end inclusive of its day.
    Days {
        name: &'static str,
        column: Column,
        times: bool,
    },
    /// `name=value`: the filter the function builds from the value, or its validation error.
    Custom(&'static str, fn(&str) -> ApiResult<Filter>),
}

/// Where a list's page URIs point.
pub(crate) enum ListPath {
    /// The collection of the account whose rows are listed:
    /// `/2010-04-01/Accounts/{AccountSid}/{name}`.
    Account(&'static str),
    /// The path as the request wrote it (lists under a parent resource, typed lists).
    Requested,
    /// A path of its own.
    Fixed(&'static str),
}

impl Listing {
    /// A query for this list's rows owned by `account_sid`, in the list's order.
    pub(crate) fn query(&self, account_sid: &str) -> ListQuery {
        let mut query = ListQuery::new(self.kind, account_sid);
        query.order = self.order;
        query
    }

    /// The list of the scoped account's rows (under `parent`, if given), as a response body.
    pub(crate) async fn of_account<P, C>(
        &self,
        scoped: &Scoped<P, C>,
        parent: Option<String>,
    ) -> ApiResult<Json<Value>> {
        let mut query = self.query(&scoped.account.sid);
        query.parent_sid = parent;
        Ok(Json(self.answer(&scoped.state, query, &scoped.uri).await?))
    }

    /// Answers a list request: reads the paging (first) and filter parameters of `uri`'s query,
    /// adds the filters to `query`, fetches the page and wraps its rendered rows in Twilio's
    /// envelope.
    pub(crate) async fn answer(
        &self,
        state: &AppState,
        mut query: ListQuery,
        uri: &Uri,
    ) -> ApiResult<Value> {
        let params = query_params(uri.query())?;
        let request = PageRequest::from_params(&params)?;
        let kept = self.filter(&params, &mut query)?;
        let path = match self.path {
            ListPath::Account(name) => {
                let owner = query.account_sid.as_deref().unwrap_or_default();
                format!("{ACCOUNTS}/{owner}/{name}")
            }
            ListPath::Requested => uri.path().to_owned(),
            ListPath::Fixed(path) => path.to_owned(),
        };
        let page = fetch_page(state.store.as_ref(), query, request).await?;
        let items = page
            .records
            .iter()
            .map(|record| (self.render)(state, record))
            .collect::<ApiResult<Vec<Value>>>()?;
        Ok(page.envelope(&path, &kept, self.key, items))
    }

    /// Adds the filters `params` asks for to `query`; returns the parameters to keep in the page
    /// URIs, in order.
    fn filter(&self, params: &Params, query: &mut ListQuery) -> ApiResult<Vec<(String, String)>> {
        let mut kept = Vec::new();
        for param in self.params {
            match *param {
                Param::Equals(name, column) => {
                    if let Some(value) = params.get(name) {
                        query.filters.push(Filter::Equals(column, value.to_owned()));
                        kept.push((name.to_owned(), value.to_owned()));
                    }
                }
                Param::Parent(name) => {
                    if let Some(value) = params.get(name) {
                        query.parent_sid = Some(value.to_owned());
                        kept.push((name.to_owned(), value.to_owned()));
                    }
                }
                Param::Days {
                    name,
                    column,
                    times,
                } => days(params, query, &mut kept, name, column, times)?,
                Param::Custom(name, filter) => {
                    if let Some(value) = params.get(name) {
                        query.filters.push(filter(value)?);
                        kept.push((name.to_owned(), value.to_owned()));
                    }
                }
            }
        }
        Ok(kept)
    }
}

/// A filter that keeps every row (a parameter checked, whose every valid value keeps them all
/// here: `Beta` when no number is in beta, `IncludeSoftDeleted` when nothing is soft-deleted).
pub(crate) fn everything() -> Filter {
    Filter::Between(Column::CreatedMs, None, None)
}

/// A filter that keeps no row (a value nothing here can have: recordings of a conference,
/// numbers ported in as `hosted`).
pub(crate) fn nothing() -> Filter {
    Filter::Absent(Column::Sid)
}

/// `name` (that day), `name>` (from that day) and `name<` (up to the end of that day).
fn days(
    params: &Params,
    query: &mut ListQuery,
    kept: &mut Vec<(String, String)>,
    field: &str,
    column: Column,
    times: bool,
) -> ApiResult<()> {
    for (suffix, from, until) in [("", true, true), (">", true, false), ("<", false, true)] {
        let name = format!("{field}{suffix}");
        let Some(text) = params.get(&name) else {
            continue;
        };
        let day = date::parse_day(text)
            .or_else(|| times.then(|| date::parse_iso8601(text)).flatten())
            .ok_or_else(|| {
                ApiError::bad_request(
                    error_code::INVALID_PARAMETER,
                    format!("{name} must be YYYY-MM-DD, not {text:?}"),
                )
            })?;
        query.filters.push(Filter::Between(
            column,
            from.then_some(day),
            until.then_some(day + DAY_MS),
        ));
        kept.push((name, text.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    /// 2024-01-02T00:00:00Z.
    const JAN_2: i64 = 1_704_153_600_000;

    const LIST: Listing = Listing {
        kind: Kind::Call,
        key: "calls",
        order: Order::Descending,
        params: &[
            Param::Equals("To", Column::PhoneNumber),
            Param::Parent("CallSid"),
            Param::Days {
                name: "StartTime",
                column: Column::CreatedMs,
                times: true,
            },
            Param::Days {
                name: "MessageDate",
                column: Column::DateKey,
                times: false,
            },
            Param::Custom("Log", |log| match log {
                "0" => Ok(Filter::Equals(Column::Status, "error".into())),
                _ => Err(ApiError::bad_request(error_code::INVALID_PARAMETER, "Log")),
            }),
        ],
        render: |_, record| Ok(record.doc.clone()),
        path: ListPath::Requested,
    };

    fn check(query: &str, filters: &[Filter], parent: Option<&str>, kept: &[(&str, &str)]) {
        let params = Params::parse(query.as_bytes()).unwrap();
        let mut list_query = LIST.query("AC1");
        let got = LIST.filter(&params, &mut list_query).unwrap();
        assert_eq!(list_query.filters, filters, "{query}");
        assert_eq!(list_query.parent_sid.as_deref(), parent, "{query}");
        let kept: Vec<(String, String)> = kept
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        assert_eq!(got, kept, "{query}");
    }

    #[test]
    fn filters_are_built_and_kept_in_table_order() {
        check("", &[], None, &[]);
        check(
            "Log=0&To=%2B1&PageSize=5",
            &[
                Filter::Equals(Column::PhoneNumber, "+1".into()),
                Filter::Equals(Column::Status, "error".into()),
            ],
            None,
            &[("To", "+1"), ("Log", "0")],
        );
        check(
            "StartTime<=2024-01-02&CallSid=CA1&StartTime>=2024-01-02T00:00:00Z",
            &[
                Filter::Between(Column::CreatedMs, Some(JAN_2), None),
                Filter::Between(Column::CreatedMs, None, Some(JAN_2 + DAY)),
            ],
            Some("CA1"),
            &[
                ("CallSid", "CA1"),
                ("StartTime>", "2024-01-02T00:00:00Z"),
                ("StartTime<", "2024-01-02"),
            ],
        );
    }

    #[test]
    fn bad_values_are_twilio_400s() {
        for query in [
            "StartTime=2024-13-01",
            "MessageDate=2024-01-02T00:00:00Z",
            "MessageDate<=x",
            "Log=2",
        ] {
            let params = Params::parse(query.as_bytes()).unwrap();
            let error = LIST.filter(&params, &mut LIST.query("AC1")).unwrap_err();
            assert_eq!(error.code, error_code::INVALID_PARAMETER, "{query}");
        }
    }
}
