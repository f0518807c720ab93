//! Voice legs end to end: `<Dial>` to handsets and to this engine's numbers, whisper legs,
//! `<Record>` with the caller's audio (tones and WAVs), speech gathers and `<Sms>`.

use switchboard_test_support::app::App;

use crate::voice::{events, finished, form, param, place, provision};
use crate::{call, start};

const XML: &str = "text/xml";

#[tokio::test]
async fn dial_reaches_handsets_and_numbers_of_this_engine_and_record_makes_a_wav() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/dial",
        200,
        XML,
        "<Response><Dial action=\"/after-busy\"><Number>+15559990001</Number></Dial></Response>",
    );
    app.route(
        "/after-busy",
        200,
        XML,
        "<Response><Dial action=\"/after-answer\" timeout=\"10\">+15550300061</Dial></Response>",
    );
    app.route(
        "/after-answer",
        200,
        XML,
        "<Response><Record action=\"/recorded\" timeout=\"2\" maxLength=\"20\"/></Response>",
    );
    app.route("/recorded", 200, XML, "<Response><Hangup/></Response>");
    app.route(
        "/callee",
        200,
        XML,
        "<Response><Say>You reached the callee.</Say></Response>",
    );
    provision(&engine, "+15550300060", &app.url("/dial"), None).await;
    provision(&engine, "+15550300061", &app.url("/callee"), None).await;
    let phone = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Phones/+15559990001", engine.base_url),
        &[("Answer", "busy")],
    )
    .await;
    assert_eq!(phone.0, 200, "{phone:?}");
    let sid = place(&engine, "+15550300060", &[]).await;
    let audio = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Calls/{sid}/Audio", engine.base_url),
        &[("Seconds", "3")],
    )
    .await;
    assert_eq!(audio.0, 200, "{audio:?}");
    let transcript = finished(&engine, &sid).await;
    assert_eq!(transcript["status"], "completed", "{transcript}");
    let results = events(&transcript, "dial_result");
    assert_eq!(results.len(), 2, "{transcript}");
    assert_eq!(results[0]["dial_call_status"], "busy");
    assert_eq!(results[1]["dial_call_status"], "completed");
    let child = results[1]["dial_call_sid"].as_str().expect("child sid");
    let child_transcript = finished(&engine, child).await;
    assert_eq!(
        events(&child_transcript, "say")[0]["text"],
        "You reached the callee."
    );
    let child_call = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Calls/{child}.json")),
        &[],
    )
    .await;
    assert_eq!(child_call.1["parent_call_sid"], sid.as_str());
    assert_eq!(child_call.1["direction"], "outbound-dial");
    let recorded = events(&transcript, "record_result");
    assert_eq!(recorded[0]["duration"], 3, "{transcript}");
    let recording_sid = recorded[0]["recording_sid"]
        .as_str()
        .expect("recording sid");
    let action = app
        .received()
        .into_iter()
        .find(|r| r.target == "/recorded")
        .expect("record action");
    let params = form(&action.body);
    assert_eq!(param(&params, "RecordingSid"), Some(recording_sid));
    assert_eq!(param(&params, "RecordingDuration"), Some("3"));
    let recording_url = param(&params, "RecordingUrl")
        .expect("RecordingUrl")
        .to_owned();
    let wav = reqwest::get(format!("{recording_url}.wav"))
        .await
        .expect("wav");
    assert_eq!(wav.status(), 200);
    let bytes = wav.bytes().await.expect("wav bytes");
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(bytes.len(), 44 + 3 * 8000 * 2);
    let listed = call(
        &engine,
        "GET",
        &engine.account_url(&format!("Calls/{sid}/Recordings.json")),
        &[],
    )
    .await;
    assert_eq!(
        listed.1["recordings"][0]["sid"], recording_sid,
        "{listed:?}"
    );
    assert_eq!(listed.1["recordings"][0]["duration"], "3");
    let deleted = call(
        &engine,
        "DELETE",
        &engine.account_url(&format!("Recordings/{recording_sid}.json")),
        &[],
    )
    .await;
    assert_eq!(deleted.0, 204);
}

