//! `Conferences` (list, fetch, update `Status=completed`) and `Conferences/{Sid}/Participants`
//! (list, fetch, create an outbound participant, update `Muted`/`Hold`/`AnnounceUrl`, delete =
//! remove from the conference).
//!
//! Conferences are stored rows the engine writes as they run (`Kind::Conference`); participants
//! are live engine state (Twilio too lists only the participants of a conference that has not
//! completed). A participant is named by its call SID or its label. Creating a participant
//! places an outbound call (the `Calls.json` create path, with its validation and parameters)
//! whose TwiML is the `<Dial><Conference>` the request describes, so the new leg joins like
//! any other participant.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchboard_core::{ErrorCode, date, error_code};
use switchboard_engine::voice::{ParticipantUpdate, ParticipantView};
use switchboard_store::{Column, Filter, Kind, Order};
use switchboard_webhook::{Endpoint, Method};

use super::call_recording::one_of;
use super::listing::{ListPath, Listing, Param};
use super::scoped::{Scoped, ScopedForm};
use super::{ACCOUNTS, created, live_list};
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::validate;

fn bad(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

/// The Twilio representation of a stored conference.
pub fn render(doc: &Value) -> Value {
    let (account, sid) = (
        doc["account_sid"].as_str().unwrap_or_default(),
        doc["sid"].as_str().unwrap_or_default(),
    );
    let base = format!("{ACCOUNTS}/{account}/Conferences/{sid}");
    let when = |name: &str| doc[name].as_i64().map(date::rfc2822);
    json!({
        "account_sid": account, "api_version": "2010-04-01",
        "date_created": when("date_created"), "date_updated": when("date_updated"),
        "friendly_name": doc["friendly_name"], "region": doc["region"], "sid": sid,
        "status": doc["status"], "reason_conference_ended": doc["reason_conference_ended"],
        "call_sid_ending_conference": doc["call_sid_ending_conference"],
        "uri": format!("{base}.json"),
        // Only what this engine serves (conference recordings are not made yet).
        "subresource_uris": {"participants": format!("{base}/Participants.json")},
    })
}

/// The Twilio representation of a participant.
pub fn render_participant(view: &ParticipantView) -> Value {
    json!({
        "account_sid": view.account_sid, "call_sid": view.call_sid, "label": view.label,
        "call_sid_to_coach": null, "coaching": false, "conference_sid": view.conference_sid,
        "date_created": date::rfc2822(view.created_ms),
        "date_updated": date::rfc2822(view.updated_ms),
        "end_conference_on_exit": view.end_conference_on_exit, "muted": view.muted,
        "hold": view.hold, "start_conference_on_enter": view.start_conference_on_enter,
        "status": "connected", "queue_time": null,
        "uri": format!(
            "{ACCOUNTS}/{}/Conferences/{}/Participants/{}.json",
            view.account_sid, view.conference_sid, view.call_sid
        ),
    })
}

const STATUSES: [&str; 3] = ["init", "in-progress", "completed"];

fn status_filter(status: &str) -> ApiResult<Filter> {
    if STATUSES.contains(&status) {
        Ok(Filter::Equals(Column::Status, status.to_owned()))
    } else {
        Err(bad(
            error_code::INVALID_PARAMETER,
            format!(
                "Status must be one of {}, not {status:?}",
                STATUSES.join(", ")
            ),
        ))
    }
}

/// `Conferences.json`, newest first, by `FriendlyName`, `Status` and the days of
/// `DateCreated`/`DateUpdated`.
pub(crate) const LIST: Listing = Listing {
    kind: Kind::Conference,
    key: "conferences",
    order: Order::Descending,
    params: &[
        Param::Equals("FriendlyName", Column::FriendlyName),
        Param::Custom("Status", status_filter),
        Param::Days {
            name: "DateCreated",
            column: Column::CreatedMs,
            times: false,
        },
        Param::Days {
            name: "DateUpdated",
            column: Column::DateKey,
            times: false,
        },
    ],
    render: |_, record| Ok(render(&record.doc)),
    path: ListPath::Account("Conferences.json"),
};

pub(crate) async fn list(scoped: Scoped) -> ApiResult<Json<Value>> {
    LIST.of_account(&scoped, None).await
}

pub(crate) async fn fetch(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    let record = scoped.file_record(Kind::Conference, &scoped.rest).await?;
    Ok(Json(render(&record.doc)))
}

/// `POST Conferences/{Sid}.json`: `Status=completed` ends a conference that runs.
pub(crate) async fn update(
    ScopedForm(scoped, params): ScopedForm<String>,
) -> ApiResult<Json<Value>> {
    let record = scoped.file_record(Kind::Conference, &scoped.rest).await?;
    if one_of(&params, "Status", &["completed"])?.is_some()
        && scoped
            .state
            .engine
            .end_conference(&scoped.account.sid, &record.sid)
    {
        // The engine's writer stores `completed` right after; answer what it will store.
        let mut doc = record.doc.clone();
        doc["status"] = json!("completed");
        doc["reason_conference_ended"] = json!("conference-ended-via-api");
        doc["date_updated"] = json!(switchboard_engine::now_ms());
        return Ok(Json(render(&doc)));
    }
    scoped
        .warn_ignored(Some(&record.sid), &params, CONFERENCE_UPDATE_IGNORED)
        .await;
    Ok(Json(render(&record.doc)))
}

/// Conference update parameters not acted on here.
const CONFERENCE_UPDATE_IGNORED: super::ignored::Table =
    &[("AnnounceUrl", &[]), ("AnnounceMethod", &[])];

/// The conference `{ConferenceSid}` names, owned by the scoped account.
async fn conference_sid<P>(scoped: &Scoped<P>, sid: &str) -> ApiResult<String> {
    let record = scoped.record(Kind::Conference, sid).await?;
    Ok(record.sid)
}

fn participant_not_found(path: &str) -> ApiError {
    ApiError::not_found(path)
}

/// `GET Conferences/{Sid}/Participants.json` (`Muted`, `Hold` filter).
pub(crate) async fn participants(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    let sid = conference_sid(&scoped, &scoped.rest).await?;
    let views = scoped
        .state
        .engine
        .conference_participants(&scoped.account.sid, &sid)
        .unwrap_or_default();
    let query = crate::form::query_params(scoped.uri.query())?;
    let muted = match query.get("Muted") {
        Some(value) => Some(validate::boolean("Muted", value)?),
        None => None,
    };
    let hold = match query.get("Hold") {
        Some(value) => Some(validate::boolean("Hold", value)?),
        None => None,
    };
    let items = views
        .iter()
        .filter(|view| muted.is_none_or(|muted| view.muted == muted))
        .filter(|view| hold.is_none_or(|hold| view.hold == hold))
        .map(render_participant)
        .collect();
    Ok(Json(
        live_list::answer(&scoped.uri, "participants", items).await?,
    ))
}

/// The participant `{file}` names (`{CallSid}.json` or `{Label}.json`).
fn who(file: &str, path: &str) -> ApiResult<String> {
    match file.strip_suffix(".json") {
        Some(who) if !who.is_empty() => Ok(who.to_owned()),
        _ => Err(ApiError::no_such_path(path)),
    }
}

pub(crate) async fn participant(scoped: Scoped<(String, String)>) -> ApiResult<Json<Value>> {
    let (conference, file) = scoped.rest.clone();
    let sid = conference_sid(&scoped, &conference).await?;
    let who = who(&file, scoped.uri.path())?;
    let view = scoped
        .state
        .engine
        .participant(&scoped.account.sid, &sid, &who)
        .ok_or_else(|| participant_not_found(scoped.uri.path()))?;
    Ok(Json(render_participant(&view)))
}

fn optional_boolean(params: &Params, name: &str) -> ApiResult<Option<bool>> {
    match params.get(name).filter(|value| !value.is_empty()) {
        Some(value) => Ok(Some(validate::boolean(name, value)?)),
        None => Ok(None),
    }
}

fn method_of(params: &Params, name: &str) -> ApiResult<Method> {
    match one_of(params, name, &["GET", "POST", "get", "post"])? {
        Some(method) if method.eq_ignore_ascii_case("GET") => Ok(Method::Get),
        _ => Ok(Method::Post),
    }
}

/// Participant update parameters not acted on here.
const PARTICIPANT_UPDATE_IGNORED: super::ignored::Table = &[
    ("HoldUrl", &[]),
    ("HoldMethod", &[]),
    ("WaitUrl", &[]),
    ("WaitMethod", &[]),
    ("BeepOnExit", &[]),
    ("EndConferenceOnExit", &[]),
    ("Coaching", &[]),
    ("CallSidToCoach", &[]),
];

/// `POST Participants/{CallSid}.json`: `Muted`, `Hold`, `AnnounceUrl`.
pub(crate) async fn update_participant(
    ScopedForm(scoped, params): ScopedForm<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (conference, file) = scoped.rest.clone();
    let sid = conference_sid(&scoped, &conference).await?;
    let who = who(&file, scoped.uri.path())?;
    let announce = match params.get("AnnounceUrl").filter(|url| !url.is_empty()) {
        Some(url) => Some(Endpoint::new(
            validate::webhook_url("AnnounceUrl", url, error_code::CALL_INVALID_URL)?,
            method_of(&params, "AnnounceMethod")?,
        )),
        None => None,
    };
    let update = ParticipantUpdate {
        muted: optional_boolean(&params, "Muted")?,
        hold: optional_boolean(&params, "Hold")?,
        announce,
    };
    let view = scoped
        .state
        .engine
        .update_participant(&scoped.account.sid, &sid, &who, update)
        .ok_or_else(|| participant_not_found(scoped.uri.path()))?;
    scoped
        .warn_ignored(Some(&view.call_sid), &params, PARTICIPANT_UPDATE_IGNORED)
        .await;
    Ok(Json(render_participant(&view)))
}

/// `DELETE Participants/{CallSid}.json`: the participant is removed (its call goes on after
/// its `<Dial>`).
pub(crate) async fn delete_participant(scoped: Scoped<(String, String)>) -> ApiResult<Response> {
    let (conference, file) = scoped.rest.clone();
    let sid = conference_sid(&scoped, &conference).await?;
    let who = who(&file, scoped.uri.path())?;
    if scoped
        .state
        .engine
        .remove_participant(&scoped.account.sid, &sid, &who)
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(participant_not_found(scoped.uri.path()))
    }
}

