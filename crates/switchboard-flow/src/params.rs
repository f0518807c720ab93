//! The parameters of every voice request (§3.2): identity, parties, status and the legacy and
//! geographic duplicates, in one fixed order so transcripts and tests are stable.
//!
//! Known-but-empty fields (`ForwardedFrom`, geo data) are sent as empty strings; fields that only
//! exist in some calls (`CallerName`, `ParentCallSid`, `ApplicationSid`) are omitted when unknown
//! (§3.1).

use crate::setup::{CallSetup, CallStatus, Geo};

/// An ordered list of request parameters.
pub type Params = Vec<(String, String)>;

/// The §3.2 parameters of a request made while the call has `status`.
pub fn base_params(setup: &CallSetup, status: CallStatus) -> Params {
    let mut params = Params::with_capacity(32);
    let mut push = |name: &str, value: &str| params.push((name.to_owned(), value.to_owned()));
    push("CallSid", setup.call_sid.as_str());
    push("AccountSid", setup.account_sid.as_str());
    push("From", &setup.from);
    push("To", &setup.to);
    push("CallStatus", status.as_str());
    push("ApiVersion", &setup.api_version);
    push("Direction", setup.direction.as_str());
    push(
        "ForwardedFrom",
        setup.forwarded_from.as_deref().unwrap_or(""),
    );
    if let Some(name) = &setup.caller_name {
        push("CallerName", name);
    }
    if let Some(parent) = &setup.parent_call_sid {
        push("ParentCallSid", parent.as_str());
    }
    if let Some(application) = &setup.application_sid {
        push("ApplicationSid", application.as_str());
    }
    if let Some(call_id) = &setup.sip_call_id {
        push("SipCallId", call_id);
    }
    push("Caller", &setup.from);
    push("Called", &setup.to);
    geo(&mut params, GEO_NAMES[0], &setup.from_geo);
    geo(&mut params, GEO_NAMES[1], &setup.to_geo);
    geo(&mut params, GEO_NAMES[2], &setup.from_geo);
    geo(&mut params, GEO_NAMES[3], &setup.to_geo);
    params
}

/// The geographic parameter names, spelled out so no request formats them anew.
const GEO_NAMES: [[&str; 4]; 4] = [
    ["FromCity", "FromState", "FromZip", "FromCountry"],
    ["ToCity", "ToState", "ToZip", "ToCountry"],
    ["CallerCity", "CallerState", "CallerZip", "CallerCountry"],
    ["CalledCity", "CalledState", "CalledZip", "CalledCountry"],
];

fn geo(params: &mut Params, names: [&str; 4], geo: &Geo) {
    for (name, value) in names
        .into_iter()
        .zip([&geo.city, &geo.state, &geo.zip, &geo.country])
    {
        params.push((name.to_owned(), value.clone()));
    }
}

/// Appends one parameter.
pub(crate) fn push(params: &mut Params, name: &str, value: impl Into<String>) {
    params.push((name.to_owned(), value.into()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::{Direction, Initial};
    use switchboard_core::{Sid, SidKind};
    use switchboard_twiml::Document;

    fn setup() -> CallSetup {
        let call = Sid::parse(SidKind::Call, "CA0123456789abcdef0123456789abcdef");
        let account = Sid::parse(SidKind::Account, "AC0123456789abcdef0123456789abcdef");
        let (Some(call), Some(account)) = (call, account) else {
            panic!("test SIDs are well-formed");
        };
        let initial = Initial::Inline(Document::default());
        CallSetup::new(
            call,
            account,
            "+15005550006",
            "+15005550001",
            Direction::Inbound,
            initial,
        )
    }

    fn names(params: &Params) -> Vec<&str> {
        params.iter().map(|(name, _)| name.as_str()).collect()
    }

    #[test]
    fn every_standard_parameter_is_present_in_order() {
        let params = base_params(&setup(), CallStatus::Ringing);
        let expected = [
            "CallSid",
            "AccountSid",
            "From",
            "To",
            "CallStatus",
            "ApiVersion",
            "Direction",
            "ForwardedFrom",
            "Caller",
            "Called",
            "FromCity",
            "FromState",
            "FromZip",
            "FromCountry",
            "ToCity",
            "ToState",
            "ToZip",
            "ToCountry",
            "CallerCity",
            "CallerState",
            "CallerZip",
            "CallerCountry",
            "CalledCity",
            "CalledState",
            "CalledZip",
            "CalledCountry",
        ];
        assert_eq!(names(&params), expected);
        let value = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(value("CallStatus"), Some("ringing"));
        assert_eq!(value("Direction"), Some("inbound"));
        assert_eq!(value("ApiVersion"), Some("2010-04-01"));
        assert_eq!(value("ForwardedFrom"), Some(""));
        assert_eq!(value("Caller"), Some("+15005550006"));
        assert_eq!(value("Called"), Some("+15005550001"));
        // Geography comes from the numbers (switchboard-geo): +1500 is a US non-geographic code.
        assert_eq!(value("ToCountry"), Some("US"));
        assert_eq!(value("ToState"), Some(""));
        assert_eq!(value("ToCity"), Some(""));
    }

    #[test]
    fn optional_parameters_appear_when_known() {
        let mut setup = setup();
        setup.caller_name = Some("ALICE".into());
        setup.forwarded_from = Some("+15005550009".into());
        setup.parent_call_sid = Some(setup.call_sid.clone());
        setup.from_geo.country = "US".into();
        let params = base_params(&setup, CallStatus::InProgress);
        let value = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(value("CallerName"), Some("ALICE"));
        assert_eq!(value("ForwardedFrom"), Some("+15005550009"));
        assert_eq!(value("ParentCallSid"), Some(setup.call_sid.as_str()));
        assert_eq!(value("FromCountry"), Some("US"));
        assert_eq!(value("CallerCountry"), Some("US"));
        assert_eq!(value("ApplicationSid"), None);
        assert_eq!(value("SipCallId"), None);
        setup.sip_call_id = Some("abc@192.0.2.1".into());
        let params = base_params(&setup, CallStatus::Ringing);
        let sip = params.iter().find(|(name, _)| name == "SipCallId");
        assert_eq!(sip.map(|(_, v)| v.as_str()), Some("abc@192.0.2.1"));
    }
}
