//! The stored call resource (`Kind::Call`): its document, its filter columns and its status
//! updates. The driver is the only writer while the call runs.
//!
//! Columns: `phone_number` = To, `from_number` = From, `status`, `parent_sid` = ParentCallSid,
//! `created_ms` = start time (calls start when created here), `date_key` = end time.

use serde_json::{Map, Value, json};
use switchboard_store::{Kind, Record};

use crate::error::EngineResult;
use crate::voice::callbacks::StatusCallback;
use crate::{Engine, now_ms};
use switchboard_core::phone::formatted_number;

/// Who a new call record is between.
#[derive(Clone, Debug)]
pub struct LegInfo {
    pub sid: String,
    pub account_sid: String,
    pub from: String,
    pub to: String,
    /// `inbound`, `outbound-api`, `outbound-dial`.
    pub direction: &'static str,
    /// `queued`, `ringing`, `initiated`.
    pub status: &'static str,
    pub parent_call_sid: Option<String>,
    pub phone_number_sid: Option<String>,
    pub caller_name: Option<String>,
    pub forwarded_from: Option<String>,
    /// Kept in the record (`engine_status_callback`) so that a restart after a crash can send
    /// the call's final callback.
    pub status_callback: Option<StatusCallback>,
}

/// The document of a new call run by the node `node` (engine-only fields start with `engine_`).
pub fn new_record(info: &LegInfo, node: &str) -> Record {
    let now = now_ms();
    let mut doc = Map::new();
    for (name, value) in [
        ("sid", json!(info.sid)),
        ("account_sid", json!(info.account_sid)),
        ("parent_call_sid", json!(info.parent_call_sid)),
        ("to", json!(info.to)),
        ("to_formatted", json!(formatted_number(&info.to))),
        ("from", json!(info.from)),
        ("from_formatted", json!(formatted_number(&info.from))),
        ("phone_number_sid", json!(info.phone_number_sid)),
        ("status", json!(info.status)),
        ("start_time", json!(now)),
        ("end_time", Value::Null),
        ("duration", Value::Null),
        ("price", Value::Null),
        ("price_unit", json!("USD")),
        ("direction", json!(info.direction)),
        ("answered_by", Value::Null),
        ("api_version", json!("2010-04-01")),
        ("forwarded_from", json!(info.forwarded_from)),
        ("group_sid", Value::Null),
        ("caller_name", json!(info.caller_name)),
        ("queue_time", json!("0")),
        ("trunk_sid", Value::Null),
        ("date_created", json!(now)),
        ("date_updated", json!(now)),
        ("engine_node", json!(node)),
        (
            "engine_status_callback",
            info.status_callback
                .as_ref()
                .map_or(Value::Null, StatusCallback::to_json),
        ),
    ] {
        doc.insert(name.into(), value);
    }
    let mut record = Record::new(
        Kind::Call,
        info.sid.clone(),
        info.account_sid.clone(),
        now,
        Value::Object(doc),
    );
    record.phone_number = Some(info.to.clone());
    record.from_number = Some(info.from.clone());
    record.status = Some(info.status.to_owned());
    record.parent_sid = info.parent_call_sid.clone();
    record
}

/// Writes a status change; a terminal one also sets `end_time` and `duration`.
pub async fn set_status(
    state: &Engine,
    record: &mut Record,
    status: &str,
    terminal: bool,
    duration_s: Option<u64>,
) -> EngineResult<()> {
    let now = now_ms();
    record.doc["status"] = json!(status);
    record.doc["date_updated"] = json!(now);
    record.status = Some(status.to_owned());
    if terminal {
        record.doc["end_time"] = json!(now);
        record.doc["duration"] = json!(duration_s.unwrap_or(0).to_string());
        record.date_key = Some(now);
    }
    state.store.update(record).await?;
    Ok(())
}

/// Keeps a live call's changed status callback (`callback` as `StatusCallback::to_json`) in its
/// record; a failure is logged (the callbacks of the running leg go to the new URL regardless).
pub(crate) async fn store_status_callback(state: &Engine, sid: &str, callback: Value) {
    let stored = match state.store.get(Kind::Call, sid).await {
        Ok(Some(mut record)) => {
            record.doc["engine_status_callback"] = callback;
            record.doc["date_updated"] = json!(now_ms());
            state.store.update(&record).await
        }
        Ok(None) => return,
        Err(error) => Err(error),
    };
    if let Err(error) = stored {
        tracing::error!(?error, call = %sid, "storing a call's status callback failed");
    }
}

/// `completed`, `busy`, `failed`, `no-answer`, `canceled`.
pub fn is_terminal(status: &str) -> bool {
    matches!(
        status,
        "completed" | "busy" | "failed" | "no-answer" | "canceled"
    )
}
