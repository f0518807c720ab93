//! Messaging Services at Twilio's Messaging v1 paths (`/v1/Services`, and the pool of numbers
//! under `/v1/Services/{Sid}/PhoneNumbers`), on the same port as the 2010 API, so the helper
//! libraries' `messaging` domain pointed at the engine works unmodified. ISO 8601 dates, absolute
//! `url`s, and the v1 `meta` paging envelope, as Monitor v1's alerts have.
//!
//! What a service changes elsewhere: `MessagingServiceSid` on Messages create picks a sender from
//! the pool and the service's status callback (`message.rs`), and a number in a pool receives
//! through the service's inbound URLs (`switchboard_engine::services`). The parameters stored and
//! not acted on are `ignored::SERVICE_SETTINGS`.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use switchboard_core::{Sid, SidKind, date, error_code};
use switchboard_engine::services::service_number_sid;
use switchboard_store::{Kind, ListQuery, Order, Record, StoreError};

use super::listing::{ListPath, Listing};
use super::scoped::Scoped;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::form::{FormBody, Params};
use crate::{AppState, now_ms, validate};

const SERVICES: &str = "/v1/Services";

/// The settable fields: parameter, stored field, default.
const BOOLEANS: &[(&str, &str, bool)] = &[
    ("StickySender", "sticky_sender", true),
    ("MmsConverter", "mms_converter", true),
    ("SmartEncoding", "smart_encoding", true),
    ("FallbackToLongCode", "fallback_to_long_code", true),
    ("AreaCodeGeomatch", "area_code_geomatch", true),
    ("SynchronousValidation", "synchronous_validation", true),
    (
        "UseInboundWebhookOnNumber",
        "use_inbound_webhook_on_number",
        false,
    ),
];

fn service_url(state: &AppState, sid: &str) -> String {
    format!("{}{SERVICES}/{sid}", state.public_url)
}

fn render(state: &AppState, doc: &Value) -> Value {
    let mut body = doc.as_object().cloned().unwrap_or_default();
    let sid = doc["sid"].as_str().unwrap_or_default();
    for name in ["date_created", "date_updated"] {
        if let Some(ms) = doc[name].as_i64() {
            body.insert(name.into(), json!(date::iso8601(ms)));
        }
    }
    let url = service_url(state, sid);
    // Only the sub-resource this engine serves is linked.
    body.insert(
        "links".into(),
        json!({"phone_numbers": format!("{url}/PhoneNumbers")}),
    );
    body.insert("url".into(), json!(url));
    Value::Object(body)
}

fn render_number(state: &AppState, doc: &Value) -> Value {
    let mut body = doc.as_object().cloned().unwrap_or_default();
    for name in ["date_created", "date_updated"] {
        if let Some(ms) = doc[name].as_i64() {
            body.insert(name.into(), json!(date::iso8601(ms)));
        }
    }
    let url = format!(
        "{}/PhoneNumbers/{}",
        service_url(state, doc["service_sid"].as_str().unwrap_or_default()),
        doc["sid"].as_str().unwrap_or_default()
    );
    body.insert("url".into(), json!(url));
    Value::Object(body)
}

