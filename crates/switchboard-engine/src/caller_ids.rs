//! Verified outgoing caller IDs: a validation request places a call to the number, the person
//! who answers types the six-digit code the request handed out, and the number becomes an
//! `OutgoingCallerId` of the account, usable as `From` (Twilio's OutgoingCallerIds).
//!
//! The verification call is an ordinary outbound leg running an inline document
//! (`<Gather>` with an action), so it runs, ends, is recorded and is taken over like any call.
//! Its gather's action and its status callback are requests to this engine's own HTTP
//! routes at `--public-url` (`/switchboard/v1/CallerIdVerifications/{token}`): any node can
//! answer them, because the verification is a store row (`Kind::CallerIdVerification`) whose
//! SID is a random 128-bit token, the only thing that authorises those routes. The outcome
//! (`VerificationStatus`, `OutgoingCallerIdSid`) goes to the request's `StatusCallback`
//! through the outbox, after the call ended, with the call's parameters.
//!
//! Chosen over a verification mode inside the call driver: the driver stays the one TwiML
//! interpreter, and nothing here needs a live call on a particular node.

use serde_json::{Value, json};
use switchboard_core::{Sid, SidKind};
use switchboard_flow::{CallSetup, Direction, Initial};
use switchboard_store::{Column, Filter, Kind, ListQuery, Record};
use switchboard_twiml::Context;
use switchboard_webhook::{Channel, Endpoint, Method, WebhookRequest};

use crate::account::Account;
use crate::error::{EngineError, EngineResult};
use crate::voice::{LegStart, StatusCallback};
use crate::{Engine, now_ms, outbox};

/// The number the verification call comes from: Twilio's own test number, as no number of the
/// account need exist.
pub const VERIFICATION_CALLER: &str = "+15005550006";
/// Wrong codes allowed before the call gives up.
const ATTEMPTS: u64 = 3;

/// What a validation request asks for.
#[derive(Clone, Debug)]
pub struct VerificationRequest {
    pub phone_number: String,
    pub friendly_name: String,
    /// Seconds of silence after the answer before the prompt (`CallDelay`).
    pub call_delay_s: u32,
    /// Keys played once the call connects, to reach an extension (`Extension`).
    pub extension: Option<String>,
    pub status_callback: Option<Endpoint>,
}

/// A validation request's answer: the code to type and the verification call.
#[derive(Clone, Debug)]
pub struct VerificationStarted {
    pub validation_code: String,
    pub call_sid: String,
}

/// The verified caller ID of `account_sid` for `number`, if there is one.
pub async fn find(
    engine: &Engine,
    account_sid: &str,
    number: &str,
) -> EngineResult<Option<Record>> {
    let mut query = ListQuery::new(Kind::OutgoingCallerId, account_sid);
    query.filters = vec![Filter::Equals(Column::PhoneNumber, number.to_owned())];
    query.limit = 1;
    Ok(engine.store.list(&query).await?.into_iter().next())
}

/// The uniqueness key of an account's caller ID for a number.
pub fn unique_key(account_sid: &str, number: &str) -> String {
    format!("caller-id:{account_sid}:{number}")
}

fn route(engine: &Engine, token: &str) -> String {
    format!(
        "{}/switchboard/v1/CallerIdVerifications/{token}",
        engine.public_url.trim_end_matches('/')
    )
}

/// The verification call's document: the prompt, with `attempt_note` before it.
fn prompt_document(engine: &Engine, token: &str, lead: &str) -> String {
    format!(
        "<Response>{lead}<Gather input=\"dtmf\" numDigits=\"6\" timeout=\"10\" action=\"{}\" \
         method=\"POST\"><Say>Please enter your six digit validation code.</Say></Gather>\
         <Say>No code was entered. Goodbye.</Say></Response>",
        route(engine, token)
    )
}

