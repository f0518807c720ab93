//! IncomingPhoneNumbers: provisioning a number on this engine (there is no carrier to buy from)
//! and its voice/SMS handler settings.
//!
//! Store columns: `phone_number` holds the E.164 number (also the engine-wide `unique_key`),
//! `status` holds the number's type (`local`, `mobile`, `toll-free`) for the typed lists.
//! A number already provisioned on this engine is refused with 21422 ("PhoneNumber is not
//! available"), the code Twilio answers when a number cannot be bought.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use switchboard_core::{Sid, SidKind, date, error_code};
use switchboard_store::{Column, Filter, Kind, ListQuery, Order, Record, StoreError};

use super::fields::{self, Default, Field, Rule};
use super::listing::{ListPath, Listing, Param};
use super::scoped::{Scoped, ScopedForm};
use super::{ACCOUNTS, created};
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::{AppState, now_ms, validate};

/// Settings of this resource beyond the shared handler fields (`fields::HANDLERS`).
const FIELDS: &[Field] = &[
    Field {
        param: "VoiceReceiveMode",
        field: "voice_receive_mode",
        rule: Rule::OneOf(&["voice", "fax"]),
        default: Default::Text("voice"),
    },
    Field {
        param: "EmergencyStatus",
        field: "emergency_status",
        rule: Rule::OneOf(&["Active", "Inactive"]),
        default: Default::Text("Inactive"),
    },
    Field::sid("EmergencyAddressSid", "emergency_address_sid", "AD"),
    Field::sid("AddressSid", "address_sid", "AD"),
    Field::sid("IdentitySid", "identity_sid", "RI"),
    Field::sid("BundleSid", "bundle_sid", "BU"),
    // Beyond Twilio (product.md): a circuit breaker on the origin of the number's primary URLs.
    // Twilio's clients never send it; its JSON field is extra, which they ignore.
    Field::boolean("SwitchboardBreaker", "switchboard_breaker"),
    Field::boolean("SwitchboardStreamFailover", "switchboard_stream_failover"),
    // Beyond Twilio: the voice document run when both URLs fail, instead of the platform
    // prompt; validated when stored (an ERROR finding refuses it).
    Field {
        param: "SwitchboardLastResortTwiml",
        field: "switchboard_last_resort_twiml",
        rule: Rule::Twiml,
        default: Default::Null,
    },
    // Beyond Twilio: run the primary's last valid first document when both URLs fail.
    Field::boolean("SwitchboardLastKnownGood", "switchboard_last_known_good"),
];

/// The typed sub-lists and what they provision.
fn number_type(file: &str) -> Option<&'static str> {
    match file {
        "Local.json" => Some("local"),
        "Mobile.json" => Some("mobile"),
        "TollFree.json" => Some("toll-free"),
        _ => None,
    }
}

fn text<'a>(doc: &'a Map<String, Value>, name: &str) -> &'a str {
    doc.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn record_of(doc: &Map<String, Value>, created_ms: i64) -> Record {
    let number = text(doc, "phone_number").to_owned();
    let mut record = Record::new(
        Kind::PhoneNumber,
        text(doc, "sid").to_owned(),
        text(doc, "account_sid").to_owned(),
        created_ms,
        Value::Object(doc.clone()),
    );
    record.unique_key = Some(format!("number:{number}"));
    record.phone_number = Some(number);
    record.friendly_name = Some(text(doc, "friendly_name").to_owned());
    record.status = Some(text(doc, "type").to_owned());
    record
}

/// The Twilio representation of a stored number document.
pub fn render(doc: &Value) -> Value {
    render_owned(doc.clone())
}