/// Applies the parameters of a create or update to `doc`, validating each.
fn apply(doc: &mut Map<String, Value>, params: &Params) -> ApiResult<()> {
    if let Some(name) = params.get("FriendlyName") {
        doc.insert(
            "friendly_name".into(),
            json!(validate::friendly_name(name)?),
        );
    }
    let urls = [
        (
            "InboundRequestUrl",
            "inbound_request_url",
            error_code::INVALID_URL,
        ),
        (
            "FallbackUrl",
            "fallback_url",
            error_code::MESSAGING_SERVICE_FALLBACK_INVALID,
        ),
        (
            "StatusCallback",
            "status_callback",
            error_code::INVALID_STATUS_CALLBACK,
        ),
    ];
    for (param, field, code) in urls {
        if let Some(value) = params.get(param) {
            let url = validate::webhook_url(param, value, code)?;
            let url = if url.is_empty() {
                Value::Null
            } else {
                json!(url)
            };
            doc.insert(field.into(), url);
        }
    }
    for (param, field) in [
        ("InboundMethod", "inbound_method"),
        ("FallbackMethod", "fallback_method"),
    ] {
        if let Some(value) = params.get(param) {
            let method = validate::method(param, value, error_code::INVALID_METHOD)?;
            doc.insert(field.into(), json!(method));
        }
    }
    for (param, field, _) in BOOLEANS {
        if let Some(value) = params.get(param) {
            doc.insert((*field).into(), json!(validate::boolean(param, value)?));
        }
    }
    if let Some(value) = params.get("ValidityPeriod") {
        let period = value
            .parse::<u32>()
            .ok()
            .filter(|period| (1..=36_000).contains(period));
        let period = period.ok_or_else(|| {
            ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("ValidityPeriod must be an integer from 1 to 36000, not {value:?}"),
            )
        })?;
        doc.insert("validity_period".into(), json!(period));
    }
    if let Some(value) = params.get("ScanMessageContent") {
        if !matches!(value, "inherit" | "enable" | "disable") {
            return Err(ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("ScanMessageContent must be inherit, enable or disable, not {value:?}"),
            ));
        }
        doc.insert("scan_message_content".into(), json!(value));
    }
    if let Some(value) = params.get("Usecase") {
        doc.insert("usecase".into(), json!(value));
    }
    Ok(())
}

/// A new service's document with Twilio's defaults.
fn new_doc(sid: &str, account_sid: &str, now: i64) -> Map<String, Value> {
    let mut doc = Map::new();
    for (name, value) in [
        ("sid", json!(sid)),
        ("account_sid", json!(account_sid)),
        ("friendly_name", Value::Null),
        ("date_created", json!(now)),
        ("date_updated", json!(now)),
        ("inbound_request_url", Value::Null),
        ("inbound_method", json!("POST")),
        ("fallback_url", Value::Null),
        ("fallback_method", json!("POST")),
        ("status_callback", Value::Null),
        ("scan_message_content", json!("inherit")),
        ("validity_period", json!(36_000)),
        ("usecase", json!("undeclared")),
        ("us_app_to_person_registered", json!(false)),
    ] {
        doc.insert(name.into(), value);
    }
    for (_, field, default) in BOOLEANS {
        doc.insert((*field).into(), json!(default));
    }
    doc
}

fn service_record(doc: Map<String, Value>, created_ms: i64) -> Record {
    let text = |name: &str| doc[name].as_str().unwrap_or_default().to_owned();
    let mut record = Record::new(
        Kind::MessagingService,
        text("sid"),
        text("account_sid"),
        created_ms,
        Value::Null,
    );
    record.friendly_name = doc["friendly_name"].as_str().map(str::to_owned);
    record.doc = Value::Object(doc);
    record
}

/// The caller's account as a scope (for the ignored-parameter alerts).
fn scope(state: &AppState, caller: Caller, uri: Uri) -> Scoped {
    let account = caller.account.clone();
    Scoped::admitted(state.clone(), caller, account, uri, ())
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    FormBody(params): FormBody,
) -> ApiResult<Response> {
    if params.get("FriendlyName").is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            error_code::UNKNOWN_PARAMETER,
            "Missing required parameter FriendlyName in the post body",
        ));
    }
    let sid = Sid::generate(SidKind::MessagingService).into_string();
    let now = now_ms();
    let mut doc = new_doc(&sid, &caller.account.sid, now);
    apply(&mut doc, &params)?;
    let record = service_record(doc, now);
    state.store.insert(&record).await?;
    let body = render(&state, &record.doc);
    scope(&state, caller, uri)
        .warn_ignored(Some(&sid), &params, super::ignored::SERVICE_SETTINGS)
        .await;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

const LIST: Listing = Listing {
    kind: Kind::MessagingService,
    key: "services",
    order: Order::Ascending,
    params: &[],
    render: |state, record| Ok(render(state, &record.doc)),
    path: ListPath::Fixed(SERVICES),
};