/// Escapes text for an XML attribute or element.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The `<Dial><Conference>` a participant create describes.
fn conference_twiml(name: &str, params: &Params) -> ApiResult<String> {
    let mut attributes = String::new();
    let mut add = |attribute: &str, value: &str| {
        attributes.push_str(&format!(" {attribute}=\"{}\"", xml(value)));
    };
    for (param, attribute) in [
        ("Muted", "muted"),
        ("StartConferenceOnEnter", "startConferenceOnEnter"),
        ("EndConferenceOnExit", "endConferenceOnExit"),
    ] {
        if let Some(value) = optional_boolean(params, param)? {
            add(attribute, &value.to_string());
        }
    }
    if let Some(beep) = one_of(params, "Beep", &["true", "false", "onEnter", "onExit"])? {
        add("beep", beep);
    }
    if let Some(url) = params.get("WaitUrl").filter(|url| !url.is_empty()) {
        add(
            "waitUrl",
            &validate::webhook_url("WaitUrl", url, error_code::CALL_INVALID_URL)?,
        );
        add("waitMethod", method_of(params, "WaitMethod")?.as_str());
    }
    if let Some(max) = params.get("MaxParticipants").filter(|max| !max.is_empty()) {
        match max.parse::<u32>() {
            Ok(max) if (2..=250).contains(&max) => add("maxParticipants", &max.to_string()),
            _ => {
                return Err(bad(
                    error_code::INVALID_PARAMETER,
                    "MaxParticipants must be an integer from 2 to 250",
                ));
            }
        }
    }
    if let Some(url) = params
        .get("ConferenceStatusCallback")
        .filter(|url| !url.is_empty())
    {
        add(
            "statusCallback",
            &validate::webhook_url(
                "ConferenceStatusCallback",
                url,
                error_code::CALL_INVALID_URL,
            )?,
        );
        add(
            "statusCallbackMethod",
            method_of(params, "ConferenceStatusCallbackMethod")?.as_str(),
        );
        let events: Vec<&str> = params
            .all("ConferenceStatusCallbackEvent")
            .into_iter()
            .flat_map(|value| value.split([' ', ',']))
            .filter(|event| !event.is_empty())
            .collect();
        if !events.is_empty() {
            add("statusCallbackEvent", &events.join(" "));
        }
    }
    if let Some(label) = params.get("Label").filter(|label| !label.is_empty()) {
        add("participantLabel", label);
    }
    Ok(format!(
        "<Response><Dial><Conference{attributes}>{}</Conference></Dial></Response>",
        xml(name)
    ))
}

