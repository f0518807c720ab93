//! Fallback probes (`--probe-interval`, product.md "Beyond Twilio"): a fallback URL is only ever
//! requested when its primary has already failed, so a broken one is found by the first caller
//! who needs it. With probes on, every number with a fallback URL (voice or SMS, its own or its
//! application's) gets a signed request to it once per interval, with the parameters a real
//! fallback request would carry plus `SwitchboardProbe=true`, spread evenly over the interval
//! rather than all at once.
//!
//! A probe passes when the answer is usable TwiML of its channel (as a real fallback would have
//! to be). A failing probe records an ERROR alert about the number (the exchange's own, code and
//! all: 11200, 11205, 12100, …), once per interval while it fails; the first passing probe
//! after a failure records a WARNING alert with the same code saying it answers again. The last
//! result is kept in the number's document as `switchboard_fallback_probe` (`at`, `ok`,
//! `error_code`), which the REST API and the console show.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_core::{ErrorCode, date, error_code};
use switchboard_store::{Kind, Record};
use switchboard_webhook::{AlertLevel, Channel, CookieJar, Endpoint, TwimlOutcome};

use crate::{Engine, account, alerts, now_ms, session};

/// Numbers read per page while listing them.
const PAGE: i64 = 500;

/// The caller a voice probe pretends to be (Twilio's magic test number).
const PROBE_FROM: &str = "+15005550006";

impl Engine {
    /// Starts probing every number's fallback URLs once per `interval`, on a task of the engine
    /// that ends when shutdown begins.
    pub fn start_probes(&self, interval: Duration) {
        let engine = self.clone();
        self.spawn(async move {
            tokio::select! {
                () = engine.closing() => {}
                () = probe_forever(&engine, interval) => {}
            }
        });
    }
}

async fn probe_forever(engine: &Engine, interval: Duration) {
    loop {
        let round = tokio::time::Instant::now();
        let numbers = match probed_numbers(engine).await {
            Ok(numbers) => numbers,
            Err(error) => {
                tracing::error!(?error, "listing the numbers to probe failed");
                Vec::new()
            }
        };
        let count = numbers.len().max(1) as u32;
        for (index, number) in numbers.into_iter().enumerate() {
            // Spread over the interval: the index-th of n starts index/n of the way in.
            tokio::time::sleep_until(round + interval / count * index as u32).await;
            if let Err(error) = probe_number(engine, number).await {
                tracing::error!(?error, "probing a fallback URL failed");
            }
        }
        tokio::time::sleep_until(round + interval).await;
    }
}

/// Every number (of every account) that has a fallback URL for some channel.
async fn probed_numbers(engine: &Engine) -> crate::EngineResult<Vec<Record>> {
    engine.scan(Kind::PhoneNumber, Vec::new(), PAGE).await
}

/// Probes the fallback URLs of one number and records the result.
async fn probe_number(engine: &Engine, number: Record) -> crate::EngineResult<()> {
    let Some(account) = account::load(&*engine.store, &number.account_sid).await? else {
        return Ok(());
    };
    // Nothing of an account that is not active runs, its probes included.
    if !account::is_active(&*engine.store, &account).await? {
        return Ok(());
    }
    let mut result: Option<(bool, Option<u32>)> = None;
    for channel in [Channel::Voice, Channel::Messaging] {
        let handler = session::handler(engine, &number.doc, channel).await?;
        let Some(fallback) = handler.fallback else {
            continue;
        };
        let primary = handler
            .primary
            .map(|primary| primary.url)
            .unwrap_or_default();
        let (ok, code) = probe(engine, &account, &number, channel, fallback, primary).await?;
        // A number passes only when every fallback it has passes; the first failure is kept.
        if !matches!(result, Some((false, _))) {
            result = Some((ok, code));
        }
    }
    let Some((ok, error_code)) = result else {
        return Ok(());
    };
    record_result(engine, &number.sid, ok, error_code).await
}