/// `render` for a document the caller no longer needs (no copy).
pub fn render_owned(mut body: Value) -> Value {
    let (Some(sid), Some(account)) = (
        body["sid"].as_str().map(str::to_owned),
        body["account_sid"].as_str().map(str::to_owned),
    ) else {
        return body;
    };
    let base = format!("{ACCOUNTS}/{account}/IncomingPhoneNumbers/{sid}");
    body["uri"] = json!(format!("{base}.json"));
    // Twilio links `assigned_add_ons`; add-ons are not served here, so no link is handed out.
    body["subresource_uris"] = json!({});
    for name in ["date_created", "date_updated"] {
        let at = body[name].as_i64().unwrap_or_default();
        body[name] = json!(date::rfc2822(at));
    }
    body
}

/// `IncomingPhoneNumbers.json` (and its typed lists), oldest first, filtered by `FriendlyName`
/// and a partial `PhoneNumber`.
pub(crate) const LIST: Listing = Listing {
    kind: Kind::PhoneNumber,
    key: "incoming_phone_numbers",
    order: Order::Ascending,
    params: &[
        Param::Equals("FriendlyName", Column::FriendlyName),
        Param::Custom("PhoneNumber", |number| {
            Ok(Filter::Like(Column::PhoneNumber, number_pattern(number)))
        }),
        // No number here is in beta, and every one is `twilio`'s (none ported in as `hosted`).
        Param::Custom("Beta", |value| {
            validate::boolean("Beta", value)?;
            Ok(super::listing::everything())
        }),
        Param::Custom("Origin", |origin| match origin {
            "twilio" => Ok(super::listing::everything()),
            "hosted" => Ok(super::listing::nothing()),
            other => Err(ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("Origin must be twilio or hosted, not {other:?}"),
            )),
        }),
    ],
    render: |_, record| Ok(render(&record.doc)),
    path: ListPath::Requested,
};

pub(crate) async fn list(scoped: Scoped) -> ApiResult<Json<Value>> {
    LIST.of_account(&scoped, None).await
}

pub(crate) async fn fetch_or_list_type(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    if let Some(kind) = number_type(&scoped.rest) {
        let mut query = LIST.query(&scoped.account.sid);
        query
            .filters
            .push(Filter::Equals(Column::Status, kind.to_owned()));
        return Ok(Json(LIST.answer(&scoped.state, query, &scoped.uri).await?));
    }
    let record = scoped.file_record(Kind::PhoneNumber, &scoped.rest).await?;
    Ok(Json(render_owned(record.doc)))
}

/// Twilio's partial-number filter: a substring match where `*` stands for any one digit.
fn number_pattern(filter: &str) -> String {
    let mut pattern = String::from("%");
    for c in filter
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
    {
        match c {
            '*' => pattern.push('_'),
            '%' | '_' | '\\' => {
                pattern.push('\\');
                pattern.push(c);
            }
            other => pattern.push(other),
        }
    }
    pattern.push('%');
    pattern
}

pub(crate) async fn create(ScopedForm(scoped, params): ScopedForm) -> ApiResult<Response> {
    let record = provision(&scoped, &params, None).await?;
    scoped
        .warn_ignored(Some(&record.sid), &params, super::ignored::NUMBER_SETTINGS)
        .await;
    Ok(created(render(&record.doc)))
}

pub(crate) async fn update_or_create_type(
    ScopedForm(scoped, params): ScopedForm<String>,
) -> ApiResult<Response> {
    if let Some(kind) = number_type(&scoped.rest) {
        let record = provision(&scoped, &params, Some(kind)).await?;
        scoped
            .warn_ignored(Some(&record.sid), &params, super::ignored::NUMBER_SETTINGS)
            .await;
        return Ok(created(render(&record.doc)));
    }
    let sid = scoped.json_sid(&scoped.rest)?;
    let updated = update(&scoped, sid, &params).await?;
    scoped
        .warn_ignored(Some(sid), &params, super::ignored::NUMBER_SETTINGS)
        .await;
    Ok(Json(render(&updated.doc)).into_response())
}

