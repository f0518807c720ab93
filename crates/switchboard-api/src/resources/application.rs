//! Applications: a reusable set of voice and SMS URLs that numbers (and calls) can point at.

use axum::Json;
use axum::response::Response;
use serde_json::{Map, Value, json};
use switchboard_core::{Sid, SidKind, date};
use switchboard_store::{Column, Kind, Order, Record};

use super::fields::{self, Field};
use super::listing::{ListPath, Listing, Param};
use super::scoped::{Scoped, ScopedForm};
use super::{ACCOUNTS, created};
use crate::error::ApiResult;
use crate::now_ms;

/// Settings of this resource beyond the shared handler fields (`fields::HANDLERS`).
const FIELDS: &[Field] = &[
    Field::url("SmsStatusCallback", "sms_status_callback"),
    Field::url("MessageStatusCallback", "message_status_callback"),
    Field::boolean(
        "PublicApplicationConnectEnabled",
        "public_application_connect_enabled",
    ),
];

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

/// `Applications.json`, oldest first, filtered by `FriendlyName`.
const LIST: Listing = Listing {
    kind: Kind::Application,
    key: "applications",
    order: Order::Ascending,
    params: &[Param::Equals("FriendlyName", Column::FriendlyName)],
    render: |_, record| Ok(render(&record.doc)),
    path: ListPath::Account("Applications.json"),
};

pub(crate) async fn list(scoped: Scoped) -> ApiResult<Json<Value>> {
    LIST.of_account(&scoped, None).await
}

pub(crate) async fn create(ScopedForm(scoped, params): ScopedForm) -> ApiResult<Response> {
    let now = now_ms();
    let mut doc = fields::defaults(&[fields::HANDLERS, FIELDS]);
    doc.insert(
        "sid".into(),
        json!(Sid::generate(SidKind::Application).as_str()),
    );
    doc.insert("account_sid".into(), json!(scoped.account.sid));
    doc.insert("date_created".into(), json!(now));
    doc.insert("date_updated".into(), json!(now));
    fields::apply(&[fields::HANDLERS, FIELDS], &params, &mut doc)?;
    fields::check_fallbacks(&doc)?;
    let record = record_of(&doc, now);
    scoped.state.store.insert(&record).await?;
    scoped
        .warn_ignored(
            Some(&record.sid),
            &params,
            super::ignored::APPLICATION_SETTINGS,
        )
        .await;
    Ok(created(render(&record.doc)))
}

pub(crate) async fn fetch(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    let record = scoped.file_record(Kind::Application, &scoped.rest).await?;
    Ok(Json(render(&record.doc)))
}

pub(crate) async fn update(
    ScopedForm(scoped, params): ScopedForm<String>,
) -> ApiResult<Json<Value>> {
    let sid = scoped.json_sid(&scoped.rest)?;
    let (record, mut doc) = scoped
        .load::<Map<String, Value>>(Kind::Application, sid)
        .await?;
    fields::apply(&[fields::HANDLERS, FIELDS], &params, &mut doc)?;
    fields::check_fallbacks(&doc)?;
    doc.insert("date_updated".into(), json!(now_ms()));
    let updated = record_of(&doc, record.created_ms);
    scoped.state.store.update(&updated).await?;
    scoped
        .warn_ignored(Some(sid), &params, super::ignored::APPLICATION_SETTINGS)
        .await;
    Ok(Json(render(&updated.doc)))
}

pub(crate) async fn delete(scoped: Scoped<String>) -> ApiResult<Response> {
    scoped.delete(Kind::Application).await
}