/// One probe of one fallback URL; returns whether it passed and the failure's code.
async fn probe(
    engine: &Engine,
    account: &account::Account,
    number: &Record,
    channel: Channel,
    fallback: Endpoint,
    primary: String,
) -> crate::EngineResult<(bool, Option<u32>)> {
    let params = probe_params(&account.sid, number, channel, &primary);
    let plan = session::plan(engine, fallback, None, params, true, false);
    let result = session::fetch(
        engine,
        &account.auth_token,
        &mut CookieJar::default(),
        plan,
        channel,
    )
    .await;
    let previous = &number.doc["switchboard_fallback_probe"];
    let was_failing = previous["ok"] == json!(false);
    match result.outcome {
        TwimlOutcome::Answer { .. } => {
            if was_failing {
                let code = previous["error_code"]
                    .as_u64()
                    .and_then(|code| u32::try_from(code).ok())
                    .and_then(ErrorCode::lookup)
                    .unwrap_or(error_code::HTTP_RETRIEVAL_FAILURE);
                let message = format!(
                    "The fallback URL answers again: a probe got usable TwiML (it had failed with {code})"
                );
                let url = result.events.last().map(|event| event.url.clone());
                let mut alert = session::session_alert(
                    channel,
                    code,
                    AlertLevel::Warning,
                    message,
                    url.unwrap_or_default(),
                );
                alert.fallback = true;
                alerts::record(engine, &account.sid, Some(&number.sid), &alert).await?;
            }
            Ok((true, None))
        }
        TwimlOutcome::GiveUp { error_code } => {
            for mut alert in result.alerts {
                alert.message = format!("Fallback probe failed: {}", alert.message);
                alerts::record(engine, &account.sid, Some(&number.sid), &alert).await?;
            }
            Ok((false, Some(error_code.code)))
        }
    }
}

/// What a real fallback request for this number would carry, plus `SwitchboardProbe=true`.
fn probe_params(
    account_sid: &str,
    number: &Record,
    channel: Channel,
    primary: &str,
) -> Vec<(String, String)> {
    let to = number.phone_number.clone().unwrap_or_default();
    let mut params: Vec<(String, String)> = match channel {
        Channel::Voice => vec![
            ("AccountSid".into(), account_sid.to_owned()),
            ("ApiVersion".into(), "2010-04-01".into()),
            ("CallStatus".into(), "ringing".into()),
            ("Called".into(), to.clone()),
            ("Caller".into(), PROBE_FROM.into()),
            ("Direction".into(), "inbound".into()),
            ("From".into(), PROBE_FROM.into()),
            ("To".into(), to),
        ],
        Channel::Messaging => vec![
            ("AccountSid".into(), account_sid.to_owned()),
            ("ApiVersion".into(), "2010-04-01".into()),
            ("Body".into(), String::new()),
            ("From".into(), PROBE_FROM.into()),
            ("NumMedia".into(), "0".into()),
            ("SmsStatus".into(), "received".into()),
            ("To".into(), to),
        ],
    };
    params.push((
        "ErrorCode".into(),
        error_code::HTTP_RETRIEVAL_FAILURE.code.to_string(),
    ));
    params.push(("ErrorUrl".into(), primary.to_owned()));
    params.push(("SwitchboardProbe".into(), "true".into()));
    params
}

/// Keeps the last result in the number's document, re-read just before the write so a REST
/// update in between is not undone.
async fn record_result(
    engine: &Engine,
    sid: &str,
    ok: bool,
    error_code: Option<u32>,
) -> crate::EngineResult<()> {
    let Some(mut record) = engine.store.get(Kind::PhoneNumber, sid).await? else {
        return Ok(());
    };
    record.doc["switchboard_fallback_probe"] = json!({
        "at": date::rfc2822(now_ms()),
        "ok": ok,
        "error_code": error_code.map_or(Value::Null, |code| json!(code)),
    });
    engine.store.update(&record).await?;
    Ok(())
}