/// Applies `params` to the scoped account's number `sid` (the REST update and the console's
/// edit form): the stored record, or the REST error the parameters earn.
pub(crate) async fn update<P>(scoped: &Scoped<P>, sid: &str, params: &Params) -> ApiResult<Record> {
    let (record, mut doc) = scoped
        .load::<Map<String, Value>>(Kind::PhoneNumber, sid)
        .await?;
    apply_settings(scoped, params, &mut doc).await?;
    doc.insert("date_updated".into(), json!(now_ms()));
    let updated = record_of(&doc, record.created_ms);
    scoped.state.store.update(&updated).await?;
    Ok(updated)
}

/// Provisions a number for the scoped account (the REST create and the console's form): the
/// stored record, or the REST error the parameters earn.
pub(crate) async fn provision<P>(
    scoped: &Scoped<P>,
    params: &Params,
    requested_type: Option<&'static str>,
) -> ApiResult<Record> {
    let now = now_ms();
    let mut doc = fields::defaults(&[fields::HANDLERS, FIELDS]);
    doc.insert(
        "sid".into(),
        json!(Sid::generate(SidKind::PhoneNumber).as_str()),
    );
    doc.insert("account_sid".into(), json!(scoped.account.sid));
    doc.insert("date_created".into(), json!(now));
    doc.insert("date_updated".into(), json!(now));
    for (name, value) in [
        ("beta", json!(false)),
        (
            "capabilities",
            json!({"voice": true, "sms": true, "mms": true, "fax": false}),
        ),
        ("origin", json!("twilio")),
        ("status", json!("in-use")),
        ("address_requirements", json!("none")),
        ("emergency_address_status", json!("unregistered")),
        ("voice_application_sid", Value::Null),
        ("sms_application_sid", Value::Null),
        ("trunk_sid", Value::Null),
    ] {
        doc.insert(name.into(), value);
    }
    apply_settings(scoped, params, &mut doc).await?;
    let number = match params.get("PhoneNumber") {
        Some(given) => validate::e164(given).ok_or_else(|| {
            ApiError::bad_request(
                error_code::INVALID_PHONE_NUMBER,
                format!("PhoneNumber {given:?} is not a valid E.164 number"),
            )
        })?,
        None => match params.get("AreaCode") {
            Some(area) => free_number_in_area(&scoped.state, area).await?,
            None => {
                return Err(ApiError::bad_request(
                    error_code::INVALID_PHONE_NUMBER,
                    "PhoneNumber or AreaCode is required",
                ));
            }
        },
    };
    let number_type = match requested_type {
        Some("toll-free") if !validate::is_toll_free(&number) => {
            return Err(ApiError::bad_request(
                error_code::INVALID_PHONE_NUMBER,
                format!("{number} is not a toll-free number"),
            ));
        }
        Some(kind) => kind,
        None if validate::is_toll_free(&number) => "toll-free",
        None => "local",
    };
    if text(&doc, "friendly_name").is_empty() {
        doc.insert(
            "friendly_name".into(),
            json!(validate::formatted_number(&number)),
        );
    }
    doc.insert("phone_number".into(), json!(number));
    doc.insert("type".into(), json!(number_type));
    let record = record_of(&doc, now);
    match scoped.state.store.insert(&record).await {
        Ok(_) => Ok(record),
        Err(StoreError::Conflict(_)) => Err(ApiError::bad_request(
            error_code::PHONE_NUMBER_NOT_AVAILABLE,
            format!("{number} is not available: it is already provisioned on this engine"),
        )),
        Err(other) => Err(other.into()),
    }
}

