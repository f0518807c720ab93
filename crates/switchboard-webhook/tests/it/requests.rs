//! Request shape and session behaviour: POST/GET encoding, headers, Basic auth after a 401,
//! cookies across a session, 303/307 redirects, override warnings and errors, notifications,
//! and the give-up paths of the policy. Signatures are validated with the official libraries.

use base64::Engine as _;
use switchboard_webhook::request::WebhookRequest;
use switchboard_webhook::{
    AlertLevel, Channel, ClientSettings, CookieJar, Endpoint, FallbackScope, FetchPlan, Method,
    Reply, TwimlOutcome, WebhookClient, fetch_twiml, send_notification,
};

use crate::server::{TestServer, status, twiml};
use crate::{TOKEN, call_params, stand_in_parse};

fn client() -> WebhookClient {
    WebhookClient::new(ClientSettings::default()).expect("client")
}

fn plan(primary: Endpoint, fallback: Option<Endpoint>) -> FetchPlan {
    FetchPlan {
        primary,
        fallback,
        params: call_params(),
        initial: true,
        scope: FallbackScope::All,
        breaker: false,
    }
}

async fn fetch(
    client: &WebhookClient,
    jar: &mut CookieJar,
    plan: FetchPlan,
) -> switchboard_webhook::TwimlFetchResult<String> {
    fetch_twiml(client, TOKEN, jar, plan, Channel::Voice, stand_in_parse).await
}

#[tokio::test]
async fn post_and_get_look_like_twilio() {
    let server = TestServer::start(|_, _| twiml("<Response/>")).await;
    let client = client();
    let mut jar = CookieJar::new();
    for (path, method) in [
        ("/voice?b=2&a=%C3%BC", Method::Post),
        ("/voice?keep=1", Method::Get),
        ("/bare", Method::Get),
    ] {
        let result = fetch(
            &client,
            &mut jar,
            plan(Endpoint::new(server.url(path), method), None),
        )
        .await;
        assert!(
            matches!(
                result.outcome,
                TwimlOutcome::Answer {
                    from_fallback: false,
                    ..
                }
            ),
            "{result:?}"
        );
        assert!(result.alerts.is_empty());
    }
    let requests = server.requests();
    let post = &requests[0];
    assert_eq!(post.url, server.url("/voice?b=2&a=%C3%BC"));
    assert_eq!(post.form(), call_params());
    assert_eq!(
        post.header("Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(post.header("User-Agent"), Some("TwilioProxy/1.1"));
    assert_eq!(post.header("Accept"), Some("*/*"));
    assert_eq!(post.header("X-Home-Region"), Some("us1"));
    assert!(post.header("I-Twilio-Idempotency-Token").is_some());
    let get = &requests[1];
    assert_eq!(get.method, "GET");
    assert!(get.body.is_empty() && get.header("Content-Type").is_none());
    let names: Vec<String> = get.query().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[0], "keep");
    let mut sorted = names[1..].to_vec();
    sorted.sort();
    assert_eq!(
        names[1..],
        sorted[..],
        "GET parameters are appended alphabetically"
    );
    assert_ne!(
        requests[0].header("I-Twilio-Idempotency-Token"),
        requests[1].header("I-Twilio-Idempotency-Token")
    );
    crate::validators::assert_all_valid(TOKEN, &requests, "webhook request shape signatures");
}

#[tokio::test]
async fn basic_auth_only_after_a_401_challenge_and_never_recorded() {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("user:pa$s")
    );
    let server = TestServer::start(move |request, _| match request.header("Authorization") {
        Some(value) if value == expected => twiml("<Response/>"),
        _ => status(
            401,
            &[("WWW-Authenticate", "Basic realm=\"hooks\"")],
            "who are you",
        ),
    })
    .await;
    let client = client();
    let mut jar = CookieJar::new();
    let good = server
        .url("/voice")
        .replace("http://", "http://user:pa%24s@");
    let result = fetch(
        &client,
        &mut jar,
        plan(Endpoint::new(good, Method::Post), None),
    )
    .await;
    assert!(
        matches!(result.outcome, TwimlOutcome::Answer { .. }),
        "{result:?}"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[0].header("Authorization").is_none(),
        "first request goes without credentials"
    );
    assert!(requests[1].header("Authorization").is_some());

    let wrong = server
        .url("/voice#rc=0")
        .replace("http://", "http://user:wrong-secret@");
    let result = fetch(
        &client,
        &mut jar,
        plan(Endpoint::new(wrong, Method::Post), None),
    )
    .await;
    assert_eq!(
        result.outcome,
        TwimlOutcome::GiveUp {
            error_code: switchboard_core::error_code::HTTP_RETRIEVAL_FAILURE
        }
    );
    let recorded = serde_json::to_string(&result.alerts).expect("json");
    assert!(
        !recorded.contains("wrong-secret") && recorded.contains("user:***@"),
        "{recorded}"
    );
    assert!(!recorded.contains("Authorization"));
    crate::validators::assert_all_valid(TOKEN, &server.requests(), "webhook basic auth signatures");
}

