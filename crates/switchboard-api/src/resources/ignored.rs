//! Parameters of Twilio's description that an operation here accepts and does not act on
//! (issue 19 item 2: no parameter silently ignored). A request that sends one, with a value,
//! still succeeds, and a WARNING alert (99001, the engine's own code: Twilio has none for this)
//! names every such parameter, so the debugger and
//! the console show what did not happen. The README lists the same tables.
//!
//! Parameters whose absence of effect would do harm are refused instead (400), in their
//! resource's file.

use switchboard_core::error_code;
use switchboard_webhook::alert::{AlertLevel, AlertRecord, alert_text};

use super::scoped::Scoped;
use crate::form::Params;

/// Parameters and the values that are not acted on (`ANY`: every value given).
pub(crate) type Table = &'static [(&'static str, &'static [&'static str])];
const ANY: &[&str] = &[];

/// `POST …/IncomingPhoneNumbers.json` and `…/{Sid}.json`: caller-name lookup, fax reception and
/// routing by an Elastic SIP trunk are not done here (the address, bundle and emergency fields
/// are stored and shown, which is all they do on Twilio too).
pub(crate) const NUMBER_SETTINGS: Table = &[
    ("VoiceCallerIdLookup", &["true", "True"]),
    ("VoiceReceiveMode", &["fax"]),
    ("TrunkSid", ANY),
];

/// `POST …/Applications.json` and `…/{Sid}.json`.
pub(crate) const APPLICATION_SETTINGS: Table = &[
    ("VoiceCallerIdLookup", &["true", "True"]),
    ("PublicApplicationConnectEnabled", &["true", "True"]),
];

/// `POST …/Calls.json`: caller ID and the rest of Twilio's create parameters this engine does
/// not act on yet.
pub(crate) const CALL_CREATE: Table = &[
    ("Byoc", ANY),
    ("CallReason", ANY),
    ("CallToken", ANY),
    ("CallerId", ANY),
];

/// `POST …/Messages.json`: delivery options that have no meaning without a carrier, and content
/// templates.
pub(crate) const MESSAGE_CREATE: Table = &[
    ("AddressRetention", ANY),
    ("Attempt", ANY),
    ("ContentRetention", ANY),
    ("ContentSid", ANY),
    ("ContentVariables", ANY),
    ("ForceDelivery", ANY),
    ("MaxPrice", ANY),
    ("PersistentAction", ANY),
    ("ProvideFeedback", ANY),
    ("RiskCheck", ANY),
    ("SendAsMms", ANY),
    ("ShortenUrls", ANY),
    ("SmartEncoded", ANY),
    ("TrafficType", ANY),
    ("ValidityPeriod", ANY),
];

/// `POST /v1/Services` and `/v1/Services/{Sid}` (Messaging v1): stored and shown, with no
/// carrier to encode for, convert, geomatch or expire messages with. The pool's sender is
/// sticky, so only turning that off is not acted on.
pub(crate) const SERVICE_SETTINGS: Table = &[
    ("AreaCodeGeomatch", ANY),
    ("FallbackToLongCode", ANY),
    ("MmsConverter", ANY),
    ("ScanMessageContent", ANY),
    ("SmartEncoding", ANY),
    ("StickySender", &["false", "False"]),
    ("SynchronousValidation", ANY),
    ("Usecase", ANY),
    ("ValidityPeriod", ANY),
];

/// The parameters of `table` that `params` gives a value not acted on, in the table's order.
pub(crate) fn present(table: Table, params: &Params) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(name, values)| {
            params.get(name).is_some_and(|value| {
                !value.is_empty() && (values.is_empty() || values.contains(&value))
            })
        })
        .map(|(name, _)| *name)
        .collect()
}

impl<P, C> Scoped<P, C> {
    /// Records one WARNING alert for the scoped account (about `resource_sid`) naming the
    /// parameters of `table` that the request gave a value not acted on; nothing when there are
    /// none. A failure to record is logged, never the request's failure.
    pub(crate) async fn warn_ignored(
        &self,
        resource_sid: Option<&str>,
        params: &Params,
        table: Table,
    ) {
        let names = present(table, params);
        if names.is_empty() {
            return;
        }
        let message = if names.len() == 1 {
            format!(
                "parameter {} is not supported by this engine and was ignored",
                names[0]
            )
        } else {
            format!(
                "parameters {} are not supported by this engine and were ignored",
                names.join(", ")
            )
        };
        let code = error_code::PARAMETER_IGNORED;
        let url = format!("{}{}", self.state.public_url, self.uri.path());
        let alert = AlertRecord {
            error_code: code.code,
            level: AlertLevel::Warning,
            alert_text: alert_text(&message, "api", code, None, AlertLevel::Warning, &url),
            message,
            source_component: "api".into(),
            request_url: url,
            request_method: "POST".into(),
            request_variables: names
                .iter()
                .map(|name| {
                    (
                        (*name).to_owned(),
                        params.get(name).unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            request_headers: Vec::new(),
            response_status: None,
            response_headers: Vec::new(),
            response_body: String::new(),
            attempts: 0,
            duration_ms: 0,
            fallback: false,
        };
        let engine = &self.state.engine;
        let account = &self.account.sid;
        if let Err(error) =
            switchboard_engine::alerts::record(engine, account, resource_sid, &alert).await
        {
            tracing::warn!(%error, "recording an ignored-parameter alert failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_parameters_given_a_value_are_named() {
        let params =
            Params::parse(b"CallerId=%2B1555&Trim=&To=%2B1666&CallReason=x").expect("params");
        assert_eq!(
            present(CALL_CREATE, &params),
            vec!["CallReason", "CallerId"]
        );
        let number =
            Params::parse(b"VoiceCallerIdLookup=false&VoiceReceiveMode=fax").expect("params");
        assert_eq!(present(NUMBER_SETTINGS, &number), vec!["VoiceReceiveMode"]);
    }
}
