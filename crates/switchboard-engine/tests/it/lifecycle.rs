//! What an engine owns: its calls, its message tasks and its registry, apart from any other
//! engine in the process, and drained by `Engine::shutdown`.

use std::time::Duration;

use switchboard_engine::EngineError;
use switchboard_engine::messaging::Inbound;
use switchboard_store::Kind;
use switchboard_test_support::app::App;
use switchboard_webhook::FallbackScope;

use crate::{TestEngine, XML, events, form, param};

#[tokio::test]
async fn two_engines_in_one_process_each_run_their_own_call() {
    let (first, second) = tokio::join!(
        TestEngine::start(FallbackScope::All),
        TestEngine::start(FallbackScope::All)
    );
    let (app_one, app_two) = tokio::join!(App::start(), App::start());
    app_one.route("/voice", 200, XML, "<Response><Say>one</Say></Response>");
    app_two.route("/voice", 200, XML, "<Response><Say>two</Say></Response>");
    // The same number on both engines: each engine's directory and calls are its own.
    first
        .provision(
            "+15550000010",
            serde_json::json!({"voice_url": app_one.url("/voice")}),
        )
        .await;
    second
        .provision(
            "+15550000010",
            serde_json::json!({"voice_url": app_two.url("/voice")}),
        )
        .await;
    let (sid_one, sid_two) = tokio::join!(first.call("+15550000010"), second.call("+15550000010"));
    let (one, two) = tokio::join!(first.finished(&sid_one), second.finished(&sid_two));
    assert_eq!(events(&one, "say")[0]["text"], "one");
    assert_eq!(events(&two, "say")[0]["text"], "two");
    assert_eq!(first.status(Kind::Call, &sid_one).await, "completed");
    assert_eq!(second.status(Kind::Call, &sid_two).await, "completed");
    // Neither engine knows the other's call or transcript.
    assert!(
        first
            .engine
            .store()
            .get(Kind::Call, &sid_two)
            .await
            .unwrap()
            .is_none()
    );
    assert!(second.engine.sandbox().log(&sid_one).is_none());
    for (app, sid) in [(&app_one, &sid_one), (&app_two, &sid_two)] {
        let received = app.received();
        assert_eq!(received.len(), 1, "{received:?}");
        assert_eq!(
            param(&form(&received[0].body), "CallSid"),
            Some(sid.as_str())
        );
    }
}

#[tokio::test]
async fn shutdown_ends_live_calls_and_finishes_message_work_then_refuses_new_work() {
    let test = TestEngine::start(FallbackScope::All).await;
    let app = App::start().await;
    app.route(
        "/park",
        200,
        XML,
        "<Response><Say>hold</Say><Pause length=\"600\"/></Response>",
    );
    app.route(
        "/sms",
        200,
        XML,
        "<Response><Message>got it</Message></Response>",
    );
    app.route("/status", 200, "text/plain", "");
    let settings = serde_json::json!({
        "voice_url": app.url("/park"),
        "sms_url": app.url("/sms"),
        "status_callback": app.url("/status"),
    });
    let number = test.provision("+15550000020", settings).await;
    // A call parked in a ten-minute pause on the wall clock.
    let row = test
        .engine
        .find_number("+15550000020")
        .await
        .unwrap()
        .unwrap();
    let parked = test
        .engine
        .inbound_call(
            &test.account,
            &row,
            switchboard_engine::voice::InboundCall {
                from: "+15005550006".into(),
                to: "+15550000020".into(),
                caller_name: None,
                forwarded_from: None,
                fast: false,
                digits: None,
                drill: false,
                geo: Default::default(),
            },
        )
        .await
        .unwrap()
        .sid;
    let log = test.engine.sandbox().log(&parked).unwrap();
    while !log
        .snapshot()
        .0
        .iter()
        .any(|event| event["type"] == "pause")
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(test.engine.is_live(&parked));
    // A message arrives; shutdown starts while its session and reply delivery are under way.
    let inbound = Inbound {
        from: "+15005550006".into(),
        to: "+15550000020".into(),
        body: "hello".into(),
        media: Vec::new(),
        drill: false,
        geo: Default::default(),
    };
    let message = test
        .engine
        .receive_message(&test.account, &number, inbound)
        .await
        .unwrap()
        .sid;
    let drained = test.engine.shutdown(Duration::from_secs(15)).await;
    assert_eq!(drained.calls, 1);
    assert!(drained.complete, "{drained:?}");
    assert!(!test.engine.is_live(&parked));
    assert_eq!(test.status(Kind::Call, &parked).await, "completed");
    let calls_back = app.received();
    assert!(
        calls_back.iter().any(|r| r.target == "/status"
            && form(&r.body).contains(&("CallStatus".into(), "completed".into()))),
        "the completed callback was not sent before shutdown returned: {calls_back:?}"
    );
    let message_log = test.engine.sandbox().log(&message).unwrap();
    let (_, done, replies) = message_log.snapshot();
    assert!(done, "the message session did not finish");
    assert_eq!(replies.len(), 1);
    assert_eq!(test.status(Kind::Message, &replies[0]).await, "delivered");
    // Nothing new starts after shutdown.
    let refused = test
        .engine
        .inbound_call(
            &test.account,
            &row,
            switchboard_engine::voice::InboundCall {
                from: "+15005550006".into(),
                to: "+15550000020".into(),
                caller_name: None,
                forwarded_from: None,
                fast: true,
                digits: None,
                drill: false,
                geo: Default::default(),
            },
        )
        .await;
    assert!(
        matches!(refused, Err(EngineError::ShuttingDown)),
        "{refused:?}"
    );
}