impl Engine {
    /// Starts verifying `request.phone_number` for `account`: stores the verification and
    /// places its call.
    pub async fn start_verification(
        &self,
        account: &Account,
        request: VerificationRequest,
    ) -> EngineResult<VerificationStarted> {
        let token = format!("{:032x}", rand::random::<u128>());
        let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
        let mut lead = String::new();
        if request.call_delay_s > 0 {
            lead.push_str(&format!("<Pause length=\"{}\"/>", request.call_delay_s));
        }
        if let Some(keys) = &request.extension {
            lead.push_str(&format!("<Play digits=\"{keys}\"/>"));
        }
        let document = switchboard_twiml::parse(
            prompt_document(self, &token, &lead).as_bytes(),
            Context::Voice,
        )
        .map_err(|rejected| EngineError::Internal(rejected.error.message))?
        .document;
        let call_sid = Sid::generate(SidKind::Call);
        let account_sid = Sid::parse(SidKind::Account, &account.sid)
            .ok_or_else(|| EngineError::Internal("the account SID is malformed".into()))?;
        let record = Record::new(
            Kind::CallerIdVerification,
            token.clone(),
            account.sid.clone(),
            now_ms(),
            json!({
                "phone_number": request.phone_number,
                "friendly_name": request.friendly_name,
                "validation_code": code,
                "call_sid": call_sid.as_str(),
                "attempts": 0,
                "outcome": Value::Null,
                "status_callback": request.status_callback.as_ref().map(|endpoint| json!({
                    "url": endpoint.url, "method": endpoint.method.as_str(),
                })),
            }),
        );
        let far_end = self
            .far_end(&account.sid, &request.phone_number, None, 60)
            .ok_or_else(|| EngineError::Internal("the number cannot be called".into()))?;
        self.store.insert(&record).await?;
        let setup = CallSetup::new(
            call_sid.clone(),
            account_sid,
            VERIFICATION_CALLER.to_owned(),
            request.phone_number.clone(),
            Direction::OutboundApi,
            Initial::Inline(document),
        );
        let status = StatusCallback::new(
            format!("{}/Status", route(self, &token)),
            Method::Post,
            Vec::new(),
        );
        let started = self
            .start_call(LegStart {
                account: account.clone(),
                setup,
                fallback: None,
                breaker: false,
                resilience: None,
                status_callback: Some(status),
                far_end,
                fast: false,
                time_limit_s: Some(120),
                phone_number_sid: None,
                record: None,
                send_digits: None,
                drill: false,
                amd: None,
            })
            .await;
        if let Err(error) = started {
            // No call, so nothing will ever end the verification: it goes with the refusal.
            self.store
                .delete(Kind::CallerIdVerification, &token)
                .await
                .ok();
            return Err(error);
        }
        Ok(VerificationStarted {
            validation_code: code,
            call_sid: call_sid.into_string(),
        })
    }

