//! Every request's full parameter list, for each kind of request (§3.2, §3.4–3.6).

use switchboard_flow::{Action, DialCallStatus};

use crate::{Feed, Harness, dial_ended, digits, recorded};

const BASE: &[&str] = &[
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

fn last_fetch_names(harness: &Harness) -> Vec<String> {
    let fetch = harness
        .actions
        .iter()
        .rev()
        .find_map(|action| match action {
            Action::Fetch(fetch) => Some(fetch),
            _ => None,
        });
    let fetch = fetch.expect("a fetch was emitted");
    fetch.params.iter().map(|(name, _)| name.clone()).collect()
}

#[test]
fn each_request_has_the_standard_parameters_then_its_own() {
    let cases: Vec<(&str, Vec<Feed>, &[&str])> = vec![
        ("<Redirect>/x</Redirect>", vec![], &[]),
        (
            r#"<Gather numDigits="1"/>"#,
            vec![digits("1")],
            &["Digits", "FinishedOnKey"],
        ),
        (
            "<Record/>",
            vec![recorded(3, "")],
            &[
                "RecordingUrl",
                "RecordingDuration",
                "RecordingSid",
                "Digits",
            ],
        ),
        (
            r#"<Dial action="/d">+15005550003</Dial>"#,
            vec![dial_ended(DialCallStatus::Failed, 0, false)],
            &[
                "DialCallStatus",
                "DialCallSid",
                "DialCallDuration",
                "DialBridged",
            ],
        ),
    ];
    for (document, feeds, own) in cases {
        let mut harness = Harness::inbound();
        assert_eq!(last_fetch_names(&harness), BASE, "initial fetch");
        harness.feed(0, Feed::Doc(document));
        for feed in feeds {
            harness.feed(10, feed);
        }
        let expected: Vec<&str> = BASE.iter().chain(own.iter()).copied().collect();
        assert_eq!(last_fetch_names(&harness), expected, "{document}");
    }
}

#[test]
fn the_call_identity_is_in_every_request() {
    let mut harness = Harness::inbound();
    harness.feed(0, Feed::Doc("<Redirect>/x</Redirect>"));
    let Some(Action::Fetch(fetch)) = harness.actions.last() else {
        panic!("the redirect fetches");
    };
    let value = |name: &str| {
        fetch
            .params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(value("CallSid"), Some("CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_eq!(
        value("AccountSid"),
        Some("ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
    );
    assert_eq!(value("From"), Some("+15005550006"));
    assert_eq!(value("To"), Some("+15005550001"));
    assert_eq!(value("CallStatus"), Some("ringing"));
    assert_eq!(value("Direction"), Some("inbound"));
}
