//! `written_urls` and `url_finding` (what `twiml check` reports without running a call) agree
//! with what the interpreter raises when it reaches each URL of an inline document: one
//! document per URL attribute, that URL relative and the rest absolute.

use switchboard_core::SidKind;
use switchboard_flow::{Action, DialCallStatus, Initial, Input, url_finding, written_urls};
use switchboard_twiml::Level;

use crate::{Feed, Harness, dial_ended, digits, recorded};

const RELATIVE: &str = "next";

fn cases() -> Vec<(&'static str, Vec<Feed>)> {
    let sms_sent = || {
        Feed::In(Input::SmsSent {
            sms_sid: crate::sid(SidKind::Message, 'e'),
            status: "sent".to_owned(),
        })
    };
    vec![
        ("<Redirect>{}</Redirect>", vec![]),
        ("<Play>{}</Play>", vec![]),
        (r#"<Gather action="{}" numDigits="1"/>"#, vec![digits("1")]),
        (r#"<Record action="{}"/>"#, vec![recorded(3, "")]),
        (
            r#"<Record action="https://a.example/r" recordingStatusCallback="{}"/>"#,
            vec![],
        ),
        (
            r#"<Record action="https://a.example/r" transcribeCallback="{}"/>"#,
            vec![],
        ),
        (
            r#"<Dial action="{}">+15550001111</Dial>"#,
            vec![dial_ended(DialCallStatus::Completed, 5, true)],
        ),
        (
            r#"<Dial recordingStatusCallback="{}">+15550001111</Dial>"#,
            vec![],
        ),
        (
            r#"<Dial><Number url="{}">+15550001111</Number></Dial>"#,
            vec![],
        ),
        (
            r#"<Dial><Number statusCallback="{}">+15550001111</Number></Dial>"#,
            vec![],
        ),
        (
            r#"<Dial><Sip url="{}">sip:a@b.example</Sip></Dial>"#,
            vec![],
        ),
        (
            r#"<Dial><Sip statusCallback="{}">sip:a@b.example</Sip></Dial>"#,
            vec![],
        ),
        (r#"<Sms action="{}">hi</Sms>"#, vec![sms_sent()]),
        (r#"<Sms statusCallback="{}">hi</Sms>"#, vec![]),
    ]
}

/// The 11100 findings the interpreter raised, as (level, message).
fn raised(harness: &Harness) -> Vec<(Level, String)> {
    harness
        .actions
        .iter()
        .filter_map(|action| match action {
            Action::ExecutionFailed(failure) if failure.code.code == 11100 => {
                Some((Level::Error, failure.message.clone()))
            }
            Action::Alert(alert) if alert.code.code == 11100 => {
                Some((alert.level, alert.message.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn every_url_the_table_lists_is_raised_as_the_check_predicts() {
    let mut covered = Vec::new();
    for (template, feeds) in cases() {
        let fragment = template.replace("{}", RELATIVE);
        let document = crate::twiml(&fragment);
        let urls = written_urls(&document);
        let relative: Vec<_> = urls.iter().filter(|url| url.written == RELATIVE).collect();
        assert_eq!(relative.len(), 1, "{fragment}: {urls:?}");
        let url = relative[0];
        covered.push((url.element, url.attribute));
        let message = url_finding(None, RELATIVE).expect("a relative URL has no base inline");
        assert_eq!(
            url_finding(Some("https://app.example/voice"), RELATIVE),
            None
        );
        let setup = crate::setup(
            switchboard_flow::Direction::Inbound,
            Initial::Inline(document),
        );
        let mut harness = Harness::new(setup);
        for (at, feed) in feeds.into_iter().enumerate() {
            harness.feed(100 * (at as u64 + 1), feed);
        }
        assert_eq!(
            raised(&harness),
            vec![(url.level, message)],
            "{fragment}\n{}",
            harness.transcript()
        );
    }
    // Every kind of URL the table can list is one of the cases.
    let all = crate::twiml(
        r#"<Redirect>https://a.example/1</Redirect><Play>https://a.example/2</Play>
        <Gather action="https://a.example/3"/>
        <Record action="https://a.example/4" recordingStatusCallback="https://a.example/5" transcribeCallback="https://a.example/6"/>
        <Dial action="https://a.example/7" recordingStatusCallback="https://a.example/8"><Number url="https://a.example/9" statusCallback="https://a.example/10">+15550001111</Number><Sip url="https://a.example/11" statusCallback="https://a.example/12">sip:a@b.example</Sip></Dial>
        <Sms action="https://a.example/13" statusCallback="https://a.example/14">hi</Sms>"#,
    );
    let listed: Vec<_> = written_urls(&all)
        .iter()
        .map(|url| (url.element, url.attribute))
        .collect();
    assert_eq!(listed.len(), 14);
    for pair in listed {
        assert!(covered.contains(&pair), "{pair:?} has no case");
    }
}