const NUMBERS: Listing = Listing {
    kind: Kind::ServicePhoneNumber,
    key: "phone_numbers",
    order: Order::Ascending,
    params: &[],
    render: |state, record| Ok(render_number(state, &record.doc)),
    path: ListPath::Requested,
};

/// The 2010 envelope a `Listing` answers, rewritten as v1's: the items, and the paging in
/// `meta` with absolute URLs.
fn v1_envelope(state: &AppState, key: &str, envelope: &Value) -> Value {
    let absolute = |name: &str| match envelope[name].as_str() {
        Some(path) => json!(format!("{}{path}", state.public_url)),
        None => Value::Null,
    };
    json!({
        key: envelope[key],
        "meta": {
            "first_page_url": absolute("first_page_uri"),
            "key": key,
            "next_page_url": absolute("next_page_uri"),
            "page": envelope["page"],
            "page_size": envelope["page_size"],
            "previous_page_url": absolute("previous_page_uri"),
            "url": absolute("uri"),
        }
    })
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let query = LIST.query(&caller.account.sid);
    let envelope = LIST.answer(&state, query, &uri).await?;
    Ok(Json(v1_envelope(&state, LIST.key, &envelope)))
}

/// The service `sid` of the caller's account; Twilio's 404 for `path` otherwise (marked as a
/// path this API does not have when `sid` is not SID-shaped: `/v1/Services/Usecases` is another
/// of Twilio's resources, not a service).
async fn owned_service(
    state: &AppState,
    caller: &Caller,
    sid: &str,
    path: &str,
) -> ApiResult<Record> {
    if Sid::parse(SidKind::MessagingService, sid).is_none() {
        return Err(ApiError::no_such_path(path));
    }
    super::load_record(
        state,
        Kind::MessagingService,
        sid,
        &caller.account.sid,
        path,
    )
    .await
}

pub(crate) async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let record = owned_service(&state, &caller, &sid, uri.path()).await?;
    Ok(Json(render(&state, &record.doc)))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    OriginalUri(uri): OriginalUri,
    FormBody(params): FormBody,
) -> ApiResult<Json<Value>> {
    let record = owned_service(&state, &caller, &sid, uri.path()).await?;
    let mut doc = record.doc.as_object().cloned().unwrap_or_default();
    apply(&mut doc, &params)?;
    doc.insert("date_updated".into(), json!(now_ms()));
    let updated = service_record(doc, record.created_ms);
    state.store.update(&updated).await?;
    let body = render(&state, &updated.doc);
    scope(&state, caller, uri)
        .warn_ignored(Some(&sid), &params, super::ignored::SERVICE_SETTINGS)
        .await;
    Ok(Json(body))
}

/// Deletes the service and its pool (the numbers stay the account's).
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let record = owned_service(&state, &caller, &sid, uri.path()).await?;
    for member in pool(&state, &record).await? {
        state
            .store
            .delete(Kind::ServicePhoneNumber, &member.sid)
            .await?;
    }
    state
        .store
        .delete(Kind::MessagingService, &record.sid)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Every number in the pool of `service`, oldest first.
pub(crate) async fn pool(state: &AppState, service: &Record) -> Result<Vec<Record>, StoreError> {
    let mut query = ListQuery::new(Kind::ServicePhoneNumber, &service.account_sid);
    query.parent_sid = Some(service.sid.clone());
    query.limit = 1000;
    let mut members = Vec::new();
    loop {
        let page = state.store.list(&query).await?;
        let full = page.len() as i64 == query.limit;
        query.after_seq = page.last().map(|record| record.seq);
        members.extend(page);
        if !full {
            return Ok(members);
        }
    }
}

