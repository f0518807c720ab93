//! Messaging Services as the engine sees them: which service a number's pool puts it in, and
//! where the service sends the messages that arrive for its numbers.
//!
//! The resources themselves (`/v1/Services`, `/v1/Services/{Sid}/PhoneNumbers`) belong to the
//! API, which stores them as documents with Twilio's field names; the engine only reads them.
//! A number is in at most one pool: its membership row's SID is `service_number_sid(number)`.

use std::sync::Arc;

use serde_json::Value;
use switchboard_core::Method;
use switchboard_store::{Kind, Record};
use switchboard_webhook::Endpoint;

use crate::Engine;
use crate::error::EngineResult;

/// The SID of the row that puts the number `phone_number_sid` (`PN…`) in a service's pool.
pub fn service_number_sid(phone_number_sid: &str) -> String {
    format!("service-number:{phone_number_sid}")
}

/// The service whose pool holds the number `phone_number_sid`, if any.
pub async fn of_number(
    engine: &Engine,
    phone_number_sid: &str,
) -> EngineResult<Option<Arc<Record>>> {
    let sid = service_number_sid(phone_number_sid);
    let Some(member) = engine
        .store
        .get_shared(Kind::ServicePhoneNumber, &sid)
        .await?
    else {
        return Ok(None);
    };
    let Some(service) = member.parent_sid.as_deref() else {
        return Ok(None);
    };
    Ok(engine
        .store
        .get_shared(Kind::MessagingService, service)
        .await?)
}

/// Whether the service `doc` handles its numbers' inbound messages itself
/// (`UseInboundWebhookOnNumber=false`, Twilio's default) rather than leaving them to each
/// number's own SMS URLs.
pub fn handles_inbound(doc: &Value) -> bool {
    doc["use_inbound_webhook_on_number"].as_bool() != Some(true)
}

/// The service's inbound request URL and fallback URL, with their methods.
pub(crate) fn inbound_endpoints(doc: &Value) -> (Option<Endpoint>, Option<Endpoint>) {
    let endpoint = |url: &str, method: &str| {
        let url = doc[url].as_str().filter(|url| !url.is_empty())?;
        let method = doc[method]
            .as_str()
            .and_then(Method::parse)
            .unwrap_or_default();
        Some(Endpoint::new(url, method))
    };
    (
        endpoint("inbound_request_url", "inbound_method"),
        endpoint("fallback_url", "fallback_method"),
    )
}