    /// The verification call's gather action: the keys typed decide. Returns the TwiML to run
    /// next, or `None` for a token that is not a verification's.
    pub async fn verification_digits(
        &self,
        token: &str,
        digits: &str,
    ) -> EngineResult<Option<String>> {
        let Some(mut record) = self.store.get(Kind::CallerIdVerification, token).await? else {
            return Ok(None);
        };
        if !record.doc["outcome"].is_null() {
            return Ok(Some("<Response><Hangup/></Response>".to_owned()));
        }
        if record.doc["validation_code"].as_str() == Some(digits) {
            let number = record.doc["phone_number"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let name = record.doc["friendly_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let sid = self.verified(&record.account_sid, &number, &name).await?;
            record.doc["outcome"] = json!("success");
            record.doc["caller_id_sid"] = json!(sid);
            self.store.update(&record).await?;
            return Ok(Some(
                "<Response><Say>Thank you. Your number is verified. Goodbye.</Say></Response>"
                    .to_owned(),
            ));
        }
        let attempts = record.doc["attempts"].as_u64().unwrap_or(0) + 1;
        record.doc["attempts"] = json!(attempts);
        if attempts >= ATTEMPTS {
            record.doc["outcome"] = json!("failed");
            self.store.update(&record).await?;
            return Ok(Some(
                "<Response><Say>That code is not correct. Goodbye.</Say></Response>".to_owned(),
            ));
        }
        self.store.update(&record).await?;
        Ok(Some(prompt_document(
            self,
            token,
            "<Say>That code is not correct.</Say>",
        )))
    }

    /// Stores the verified caller ID (the one already there when the number was verified
    /// meanwhile by another request); returns its SID.
    async fn verified(&self, account_sid: &str, number: &str, name: &str) -> EngineResult<String> {
        if let Some(existing) = find(self, account_sid, number).await? {
            return Ok(existing.sid);
        }
        let now = now_ms();
        let sid = Sid::generate(SidKind::PhoneNumber).into_string();
        let mut record = Record::new(
            Kind::OutgoingCallerId,
            sid.clone(),
            account_sid.to_owned(),
            now,
            json!({
                "sid": sid,
                "account_sid": account_sid,
                "phone_number": number,
                "friendly_name": name,
                "date_created": now,
                "date_updated": now,
            }),
        );
        record.phone_number = Some(number.to_owned());
        record.friendly_name = Some(name.to_owned());
        record.unique_key = Some(unique_key(account_sid, number));
        match self.store.insert(&record).await {
            Ok(_) => Ok(sid),
            Err(switchboard_store::StoreError::Conflict(_)) => Ok(find(self, account_sid, number)
                .await?
                .map_or(sid, |existing| existing.sid)),
            Err(error) => Err(error.into()),
        }
    }

    /// The verification call ended (its status callback, `params`): the outcome goes to the
    /// request's `StatusCallback`, and the verification row is removed. `false` for a token
    /// that is not a verification's.
    pub async fn verification_ended(
        &self,
        token: &str,
        params: Vec<(String, String)>,
    ) -> EngineResult<bool> {
        let Some(record) = self.store.get(Kind::CallerIdVerification, token).await? else {
            return Ok(false);
        };
        let terminal = params
            .iter()
            .any(|(name, value)| name == "CallStatus" && crate::voice::leg::is_terminal(value));
        if !terminal {
            return Ok(true);
        }
        let success = record.doc["outcome"] == "success";
        let callback = &record.doc["status_callback"];
        if let (Some(url), Some(method)) = (
            callback["url"].as_str(),
            callback["method"].as_str().and_then(Method::parse),
        ) {
            let mut params: Vec<(String, String)> = params
                .into_iter()
                .filter(|(name, _)| {
                    !matches!(
                        name.as_str(),
                        "CallbackSource" | "SequenceNumber" | "Timestamp"
                    )
                })
                .collect();
            params.push((
                "VerificationStatus".into(),
                if success { "success" } else { "failed" }.into(),
            ));
            if let Some(sid) = record.doc["caller_id_sid"].as_str().filter(|_| success) {
                params.push(("OutgoingCallerIdSid".into(), sid.to_owned()));
            }
            let request = WebhookRequest::form(url.to_owned(), method, params);
            self.notify_account(
                &record.account_sid,
                record.doc["call_sid"].as_str(),
                request,
            )
            .await?;
        }
        self.store.delete(Kind::CallerIdVerification, token).await?;
        Ok(true)
    }

    /// Sends `request` for `account_sid` through the outbox: written first, attempted once at
    /// once by a task of the engine, retried by the outbox after that; a failed first attempt
    /// is an alert about `resource_sid`.
    async fn notify_account(
        &self,
        account_sid: &str,
        resource_sid: Option<&str>,
        request: WebhookRequest,
    ) -> EngineResult<()> {
        let Some(account) = crate::account::load(&*self.store, account_sid).await? else {
            return Ok(());
        };
        let pending = outbox::enqueue(
            self,
            account_sid,
            resource_sid,
            outbox::Kind::VerificationStatus,
            Channel::Voice,
            request,
        )
        .await;
        let engine = self.clone();
        let resource = resource_sid.map(str::to_owned);
        self.spawn(async move {
            let token = &account.auth_token;
            outbox::attempt_and_alert(&engine, pending, &account.sid, token, resource.as_deref())
                .await;
        });
        Ok(())
    }
}
