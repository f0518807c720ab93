//! Usage records (`…/Usage/Records.json` and its `Daily`, `Monthly`, `Yearly`, `AllTime`,
//! `Today`, `Yesterday`, `ThisMonth`, `LastMonth` lists) and the account `Balance`.
//!
//! Usage is counted from what the engine stored, when asked: calls, messages and recordings
//! of the account (and, unless `IncludeSubaccounts=false`, of its subaccounts) whose creation
//! falls in the period. There is no rating engine behind it, so every price is `0` and the
//! balance is `0.00`: this engine never charges. Counting reads the period's rows page by
//! page rather than keeping counters, so a count is never out of step with the calls and
//! messages the API lists (the price is one read per thousand rows of the period).
//!
//! The categories measured are in `CATEGORIES`; another category of Twilio's spelling gives an
//! empty list (nothing of it is measured here), a name that is not a category's spelling 400.

use std::collections::BTreeMap;

use axum::Json;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use switchboard_core::error_code;
use switchboard_store::{Column, Filter, Kind, ListQuery, Order, Record};

use super::ACCOUNTS;
use super::scoped::Scoped;
use crate::error::{ApiError, ApiResult};
use crate::form::{Params, query_params};
use crate::paging::{Keyed, PageRequest, Window, fetch_keyed};
use crate::validate;

/// A measured category: its name, description, and the units of its count and usage.
struct Category {
    name: &'static str,
    description: &'static str,
    count_unit: &'static str,
    usage_unit: &'static str,
}

const fn category(
    name: &'static str,
    description: &'static str,
    count_unit: &'static str,
    usage_unit: &'static str,
) -> Category {
    Category {
        name,
        description,
        count_unit,
        usage_unit,
    }
}

/// What is measured, in the order the lists show it. `calls*` count completed calls and use
/// their minutes rounded up per call (as Twilio bills); `sms*` count messages received or
/// sent (not failed, canceled or still waiting) and use their segments; `recordings` count
/// recordings and use their minutes rounded up; `totalprice` is the sum of every price (0).
const CATEGORIES: [Category; 8] = [
    category("calls", "Voice Minutes", "calls", "minutes"),
    category("calls-inbound", "Inbound Voice Minutes", "calls", "minutes"),
    category(
        "calls-outbound",
        "Outbound Voice Minutes",
        "calls",
        "minutes",
    ),
    category("sms", "SMS Messages", "messages", "messages"),
    category(
        "sms-inbound",
        "Inbound SMS Messages",
        "messages",
        "messages",
    ),
    category(
        "sms-outbound",
        "Outbound SMS Messages",
        "messages",
        "messages",
    ),
    category("recordings", "Voice Recordings", "recordings", "minutes"),
    category("totalprice", "Total Price", "", "usd"),
];

const CALLS: usize = 0;
const CALLS_INBOUND: usize = 1;
const CALLS_OUTBOUND: usize = 2;
const SMS: usize = 3;
const SMS_INBOUND: usize = 4;
const SMS_OUTBOUND: usize = 5;
const RECORDINGS: usize = 6;

/// Count and usage per category (indexes of `CATEGORIES`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Totals([(u64, u64); CATEGORIES.len()]);

impl Totals {
    fn add(&mut self, index: usize, usage: u64) {
        self.0[index].0 += 1;
        self.0[index].1 += usage;
    }

    fn merge(&mut self, other: &Totals) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0.iter()) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
    }
}

/// The lists under `Usage/Records`: how each splits its range into periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Split {
    /// One record per category for the whole range.
    Whole,
    Daily,
    Monthly,
    Yearly,
}

/// A list of `Usage/Records`: its path name, how it splits, and the range it covers by
/// itself (`None`: `StartDate`/`EndDate`, by default from the account's creation to today).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum List {
    Records,
    AllTime,
    Daily,
    Monthly,
    Yearly,
    Today,
    Yesterday,
    ThisMonth,
    LastMonth,
}

impl List {
    fn from_file(file: &str) -> Option<List> {
        Some(match file.strip_suffix(".json")? {
            "AllTime" => List::AllTime,
            "Daily" => List::Daily,
            "Monthly" => List::Monthly,
            "Yearly" => List::Yearly,
            "Today" => List::Today,
            "Yesterday" => List::Yesterday,
            "ThisMonth" => List::ThisMonth,
            "LastMonth" => List::LastMonth,
            _ => return None,
        })
    }