#[tokio::test]
async fn cookies_are_kept_for_the_session() {
    let server = TestServer::start(|_, index| {
        if index == 0 {
            status(
                200,
                &[
                    ("Content-Type", "text/xml"),
                    ("Set-Cookie", "sid=42; Path=/"),
                ],
                "<Response/>",
            )
        } else {
            twiml("<Response/>")
        }
    })
    .await;
    let client = client();
    let mut jar = CookieJar::new();
    for path in ["/voice", "/gather"] {
        fetch(
            &client,
            &mut jar,
            plan(Endpoint::new(server.url(path), Method::Post), None),
        )
        .await;
    }
    fetch(
        &client,
        &mut CookieJar::new(),
        plan(Endpoint::new(server.url("/other-call"), Method::Post), None),
    )
    .await;
    let requests = server.requests();
    assert_eq!(requests[0].header("Cookie"), None);
    assert_eq!(requests[1].header("Cookie"), Some("sid=42"));
    assert_eq!(
        requests[2].header("Cookie"),
        None,
        "a new session starts with an empty jar"
    );
}

#[tokio::test]
async fn redirects_303_turns_into_get_and_307_keeps_post() {
    let server = TestServer::start(|request, _| {
        let path = request
            .url
            .split_once("/hook")
            .map(|(_, p)| p.to_string())
            .unwrap_or_default();
        match path.as_str() {
            "/a" => status(303, &[("Location", "/hook/b?from=a")], ""),
            "/c" => status(307, &[("Location", "/hook/d")], ""),
            _ => twiml("<Response/>"),
        }
    })
    .await;
    let client = client();
    let mut jar = CookieJar::new();
    for path in ["/hook/a", "/hook/c"] {
        let result = fetch(
            &client,
            &mut jar,
            plan(Endpoint::new(server.url(path), Method::Post), None),
        )
        .await;
        assert!(
            matches!(result.outcome, TwimlOutcome::Answer { .. }),
            "{path}: {result:?}"
        );
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(
        (requests[1].method.as_str(), requests[1].body.is_empty()),
        ("GET", true)
    );
    assert!(requests[1].url.ends_with("/hook/b?from=a"));
    assert_eq!(requests[3].method, "POST");
    assert_eq!(requests[3].form(), call_params());
    let token = requests[0].header("I-Twilio-Idempotency-Token");
    assert_eq!(requests[1].header("I-Twilio-Idempotency-Token"), token);
    crate::validators::assert_all_valid(TOKEN, &requests, "webhook redirect signatures");
}

#[tokio::test]
async fn clamped_override_is_a_warning_and_invalid_policy_is_11243() {
    let primary = TestServer::start(|_, _| twiml("<Response/>")).await;
    let fallback = TestServer::start(|_, _| twiml("<Response><Hangup/></Response>")).await;
    let client = client();
    let mut jar = CookieJar::new();
    let result = fetch(
        &client,
        &mut jar,
        plan(
            Endpoint::new(primary.url("/v#ct=50&tt=99999"), Method::Post),
            None,
        ),
    )
    .await;
    assert!(matches!(
        result.outcome,
        TwimlOutcome::Answer {
            from_fallback: false,
            ..
        }
    ));
    assert_eq!(result.alerts.len(), 2);
    assert!(
        result
            .alerts
            .iter()
            .all(|a| a.level == AlertLevel::Warning && a.error_code == 11100)
    );
    assert!(result.alerts[0].alert_text.contains("LogLevel=WARNING"));

    let fallback_endpoint = Endpoint::new(fallback.url("/fb"), Method::Post);
    let bad = Endpoint::new(primary.url("/v#rp=sometimes"), Method::Post);
    let result = fetch(&client, &mut jar, plan(bad, Some(fallback_endpoint))).await;
    assert_eq!(result.events[0].error_code, Some(11243));
    assert_eq!(result.events[0].attempts, 0);
    assert_eq!(
        primary.requests().len(),
        1,
        "an invalid policy sends no request"
    );
    assert!(
        fallback.requests()[0]
            .form()
            .contains(&("ErrorCode".to_string(), "11243".to_string()))
    );
}

#[tokio::test]
async fn failing_fallback_gives_up_and_scope_initial_skips_later_fetches() {
    let primary = TestServer::start(|_, _| status(500, &[], "boom")).await;
    let fallback = TestServer::start(|_, _| status(502, &[], "also boom")).await;
    let client = client();
    let mut jar = CookieJar::new();
    let endpoints = || {
        (
            Endpoint::new(primary.url("/v"), Method::Post),
            Some(Endpoint::new(fallback.url("/f"), Method::Post)),
        )
    };
    let (p, f) = endpoints();
    let result = fetch(&client, &mut jar, plan(p, f)).await;
    assert_eq!(
        result.outcome,
        TwimlOutcome::GiveUp {
            error_code: switchboard_core::error_code::HTTP_RETRIEVAL_FAILURE
        }
    );
    assert_eq!(result.alerts.len(), 2);
    assert!(result.alerts[1].fallback && result.alerts[1].response_status == Some(502));
    assert_eq!(
        fallback.requests().len(),
        1,
        "a failing fallback never falls back again"
    );

    let (p, f) = endpoints();
    let later = FetchPlan {
        initial: false,
        scope: FallbackScope::Initial,
        breaker: false,
        ..plan(p, f)
    };
    let result = fetch(&client, &mut jar, later).await;
    assert!(matches!(result.outcome, TwimlOutcome::GiveUp { .. }));
    assert_eq!(
        fallback.requests().len(),
        1,
        "scope=initial: no fallback after the first fetch"
    );
}

#[tokio::test]
async fn text_audio_and_messaging_replies() {
    let server = TestServer::start(|request, _| {
        if request.url.ends_with("/text") {
            status(
                200,
                &[("Content-Type", "text/plain; charset=utf-8")],
                "Thanks, got it",
            )
        } else if request.url.ends_with("/audio") {
            status(200, &[("Content-Type", "audio/mpeg")], "ID3fake")
        } else {
            status(204, &[], "")
        }
    })
    .await;
    let client = client();
    let mut jar = CookieJar::new();
    let text = fetch(
        &client,
        &mut jar,
        plan(Endpoint::new(server.url("/text"), Method::Post), None),
    )
    .await;
    assert_eq!(
        text.outcome,
        TwimlOutcome::Answer {
            reply: Reply::Text("Thanks, got it".into()),
            from_fallback: false
        }
    );
    let audio = fetch(
        &client,
        &mut jar,
        plan(Endpoint::new(server.url("/audio"), Method::Post), None),
    )
    .await;
    let expected = Reply::Audio {
        content_type: "audio/mpeg".into(),
        body: b"ID3fake".to_vec(),
    };
    assert_eq!(
        audio.outcome,
        TwimlOutcome::Answer {
            reply: expected,
            from_fallback: false
        }
    );
    let sms = fetch_twiml(
        &client,
        TOKEN,
        &mut jar,
        plan(Endpoint::new(server.url("/sms"), Method::Post), None),
        Channel::Messaging,
        stand_in_parse,
    )
    .await;
    assert_eq!(
        sms.outcome,
        TwimlOutcome::Answer {
            reply: Reply::Document("<Response/>".into()),
            from_fallback: false
        }
    );
    assert!(
        sms.alerts.is_empty(),
        "an empty SMS answer is no reply, without an alert"
    );
}

#[tokio::test]
async fn notifications_record_an_error_alert_on_failure() {
    let server = TestServer::start(|request, _| {
        if request.url.contains("/ok") {
            status(204, &[], "")
        } else {
            status(500, &[], "nope")
        }
    })
    .await;
    let client = client();
    let mut jar = CookieJar::new();
    let ok = WebhookRequest::form(server.url("/ok"), Method::Post, call_params());
    let result = send_notification(&client, TOKEN, &mut jar, ok, Channel::Voice).await;
    assert!(result.error_code.is_none() && result.alerts.is_empty());
    let bad = WebhookRequest::form(server.url("/bad"), Method::Post, call_params());
    let result = send_notification(&client, TOKEN, &mut jar, bad, Channel::Voice).await;
    assert_eq!(result.error_code.map(|c| c.code), Some(11200));
    assert_eq!(result.alerts.len(), 1);
    assert_eq!(result.alerts[0].level, AlertLevel::Error);
    assert_eq!(result.event.http_status, Some(500));

    let body = serde_json::json!({"event": "ping", "text": "héllo"})
        .to_string()
        .into_bytes();
    let json = WebhookRequest::json(server.url("/ok?kind=json"), body);
    let result = send_notification(&client, TOKEN, &mut jar, json, Channel::Voice).await;
    assert!(result.error_code.is_none());
    let requests = server.requests();
    let sent = requests.last().expect("json request");
    assert!(sent.url.contains("?kind=json&bodySHA256="), "{}", sent.url);
    assert_eq!(
        sent.header("Content-Type"),
        Some("application/json; charset=utf-8")
    );
    crate::validators::assert_all_valid(
        TOKEN,
        &requests,
        "webhook notification signatures (form and JSON)",
    );
}

/// The engines' real parser plugged in: 12100 and 12102 verdicts drive the fallback, and a
/// 12200 warning of the used document becomes a WARNING alert with its request and response.
#[tokio::test]
async fn real_twiml_parser_verdicts() {
    let server = TestServer::start(|request, _| {
        if request.url.contains("/malformed") {
            twiml("<Response><Say>unclosed</Response")
        } else if request.url.contains("/root") {
            twiml("<Document/>")
        } else if request.url.contains("/fallback") {
            twiml("<Response><Sya>typo</Sya><Hangup/></Response>")
        } else {
            twiml("<Response/>")
        }
    })
    .await;
    let parse = |body: &[u8]| {
        switchboard_twiml::parse(body, switchboard_twiml::Context::Voice)
            .map_err(|rejected| rejected.error.code)
    };
    let client = client();
    for (path, code) in [("/malformed", 12100), ("/root", 12102)] {
        let fallback = Some(Endpoint::new(server.url("/fallback"), Method::Post));
        let plan = plan(Endpoint::new(server.url(path), Method::Post), fallback);
        let result = fetch_twiml(
            &client,
            TOKEN,
            &mut CookieJar::new(),
            plan,
            Channel::Voice,
            parse,
        )
        .await;
        assert_eq!(result.events[0].error_code, Some(code), "{path}");
        let TwimlOutcome::Answer {
            reply: Reply::Document(parsed),
            from_fallback: true,
        } = &result.outcome
        else {
            panic!("{path}: {:?}", result.outcome);
        };
        assert!(
            !parsed.warnings.is_empty(),
            "the fallback document has a misspelled verb"
        );
        let warning =
            result.document_warning(parsed.warnings[0].code, parsed.warnings[0].message.clone());
        let warning = warning.expect("an answer was used");
        assert_eq!(
            (warning.error_code, warning.level, warning.fallback),
            (12200, AlertLevel::Warning, true)
        );
        assert!(warning.response_body.contains("<Sya>"));
    }
}

#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_origin() {
    let elsewhere = TestServer::start(|_, _| twiml("<Response/>")).await;
    let target = elsewhere.url("/landing");
    let guarded = TestServer::start(move |request, _| match request.header("Authorization") {
        Some(_) => status(307, &[("Location", target.as_str())], ""),
        None => status(401, &[("WWW-Authenticate", "Basic realm=\"hooks\"")], ""),
    })
    .await;
    let url = guarded
        .url("/voice")
        .replace("http://", "http://user:secret@");
    let result = fetch(
        &client(),
        &mut CookieJar::new(),
        plan(Endpoint::new(url, Method::Post), None),
    )
    .await;
    assert!(
        matches!(result.outcome, TwimlOutcome::Answer { .. }),
        "{result:?}"
    );
    assert_eq!(guarded.requests().len(), 2);
    let landed = elsewhere.requests();
    assert_eq!(landed.len(), 1);
    assert!(
        landed[0].header("Authorization").is_none(),
        "credentials leaked to another origin"
    );
}