/// The parameters of a participant create that are the outbound call's own.
const CALL_PARAMS: &[&str] = &[
    "From",
    "To",
    "StatusCallback",
    "StatusCallbackMethod",
    "StatusCallbackEvent",
    "Timeout",
    "TimeLimit",
    "SipAuthUsername",
    "SipAuthPassword",
    "MachineDetection",
    "MachineDetectionTimeout",
    "MachineDetectionSpeechThreshold",
    "MachineDetectionSpeechEndThreshold",
    "MachineDetectionSilenceTimeout",
    "AmdStatusCallback",
    "AmdStatusCallbackMethod",
];

/// `POST Conferences/{ConferenceSid}/Participants.json`: `{ConferenceSid}` is the SID of a
/// conference of the account, or a name (the conference is created when the call joins).
pub(crate) async fn create_participant(
    ScopedForm(scoped, params): ScopedForm<String>,
) -> ApiResult<Response> {
    let named = scoped.rest.clone();
    let looks_like_sid = named.len() == 34 && named.starts_with("CF");
    let (name, conference_sid) = if looks_like_sid {
        let record = scoped.record(Kind::Conference, &named).await?;
        let name = record.friendly_name.clone().unwrap_or_default();
        (name, Some(record.sid))
    } else {
        (named, None)
    };
    let twiml = conference_twiml(&name, &params)?;
    let mut call = Params(
        params
            .0
            .iter()
            .filter(|(param, _)| CALL_PARAMS.contains(&param.as_str()))
            .cloned()
            .collect(),
    );
    if let Some(caller_id) = params.get("CallerId").filter(|id| !id.is_empty()) {
        call.0.retain(|(param, _)| param != "From");
        call.0.push(("From".into(), caller_id.to_owned()));
    }
    call.0.push(("Twiml".into(), twiml));
    let (start, _) = super::call::outbound(&scoped.state, &scoped.account, &call).await?;
    let (record, _) = scoped.state.engine.start_call(start).await?;
    let now = switchboard_engine::now_ms();
    let view = ParticipantView {
        call_sid: record.sid.clone(),
        conference_sid: conference_sid.unwrap_or_default(),
        account_sid: scoped.account.sid.clone(),
        label: params.get("Label").map(str::to_owned),
        muted: optional_boolean(&params, "Muted")?.unwrap_or(false),
        hold: false,
        start_conference_on_enter: optional_boolean(&params, "StartConferenceOnEnter")?
            .unwrap_or(true),
        end_conference_on_exit: optional_boolean(&params, "EndConferenceOnExit")?.unwrap_or(false),
        created_ms: now,
        updated_ms: now,
    };
    let mut body = render_participant(&view);
    body["status"] = json!("queued");
    if view.conference_sid.is_empty() {
        body["conference_sid"] = Value::Null;
    }
    Ok(created(body))
}