    fn path(self) -> &'static str {
        match self {
            List::Records => "Records.json",
            List::AllTime => "Records/AllTime.json",
            List::Daily => "Records/Daily.json",
            List::Monthly => "Records/Monthly.json",
            List::Yearly => "Records/Yearly.json",
            List::Today => "Records/Today.json",
            List::Yesterday => "Records/Yesterday.json",
            List::ThisMonth => "Records/ThisMonth.json",
            List::LastMonth => "Records/LastMonth.json",
        }
    }

    fn split(self) -> Split {
        match self {
            List::Daily => Split::Daily,
            List::Monthly => Split::Monthly,
            List::Yearly => Split::Yearly,
            _ => Split::Whole,
        }
    }

    /// The fixed range of a list that has one, given today.
    fn fixed_range(self, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        let first_of_month = today.with_day(1)?;
        match self {
            List::Today => Some((today, today)),
            List::Yesterday => Some((today - Duration::days(1), today - Duration::days(1))),
            List::ThisMonth => Some((first_of_month, today)),
            List::LastMonth => {
                let end = first_of_month - Duration::days(1);
                Some((end.with_day(1)?, end))
            }
            _ => None,
        }
    }
}

fn bad(message: String) -> ApiError {
    ApiError::bad_request(error_code::INVALID_PARAMETER, message)
}

/// `YYYY-MM-DD`, or an offset in days from today (`-30days`, `+1days`), as Twilio takes them.
fn parse_date(name: &str, text: &str, today: NaiveDate) -> ApiResult<NaiveDate> {
    let invalid = || {
        bad(format!(
            "{name} must be a date (YYYY-MM-DD) or an offset such as -30days, not {text:?}"
        ))
    };
    if let Some(days) = text.strip_suffix("days") {
        let offset: i64 = days.parse().map_err(|_| invalid())?;
        return Duration::try_days(offset)
            .and_then(|offset| today.checked_add_signed(offset))
            .ok_or_else(invalid);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid())
}

fn day_of(epoch_ms: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(epoch_ms)
        .unwrap_or_default()
        .date_naive()
}

fn epoch_ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |at| at.and_utc().timestamp_millis())
}

/// The periods of `split` over `[start, end]`, each clipped to the range.
fn periods(split: Split, start: NaiveDate, end: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut from = start;
    while from <= end {
        let next = match split {
            Split::Whole => end.succ_opt(),
            Split::Daily => from.succ_opt(),
            Split::Monthly => {
                let (year, month) = if from.month() == 12 {
                    (from.year() + 1, 1)
                } else {
                    (from.year(), from.month() + 1)
                };
                NaiveDate::from_ymd_opt(year, month, 1)
            }
            Split::Yearly => NaiveDate::from_ymd_opt(from.year() + 1, 1, 1),
        };
        let Some(next) = next else { break };
        let until = (next - Duration::days(1)).min(end);
        out.push((from, until));
        from = next;
    }
    out
}

/// Minutes billed for a duration in seconds: rounded up, a started minute counts.
fn minutes(seconds: u64) -> u64 {
    seconds.div_ceil(60)
}