/// Applies every settable parameter (handler URLs, application and trunk links, owner).
async fn apply_settings<P>(
    scoped: &Scoped<P>,
    params: &Params,
    doc: &mut Map<String, Value>,
) -> ApiResult<()> {
    let (state, account) = (&scoped.state, &scoped.account);
    fields::apply(&[fields::HANDLERS, FIELDS], params, doc)?;
    for (param, field) in [
        ("VoiceApplicationSid", "voice_application_sid"),
        ("SmsApplicationSid", "sms_application_sid"),
    ] {
        if let Some(sid) = params.get(param) {
            let value = application_link(state, &account.sid, param, sid).await?;
            doc.insert(field.into(), value);
        }
    }
    // A trunk and a voice application exclude each other: setting one clears the other.
    if let Some(trunk) = params.get("TrunkSid") {
        doc.insert(
            "trunk_sid".into(),
            if trunk.is_empty() {
                Value::Null
            } else {
                json!(fields::sid_param("TrunkSid", "TK", trunk)?)
            },
        );
        if !trunk.is_empty() {
            doc.insert("voice_application_sid".into(), Value::Null);
        }
    } else if params
        .get("VoiceApplicationSid")
        .is_some_and(|sid| !sid.is_empty())
    {
        doc.insert("trunk_sid".into(), Value::Null);
    }
    if let Some(owner) = params.get("AccountSid") {
        let target = scoped
            .caller
            .scope(state, owner, "AccountSid")
            .await
            .map_err(|_| {
                ApiError::bad_request(
                    error_code::INVALID_PARAMETER,
                    format!("AccountSid {owner} is not an account you control"),
                )
            })?;
        doc.insert("account_sid".into(), json!(target.sid));
    }
    fields::check_fallbacks(doc)
}

async fn application_link(
    state: &AppState,
    account_sid: &str,
    param: &str,
    sid: &str,
) -> ApiResult<Value> {
    if sid.is_empty() {
        return Ok(Value::Null);
    }
    let invalid = || {
        ApiError::bad_request(
            error_code::INVALID_APPLICATION_SID,
            format!("{param} {sid} is not an application of this account"),
        )
    };
    let parsed = Sid::parse(SidKind::Application, sid).ok_or_else(invalid)?;
    match state.store.get(Kind::Application, parsed.as_str()).await? {
        Some(record) if record.account_sid == account_sid => Ok(json!(parsed.as_str())),
        _ => Err(invalid()),
    }
}

/// A free number in a North American area code (`+1 AAA NXX XXXX`), tried at random.
async fn free_number_in_area(state: &AppState, area: &str) -> ApiResult<String> {
    let valid = area.len() == 3
        && area.bytes().all(|b| b.is_ascii_digit())
        && !area.starts_with(['0', '1']);
    if !valid {
        return Err(ApiError::bad_request(
            error_code::INVALID_PHONE_NUMBER,
            format!("AreaCode {area:?} is not a valid area code"),
        ));
    }
    for _ in 0..64 {
        let exchange = 200 + rand::random::<u32>() % 800;
        let line = rand::random::<u32>() % 10_000;
        let candidate = format!("+1{area}{exchange:03}{line:04}");
        let mut query = ListQuery::new(Kind::PhoneNumber, "");
        query.account_sid = None;
        query
            .filters
            .push(Filter::Equals(Column::PhoneNumber, candidate.clone()));
        query.limit = 1;
        if state.store.list(&query).await?.is_empty() {
            return Ok(candidate);
        }
    }
    Err(ApiError::bad_request(
        error_code::NO_NUMBER_IN_AREA_CODE,
        format!("No phone numbers are free in area code {area}"),
    ))
}

pub(crate) async fn delete(scoped: Scoped<String>) -> ApiResult<Response> {
    let answer = scoped.delete(Kind::PhoneNumber).await?;
    // A released number leaves the Messaging Service pool it was in.
    if let Ok(sid) = scoped.json_sid(&scoped.rest) {
        let member = switchboard_engine::services::service_number_sid(sid);
        scoped
            .state
            .store
            .delete(Kind::ServicePhoneNumber, &member)
            .await?;
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::number_pattern;

    #[test]
    fn partial_number_filters_become_escaped_patterns() {
        assert_eq!(number_pattern("+1415"), "%+1415%");
        assert_eq!(number_pattern("555-**12"), "%555__12%");
        assert_eq!(number_pattern("1%_\\"), "%1\\%\\_\\\\%");
    }
}