#[tokio::test]
async fn a_number_whisper_runs_on_the_handset_leg_before_the_bridge() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/dial",
        200,
        XML,
        "<Response><Dial action=\"/after\"><Number url=\"/whisper\" statusCallback=\"/child-status\">+15559990005</Number></Dial></Response>",
    );
    app.route(
        "/whisper",
        200,
        XML,
        "<Response><Say>Call for you</Say></Response>",
    );
    app.route("/after", 200, XML, "<Response><Hangup/></Response>");
    app.route("/child-status", 204, "text/plain", "");
    provision(&engine, "+15550300100", &app.url("/dial"), None).await;
    let phone = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Phones/+15559990005", engine.base_url),
        &[("HangupAfter", "5")],
    )
    .await;
    assert_eq!(phone.0, 200, "{phone:?}");
    let sid = place(&engine, "+15550300100", &[]).await;
    let transcript = finished(&engine, &sid).await;
    assert_eq!(transcript["status"], "completed", "{transcript}");
    let result = events(&transcript, "dial_result")[0];
    assert_eq!(result["dial_call_status"], "completed", "{transcript}");
    let child = result["dial_call_sid"].as_str().expect("child");
    let child_transcript = finished(&engine, child).await;
    let kinds: Vec<&str> = child_transcript["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .filter(|kind| ["say", "bridge", "hangup"].contains(kind))
        .collect();
    assert_eq!(kinds, ["say", "bridge", "hangup"], "{child_transcript}");
    let whisper = app
        .received()
        .into_iter()
        .find(|r| r.target == "/whisper")
        .expect("whisper");
    let params = form(&whisper.body);
    assert_eq!(param(&params, "ParentCallSid"), Some(sid.as_str()));
    assert_eq!(param(&params, "Direction"), Some("outbound-dial"));
    let after = app
        .received()
        .into_iter()
        .find(|r| r.target == "/after")
        .expect("action");
    let params = form(&after.body);
    assert_eq!(param(&params, "DialCallStatus"), Some("completed"));
    assert_eq!(param(&params, "DialCallDuration"), Some("5"));
    assert!(app.received().iter().any(|r| r.target == "/child-status"));
}

#[tokio::test]
async fn a_caller_can_play_a_wav_into_a_recording() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/record",
        200,
        XML,
        "<Response><Record timeout=\"1\" action=\"/done\"/></Response>",
    );
    app.route("/done", 200, XML, "<Response><Hangup/></Response>");
    provision(&engine, "+15550300110", &app.url("/record"), None).await;
    let mut recordings = Vec::new();
    for audio in [None, Some(0)] {
        // The wall clock: the record's silence timeout waits for the audio sent next.
        let sid = place(&engine, "+15550300110", &[("Clock", "real")]).await;
        let audio_form: Vec<(&str, String)> = match audio {
            None => vec![("Seconds", "2".to_owned())],
            Some(index) => vec![("Url", format!("{}.wav", recordings[index]))],
        };
        let sent = engine
            .request(
                reqwest::Method::POST,
                &format!("{}/sandbox/Calls/{sid}/Audio", engine.base_url),
            )
            .form(&audio_form)
            .send()
            .await
            .expect("audio");
        assert_eq!(sent.status(), 200, "{:?}", sent.text().await);
        let transcript = finished(&engine, &sid).await;
        assert_eq!(
            events(&transcript, "record_result")[0]["duration"],
            2,
            "{transcript}"
        );
        let done = app
            .received()
            .into_iter()
            .filter(|r| r.target == "/done")
            .map(|r| form(&r.body))
            .next_back()
            .expect("record action");
        recordings.push(param(&done, "RecordingUrl").expect("url").to_owned());
    }
    let first = reqwest::get(format!("{}.wav", recordings[0]))
        .await
        .expect("wav");
    let second = reqwest::get(format!("{}.wav", recordings[1]))
        .await
        .expect("wav");
    let (first, second) = (
        first.bytes().await.expect("a"),
        second.bytes().await.expect("b"),
    );
    assert_eq!(first.len(), 44 + 2 * 8000 * 2);
    assert_eq!(
        first, second,
        "the second recording holds what the caller played"
    );
    let bad = call(
        &engine,
        "POST",
        &format!(
            "{}/sandbox/Calls/CA00000000000000000000000000000000/Audio",
            engine.base_url
        ),
        &[("Seconds", "2")],
    )
    .await;
    assert_eq!(bad.0, 404, "{bad:?}");
}

#[tokio::test]
async fn speech_gathers_and_sms_from_a_call_reach_the_app_and_the_handset() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/ask",
        200,
        XML,
        "<Response><Gather input=\"speech\" action=\"/heard\"><Say>Say something</Say></Gather></Response>",
    );
    app.route(
        "/heard",
        200,
        XML,
        "<Response><Sms>We heard you</Sms><Say>Bye</Say></Response>",
    );
    provision(&engine, "+15550300130", &app.url("/ask"), None).await;
    let sid = place(&engine, "+15550300130", &[("Clock", "real")]).await;
    let spoken = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Calls/{sid}/Speech", engine.base_url),
        &[("SpeechResult", "check my balance"), ("Confidence", "0.8")],
    )
    .await;
    assert_eq!(spoken.0, 200, "{spoken:?}");
    let transcript = finished(&engine, &sid).await;
    assert_eq!(
        events(&transcript, "gather_result")[0]["speech"],
        "check my balance"
    );
    let message = events(&transcript, "message")[0];
    assert_eq!(message["to"], "+15005550006");
    assert_eq!(message["from"], "+15550300130");
    let heard = app
        .received()
        .into_iter()
        .find(|r| r.target == "/heard")
        .expect("action");
    let params = form(&heard.body);
    assert_eq!(param(&params, "SpeechResult"), Some("check my balance"));
    assert_eq!(param(&params, "Confidence"), Some("0.8"));
    let handset = call(
        &engine,
        "GET",
        &format!("{}/sandbox/Phones/+15005550006/Messages", engine.base_url),
        &[],
    )
    .await;
    assert_eq!(
        handset.1["messages"][0]["body"], "We heard you",
        "{handset:?}"
    );
}
