//! Applications: a reusable set of voice and SMS URLs that numbers (and calls) can point at.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::response::Response;
use serde_json::{Map, Value, json};
use switchboard_core::{Sid, SidKind, date};
use switchboard_store::{Column, Filter, Kind, ListQuery, Order, Record};

use super::fields::{self, Field};
use super::{ACCOUNTS, created, delete_owned, json_sid, load_owned, scoped_record};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::form::{FormBody, query_params};
use crate::paging::{PageRequest, fetch_page};
use crate::{AppState, now_ms};

/// Settings of this resource beyond the shared handler fields (`fields::HANDLERS`).
const FIELDS: &[Field] = &[
    Field::url("SmsStatusCallback", "sms_status_callback"),
    Field::url("MessageStatusCallback", "message_status_callback"),
    Field::boolean(
        "PublicApplicationConnectEnabled",
        "public_application_connect_enabled",
    ),
];

fn collection(account_sid: &str) -> String {
    format!("{ACCOUNTS}/{account_sid}/Applications.json")
}

fn record_of(doc: &Map<String, Value>, created_ms: i64) -> Record {
    let text = |name: &str| {
        doc.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut record = Record::new(
        Kind::Application,
        text("sid"),
        text("account_sid"),
        created_ms,
        Value::Object(doc.clone()),
    );
    record.friendly_name = Some(text("friendly_name"));
    record
}

/// The Twilio representation of a stored application document.
pub fn render(doc: &Value) -> Value {
    let mut body = doc.clone();
    let (Some(sid), Some(account)) = (doc["sid"].as_str(), doc["account_sid"].as_str()) else {
        return body;
    };
    body["uri"] = json!(format!("{ACCOUNTS}/{account}/Applications/{sid}.json"));
    for name in ["date_created", "date_updated"] {
        body[name] = json!(date::rfc2822(doc[name].as_i64().unwrap_or_default()));
    }
    body
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let account = caller.scope(&state, &account, uri.path()).await?;
    let params = query_params(uri.query())?;
    let request = PageRequest::from_params(&params)?;
    let mut query = ListQuery::new(Kind::Application, &account.sid);
    query.order = Order::Ascending;
    let mut filters = Vec::new();
    if let Some(name) = params.get("FriendlyName") {
        query
            .filters
            .push(Filter::Equals(Column::FriendlyName, name.to_owned()));
        filters.push(("FriendlyName", name.to_owned()));
    }
    let page = fetch_page(state.store.as_ref(), query, request).await?;
    let items = page
        .records
        .iter()
        .map(|record| render(&record.doc))
        .collect();
    Ok(Json(page.envelope(
        &collection(&account.sid),
        &filters,
        "applications",
        items,
    )))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
    OriginalUri(uri): OriginalUri,
    FormBody(params): FormBody,
) -> ApiResult<Response> {
    let account = caller.scope(&state, &account, uri.path()).await?;
    let now = now_ms();
    let mut doc = fields::defaults(&[fields::HANDLERS, FIELDS]);
    doc.insert(
        "sid".into(),
        json!(Sid::generate(SidKind::Application).as_str()),
    );
    doc.insert("account_sid".into(), json!(account.sid));
    doc.insert("date_created".into(), json!(now));
    doc.insert("date_updated".into(), json!(now));
    fields::apply(&[fields::HANDLERS, FIELDS], &params, &mut doc)?;
    fields::check_fallbacks(&doc)?;
    let record = record_of(&doc, now);
    state.store.insert(&record).await?;
    Ok(created(render(&record.doc)))
}

pub(crate) async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let (_, record) = scoped_record(
        &state,
        &caller,
        &account,
        &file,
        uri.path(),
        Kind::Application,
    )
    .await?;
    Ok(Json(render(&record.doc)))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    FormBody(params): FormBody,
) -> ApiResult<Json<Value>> {
    let account = caller.scope(&state, &account, uri.path()).await?;
    let sid = json_sid(&file, uri.path())?;
    let (record, mut doc) =
        load_owned::<Map<String, Value>>(&state, Kind::Application, sid, &account.sid, uri.path())
            .await?;
    fields::apply(&[fields::HANDLERS, FIELDS], &params, &mut doc)?;
    fields::check_fallbacks(&doc)?;
    doc.insert("date_updated".into(), json!(now_ms()));
    let updated = record_of(&doc, record.created_ms);
    state.store.update(&updated).await?;
    Ok(Json(render(&updated.doc)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    delete_owned(
        &state,
        &caller,
        &account,
        &file,
        uri.path(),
        Kind::Application,
    )
    .await
}