pub(crate) async fn add_number(
    State(state): State<AppState>,
    caller: Caller,
    Path(service): Path<String>,
    OriginalUri(uri): OriginalUri,
    FormBody(params): FormBody,
) -> ApiResult<Response> {
    let service = owned_service(&state, &caller, &service, uri.path()).await?;
    let number_sid = params
        .get("PhoneNumberSid")
        .filter(|sid| !sid.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                error_code::UNKNOWN_PARAMETER,
                "Missing required parameter PhoneNumberSid in the post body",
            )
        })?;
    let number = match Sid::parse(SidKind::PhoneNumber, number_sid) {
        Some(sid) => state.store.get(Kind::PhoneNumber, sid.as_str()).await?,
        None => None,
    };
    let number = number
        .filter(|number| number.account_sid == caller.account.sid)
        .ok_or_else(|| {
            ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("PhoneNumberSid {number_sid} is not a phone number of this account"),
            )
        })?;
    let member = member_record(&service, &number);
    match state.store.insert(&member).await {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Err(already_pooled(&state, &member).await?),
        Err(error) => return Err(error.into()),
    }
    let body = render_number(&state, &member.doc);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The pool row that puts `number` in `service`.
fn member_record(service: &Record, number: &Record) -> Record {
    let now = now_ms();
    let e164 = number.phone_number.clone().unwrap_or_default();
    let country = if e164.starts_with("+1") { "US" } else { "" };
    let doc = json!({
        "sid": number.sid,
        "account_sid": service.account_sid,
        "service_sid": service.sid,
        "date_created": now,
        "date_updated": now,
        "phone_number": e164,
        "country_code": country,
        "capabilities": ["SMS", "MMS", "Voice"],
    });
    let sid = service_number_sid(&number.sid);
    let mut record = Record::new(
        Kind::ServicePhoneNumber,
        sid.clone(),
        service.account_sid.clone(),
        now,
        doc,
    );
    record.parent_sid = Some(service.sid.clone());
    record.phone_number = Some(e164);
    record.unique_key = Some(sid);
    record
}

/// The error for a number already in a pool: this service's (21710) or another's (21712).
async fn already_pooled(state: &AppState, member: &Record) -> ApiResult<ApiError> {
    let existing = state
        .store
        .get(Kind::ServicePhoneNumber, &member.sid)
        .await?;
    let number = member.doc["phone_number"].as_str().unwrap_or_default();
    Ok(match existing {
        Some(existing) if existing.parent_sid == member.parent_sid => ApiError::bad_request(
            error_code::NUMBER_ALREADY_IN_SERVICE,
            format!("Phone Number {number} is already in the Messaging Service"),
        ),
        _ => ApiError::bad_request(
            error_code::NUMBER_IN_ANOTHER_SERVICE,
            format!("Phone Number {number} is already associated with another Messaging Service"),
        ),
    })
}

pub(crate) async fn list_numbers(
    State(state): State<AppState>,
    caller: Caller,
    Path(service): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let service = owned_service(&state, &caller, &service, uri.path()).await?;
    let mut query = NUMBERS.query(&caller.account.sid);
    query.parent_sid = Some(service.sid);
    let envelope = NUMBERS.answer(&state, query, &uri).await?;
    Ok(Json(v1_envelope(&state, NUMBERS.key, &envelope)))
}

/// The pool row of `number` (a `PN…` SID) in the caller's `service`; 404 otherwise.
async fn owned_member(
    state: &AppState,
    caller: &Caller,
    (service, number): (&str, &str),
    path: &str,
) -> ApiResult<Record> {
    let service = owned_service(state, caller, service, path).await?;
    let member = state
        .store
        .get(Kind::ServicePhoneNumber, &service_number_sid(number))
        .await?;
    member
        .filter(|member| member.parent_sid.as_deref() == Some(service.sid.as_str()))
        .ok_or_else(|| ApiError::not_found(path))
}

pub(crate) async fn fetch_number(
    State(state): State<AppState>,
    caller: Caller,
    Path((service, number)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let member = owned_member(&state, &caller, (&service, &number), uri.path()).await?;
    Ok(Json(render_number(&state, &member.doc)))
}

pub(crate) async fn remove_number(
    State(state): State<AppState>,
    caller: Caller,
    Path((service, number)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let member = owned_member(&state, &caller, (&service, &number), uri.path()).await?;
    state
        .store
        .delete(Kind::ServicePhoneNumber, &member.sid)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