fn seconds_of(doc: &Value) -> u64 {
    match &doc["duration"] {
        Value::String(text) => text.parse().unwrap_or(0),
        Value::Number(number) => number.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// What one stored row adds to its day.
fn tally(kind: Kind, record: &Record, totals: &mut Totals) {
    let doc = &record.doc;
    let status = doc["status"].as_str().unwrap_or_default();
    let inbound = doc["direction"].as_str() == Some("inbound");
    match kind {
        Kind::Call if status == "completed" => {
            let used = minutes(seconds_of(doc));
            totals.add(CALLS, used);
            totals.add(
                if inbound {
                    CALLS_INBOUND
                } else {
                    CALLS_OUTBOUND
                },
                used,
            );
        }
        Kind::Message
            if matches!(
                status,
                "received" | "sent" | "delivered" | "undelivered" | "read"
            ) =>
        {
            let segments = doc["num_segments"]
                .as_str()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            totals.add(SMS, segments);
            totals.add(if inbound { SMS_INBOUND } else { SMS_OUTBOUND }, segments);
        }
        Kind::Recording if status == "completed" => {
            totals.add(RECORDINGS, minutes(seconds_of(doc)));
        }
        _ => {}
    }
}

/// The day-by-day totals of `accounts` over `[start, end]`.
async fn days(
    scoped: &Scoped<impl Send>,
    accounts: &[String],
    start: NaiveDate,
    end: NaiveDate,
) -> ApiResult<BTreeMap<NaiveDate, Totals>> {
    let mut days: BTreeMap<NaiveDate, Totals> = BTreeMap::new();
    let until = end.succ_opt().map(epoch_ms);
    for account in accounts {
        for kind in [Kind::Call, Kind::Message, Kind::Recording] {
            let mut query = ListQuery::new(kind, account);
            query.filters = vec![Filter::Between(
                Column::CreatedMs,
                Some(epoch_ms(start)),
                until,
            )];
            query.order = Order::Ascending;
            query.limit = 1000;
            loop {
                let rows = scoped.state.store.list(&query).await?;
                for record in &rows {
                    tally(
                        kind,
                        record,
                        days.entry(day_of(record.created_ms)).or_default(),
                    );
                }
                match rows.last() {
                    Some(last) if rows.len() as i64 == query.limit => {
                        query.after_seq = Some(last.seq);
                    }
                    _ => break,
                }
            }
        }
    }
    Ok(days)
}

/// The account and, when asked (the default), its subaccounts.
async fn accounts_in_scope(scoped: &Scoped<impl Send>, params: &Params) -> ApiResult<Vec<String>> {
    let include = match params.get("IncludeSubaccounts") {
        Some(value) => validate::boolean("IncludeSubaccounts", value)?,
        None => true,
    };
    let mut accounts = vec![scoped.account.sid.clone()];
    if include && scoped.account.owner_account_sid == scoped.account.sid {
        let mut query = ListQuery::new(Kind::Account, &scoped.account.sid);
        query.filters = vec![Filter::Equals(
            Column::ParentSid,
            scoped.account.sid.clone(),
        )];
        query.limit = 1000;
        loop {
            let rows = scoped.state.store.list(&query).await?;
            accounts.extend(rows.iter().map(|row| row.sid.clone()));
            match rows.last() {
                Some(last) if rows.len() as i64 == query.limit => query.after_seq = Some(last.seq),
                _ => break,
            }
        }
    }
    Ok(accounts)
}

/// One computed record and its place in the list (its paging key).
struct Indexed {
    position: i64,
    body: Value,
}

impl Keyed for Indexed {
    fn seq(&self) -> i64 {
        self.position
    }
}

/// The rows of a computed list (positions 1, 2, …, ascending) that `window` asks for.
fn window_of(items: &[Value], window: Window) -> Vec<Indexed> {
    let limit = usize::try_from(window.limit).unwrap_or(usize::MAX);
    let indexed = |(index, body): (usize, &Value)| Indexed {
        position: index as i64 + 1,
        body: body.clone(),
    };
    match (window.order, window.after_seq) {
        (Order::Ascending, after) => {
            let skip = match after {
                Some(seq) => usize::try_from(seq).unwrap_or(usize::MAX),
                None => usize::try_from(window.offset).unwrap_or(usize::MAX),
            };
            items
                .iter()
                .enumerate()
                .skip(skip)
                .take(limit)
                .map(indexed)
                .collect()
        }
        (Order::Descending, before) => {
            let end = before
                .map_or(items.len(), |seq| usize::try_from(seq - 1).unwrap_or(0))
                .min(items.len());
            let skip = if before.is_none() {
                usize::try_from(window.offset).unwrap_or(usize::MAX)
            } else {
                0
            };
            items[..end]
                .iter()
                .enumerate()
                .rev()
                .skip(skip)
                .take(limit)
                .map(indexed)
                .collect()
        }
    }
}

/// `…/Usage/Records.json`.
pub(crate) async fn records(scoped: Scoped) -> ApiResult<Json<Value>> {
    answer(&scoped, List::Records).await
}

/// `…/Usage/Records/{Daily|Monthly|…}.json`.
pub(crate) async fn records_by_period(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    let list =
        List::from_file(&scoped.rest).ok_or_else(|| ApiError::no_such_path(scoped.uri.path()))?;
    answer(&scoped, list).await
}

async fn answer(scoped: &Scoped<impl Send>, list: List) -> ApiResult<Json<Value>> {
    let params = query_params(scoped.uri.query())?;
    let request = PageRequest::from_params(&params)?;
    let now = Utc::now();
    let today = now.date_naive();
    let category = params.get("Category").filter(|c| !c.is_empty());
    if let Some(name) = category
        && !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad(format!("Category {name:?} is not a usage category")));
    }
    let mut start = match params.get("StartDate").filter(|d| !d.is_empty()) {
        Some(text) => parse_date("StartDate", text, today)?,
        None => day_of(scoped.account.date_created),
    };
    let mut end = match params.get("EndDate").filter(|d| !d.is_empty()) {
        Some(text) => parse_date("EndDate", text, today)?,
        None => today,
    };
    if start > end {
        return Err(bad(format!("StartDate {start} is after EndDate {end}")));
    }
    if let Some((from, until)) = list.fixed_range(today) {
        start = start.max(from);
        end = end.min(until);
        if params.get("StartDate").is_none() {
            start = from;
        }
    }
    let accounts = accounts_in_scope(scoped, &params).await?;
    let days = if start <= end {
        days(scoped, &accounts, start, end).await?
    } else {
        BTreeMap::new()
    };
    let as_of = now.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let base = format!("{ACCOUNTS}/{}/Usage/", scoped.account.sid);
    let mut items = Vec::new();
    for (from, until) in periods(list.split(), start, end) {
        let mut totals = Totals::default();
        for (_, day) in days.range(from..=until) {
            totals.merge(day);
        }
        for (index, measured) in CATEGORIES.iter().enumerate() {
            if category.is_some_and(|name| name != measured.name) {
                continue;
            }
            let (count, usage) = totals.0[index];
            items.push(json!({
                "account_sid": scoped.account.sid,
                "api_version": "2010-04-01",
                "as_of": as_of,
                "category": measured.name,
                "count": count.to_string(),
                "count_unit": measured.count_unit,
                "description": measured.description,
                "end_date": until.to_string(),
                "price": 0,
                "price_unit": "usd",
                "start_date": from.to_string(),
                "subresource_uris": subresources(&base, measured.name),
                "uri": format!(
                    "{base}{}?Category={}&StartDate={from}&EndDate={until}",
                    list.path(),
                    measured.name
                ),
                "usage": usage.to_string(),
                "usage_unit": measured.usage_unit,
            }));
        }
    }
    let page = fetch_keyed(Order::Ascending, request, |window| {
        let rows = window_of(&items, window);
        async move { Ok(rows) }
    })
    .await?;
    let filters: Vec<(String, String)> = ["Category", "StartDate", "EndDate", "IncludeSubaccounts"]
        .iter()
        .filter_map(|name| {
            params
                .get(name)
                .map(|value| ((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let bodies = page.records.iter().map(|row| row.body.clone()).collect();
    Ok(Json(page.envelope(
        &format!("{base}{}", list.path()),
        &filters,
        "usage_records",
        bodies,
    )))
}

/// Every list of a category's records (each link answers).
fn subresources(base: &str, category: &str) -> Value {
    let mut links = serde_json::Map::new();
    for (name, list) in [
        ("all_time", List::AllTime),
        ("daily", List::Daily),
        ("last_month", List::LastMonth),
        ("monthly", List::Monthly),
        ("this_month", List::ThisMonth),
        ("today", List::Today),
        ("yearly", List::Yearly),
        ("yesterday", List::Yesterday),
    ] {
        links.insert(
            name.into(),
            json!(format!("{base}{}?Category={category}", list.path())),
        );
    }
    Value::Object(links)
}

/// `…/Balance.json`: this engine never charges, so every account's balance is zero.
pub(crate) async fn balance(scoped: Scoped) -> ApiResult<Json<Value>> {
    Ok(Json(json!({
        "account_sid": scoped.account.sid,
        "balance": "0.00",
        "currency": "USD",
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn periods_split_and_clip_the_range() {
        let (start, end) = (day("2026-11-29"), day("2027-01-02"));
        assert_eq!(periods(Split::Whole, start, end), vec![(start, end)]);
        assert_eq!(periods(Split::Daily, start, end).len(), 35);
        assert_eq!(
            periods(Split::Monthly, start, end),
            vec![
                (start, day("2026-11-30")),
                (day("2026-12-01"), day("2026-12-31")),
                (day("2027-01-01"), end),
            ]
        );
        assert_eq!(
            periods(Split::Yearly, start, end),
            vec![(start, day("2026-12-31")), (day("2027-01-01"), end)]
        );
        assert!(periods(Split::Daily, end, start).is_empty());
    }

    #[test]
    fn dates_take_twilio_offsets_and_fixed_lists_their_month() {
        let today = day("2026-03-15");
        assert_eq!(
            parse_date("StartDate", "-30days", today).unwrap(),
            day("2026-02-13")
        );
        assert_eq!(
            parse_date("EndDate", "+1days", today).unwrap(),
            day("2026-03-16")
        );
        assert_eq!(
            parse_date("EndDate", "2026-01-31", today).unwrap(),
            day("2026-01-31")
        );
        for bad in ["yesterday", "2026-02-30", "-xdays", ""] {
            assert!(parse_date("StartDate", bad, today).is_err(), "{bad}");
        }
        assert_eq!(
            List::LastMonth.fixed_range(today),
            Some((day("2026-02-01"), day("2026-02-28")))
        );
        assert_eq!(
            List::Yesterday.fixed_range(day("2026-01-01")),
            Some((day("2025-12-31"), day("2025-12-31")))
        );
        assert_eq!(List::Daily.fixed_range(today), None);
    }

    #[test]
    fn calls_bill_started_minutes_and_messages_their_segments() {
        let call = |direction: &str, status: &str, duration: &str| {
            let mut record = Record::new(
                Kind::Call,
                "CA1".into(),
                "AC1".into(),
                0,
                json!({"direction": direction, "status": status, "duration": duration}),
            );
            record.status = Some(status.into());
            record
        };
        let mut totals = Totals::default();
        tally(Kind::Call, &call("inbound", "completed", "61"), &mut totals);
        tally(
            Kind::Call,
            &call("outbound-api", "completed", "0"),
            &mut totals,
        );
        tally(Kind::Call, &call("outbound-api", "busy", "0"), &mut totals);
        let message = Record::new(
            Kind::Message,
            "SM1".into(),
            "AC1".into(),
            0,
            json!({"direction": "outbound-api", "status": "delivered", "num_segments": "3"}),
        );
        tally(Kind::Message, &message, &mut totals);
        assert_eq!(totals.0[CALLS], (2, 2));
        assert_eq!(totals.0[CALLS_INBOUND], (1, 2));
        assert_eq!(totals.0[CALLS_OUTBOUND], (1, 0));
        assert_eq!(totals.0[SMS_OUTBOUND], (1, 3));
        assert_eq!(totals.0[SMS_INBOUND], (0, 0));
    }

    #[test]
    fn computed_lists_page_forward_and_back_by_position() {
        let items: Vec<Value> = (0..5).map(|n| json!(n)).collect();
        let read = |order, after_seq, offset, limit| {
            window_of(
                &items,
                Window {
                    order,
                    after_seq,
                    offset,
                    limit,
                },
            )
            .iter()
            .map(|row| row.body.as_i64().unwrap())
            .collect::<Vec<_>>()
        };
        assert_eq!(read(Order::Ascending, None, 0, 3), vec![0, 1, 2]);
        assert_eq!(read(Order::Ascending, None, 3, 3), vec![3, 4]);
        assert_eq!(read(Order::Ascending, Some(2), 0, 3), vec![2, 3, 4]);
        assert_eq!(read(Order::Descending, Some(4), 0, 2), vec![2, 1]);
        assert_eq!(read(Order::Descending, Some(1), 0, 2), Vec::<i64>::new());
    }
}
