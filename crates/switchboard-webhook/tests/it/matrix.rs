//! The failure-mode matrix: every way a TwiML fetch can fail, against real local servers, each
//! checked for its code, its alert (request and response), one fallback request carrying
//! `ErrorCode`/`ErrorUrl` and every original parameter, and its timing against the overrides.
//! Every request the client sent is then validated with the official Python and Node validators.

use std::time::Duration;

use switchboard_webhook::request::redact_url;
use switchboard_webhook::{
    AlertLevel, Channel, ClientSettings, CookieJar, Endpoint, FallbackScope, FetchPlan, Method,
    Reply, TwimlFetchResult, TwimlOutcome, WebhookClient, fetch_twiml,
};

use crate::server::{
    Recorded, Reply as ServerReply, TestServer, blackhole, refused_port, status, twiml,
};
use crate::{TOKEN, call_params, stand_in_parse};

const FALLBACK_DOC: &str = "<Response><Say>from the fallback</Say></Response>";

struct Case {
    name: &'static str,
    url: String,
    method: Method,
    code: u32,
    attempts: u32,
    /// What the overrides say the failure takes; `None` = immediate.
    expect_ms: Option<u64>,
    status: Option<u16>,
}

fn case(
    name: &'static str,
    url: String,
    code: u32,
    attempts: u32,
    expect_ms: Option<u64>,
    status: Option<u16>,
) -> Case {
    Case {
        name,
        url,
        method: Method::Post,
        code,
        attempts,
        expect_ms,
        status,
    }
}

fn get(mut case: Case) -> Case {
    case.method = Method::Get;
    case
}

async fn server(reply: ServerReply) -> TestServer {
    TestServer::start(move |_, _| reply.clone()).await
}

/// A plain-HTTP server that answers anything (such as a TLS ClientHello) with a 400, like nginx.
async fn plain_http_port() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await;
            let _ = stream
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
        }
    });
    (addr, task)
}

#[tokio::test]
async fn failure_mode_matrix() {
    let client = WebhookClient::new(ClientSettings::default()).expect("client");
    let fallback = TestServer::start(|_, _| twiml(FALLBACK_DOC)).await;
    let refused = refused_port().await;
    let hole = blackhole().await;
    let (plain, _plain_task) = plain_http_port().await;
    let big = "x".repeat(70 * 1024);
    let mut streamed_big =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n".to_vec();
    streamed_big.extend_from_slice(format!("<Response><Say>{big}</Say></Response>").as_bytes());

    let slow = server(ServerReply::Delay(
        Duration::from_secs(2),
        Box::new(twiml("<Response/>")),
    ))
    .await;
    let stalled = server(ServerReply::Stall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100\r\n\r\n<Resp".to_vec(),
        Duration::from_secs(3),
    ))
    .await;
    let always_slow = server(ServerReply::Delay(
        Duration::from_secs(1),
        Box::new(twiml("<Response/>")),
    ))
    .await;
    let unavailable = server(status(
        503,
        &[("Content-Type", "text/html")],
        "<h1>down</h1>",
    ))
    .await;
    let not_found = server(status(404, &[("Content-Type", "text/html")], "not here")).await;
    let broken = server(status(
        500,
        &[("Content-Type", "text/plain")],
        "stack trace",
    ))
    .await;
    let looping = server(status(302, &[("Location", "/loop?again=1")], "")).await;
    let no_location = server(status(302, &[], "")).await;
    let permanent = server(status(308, &[("Location", "/elsewhere")], "")).await;
    let huge = server(status(200, &[("Content-Type", "text/xml")], &big)).await;
    let huge_streamed = server(ServerReply::Raw(streamed_big)).await;
    let json = server(status(
        200,
        &[("Content-Type", "application/json")],
        "{\"say\":\"hi\"}",
    ))
    .await;
    let untyped = server(status(200, &[], "<Response/>")).await;
    let malformed = server(twiml("<Response><Say>unclosed</Response")).await;
    let wrong_root = server(twiml("<Document><Say>hi</Say></Document>")).await;

    let cases = vec![
        case(
            "refused, no fragment",
            format!("http://{refused}/voice"),
            11205,
            2,
            None,
            None,
        ),
        case(
            "refused, with fragment",
            format!("http://{refused}/voice?a=1#ct=200"),
            11202,
            2,
            None,
            None,
        ),
        case(
            "blackholed connect",
            format!("http://{}/voice#ct=200", hole.addr),
            11201,
            2,
            Some(400),
            None,
        ),
        case(
            "slow headers",
            slow.url("/voice#rt=300"),
            11203,
            1,
            Some(300),
            None,
        ),
        case(
            "stalled body",
            stalled.url("/voice#rt=300"),
            11203,
            1,
            Some(300),
            Some(200),
        ),
        case(
            "total budget",
            slow.url("/voice?x=%C3%A9#tt=500"),
            11203,
            1,
            Some(500),
            None,
        ),
        case(
            "total budget over retries",
            format!("http://{}/v#ct=300&rc=5&tt=700", hole.addr),
            11203,
            3,
            Some(700),
            None,
        ),
        case(
            "rt retries (rc=2, rp=rt)",
            always_slow.url("/voice#rt=300&rc=2&rp=rt"),
            11203,
            3,
            Some(900),
            None,
        ),
        get(case(
            "5xx retries (rc=2, rp=5xx)",
            unavailable.url("/voice?q=1#rc=2&rp=5xx"),
            11200,
            3,
            None,
            Some(503),
        )),
        case("503", unavailable.url("/voice"), 11200, 1, None, Some(503)),
        get(case(
            "404",
            not_found.url("/voice?lang=fr&name=Zo%C3%AB"),
            11200,
            1,
            None,
            Some(404),
        )),
        case("500", broken.url("/voice"), 11200, 1, None, Some(500)),
        case(
            "redirect loop",
            looping.url("/voice"),
            11215,
            1,
            None,
            Some(302),
        ),
        case(
            "redirect without Location",
            no_location.url("/voice"),
            11216,
            1,
            None,
            Some(302),
        ),
        case(
            "308 redirect",
            permanent.url("/voice"),
            11216,
            1,
            None,
            Some(308),
        ),
        case("70 KiB body", huge.url("/voice"), 11750, 1, None, Some(200)),
        case(
            "70 KiB streamed body",
            huge_streamed.url("/voice"),
            11750,
            1,
            None,
            Some(200),
        ),
        get(case(
            "wrong content type",
            json.url("/voice"),
            12300,
            1,
            None,
            Some(200),
        )),
        case(
            "missing content type",
            untyped.url("/voice"),
            12300,
            1,
            None,
            Some(200),
        ),
        case(
            "malformed XML",
            malformed.url("/voice"),
            12100,
            1,
            None,
            Some(200),
        ),
        case(
            "wrong root",
            wrong_root.url("/voice"),
            12102,
            1,
            None,
            Some(200),
        ),
        case(
            "unresolvable .invalid host",
            "http://x.invalid/voice".to_string(),
            11210,
            1,
            None,
            None,
        ),
        case(
            "TLS to a plain-HTTP port",
            format!("https://127.0.0.1:{}/voice#ct=1000", plain.port()),
            11220,
            2,
            None,
            None,
        ),
    ];

    let mut fallback_seen = 0;
    for (index, case) in cases.iter().enumerate() {
        let fallback_method = if index % 2 == 0 {
            Method::Post
        } else {
            Method::Get
        };
        let fallback_url = fallback.url(&format!("/fallback?case={index}"));
        let started = std::time::Instant::now();
        let result = run(&client, case, Endpoint::new(fallback_url, fallback_method)).await;
        check_case(case, &result);
        let seen = fallback.requests();
        assert_eq!(
            seen.len(),
            fallback_seen + 1,
            "{}: the fallback must be called exactly once",
            case.name
        );
        fallback_seen += 1;
        check_fallback_request(case, &seen[fallback_seen - 1], fallback_method);
        let to_fallback = seen[fallback_seen - 1]
            .received_at
            .duration_since(started)
            .as_millis() as u64;
        let primary_ms = result.events[0].duration_ms;
        assert!(
            to_fallback <= primary_ms + 50,
            "{}: fallback requested {to_fallback} ms after start, primary took {primary_ms} ms",
            case.name
        );
    }

    // Retries carry the same idempotency token; redirects turned the loop into GETs.
    for (server, attempts) in [(&unavailable, 3), (&always_slow, 3)] {
        let requests = server.requests();
        let tokens: Vec<_> = requests
            .iter()
            .take(attempts)
            .map(|r| r.header("I-Twilio-Idempotency-Token"))
            .collect();
        assert!(
            tokens[0].is_some() && tokens.iter().all(|t| *t == tokens[0]),
            "same token on retries: {tokens:?}"
        );
    }
    let loop_requests = looping.requests();
    assert_eq!(
        loop_requests.len(),
        11,
        "the original request and 10 followed redirects"
    );
    assert!(
        loop_requests[1..]
            .iter()
            .all(|r| r.method == "GET" && r.body.is_empty()),
        "302 turns into GET"
    );

    let mut all: Vec<Recorded> = fallback.requests();
    for server in [
        &slow,
        &stalled,
        &always_slow,
        &unavailable,
        &not_found,
        &broken,
        &looping,
        &no_location,
    ] {
        all.extend(server.requests());
    }
    for server in [
        &permanent,
        &huge,
        &huge_streamed,
        &json,
        &untyped,
        &malformed,
        &wrong_root,
    ] {
        all.extend(server.requests());
    }
    assert!(all.iter().any(|r| r.method == "GET") && all.iter().any(|r| r.method == "POST"));
    crate::validators::assert_all_valid(TOKEN, &all, "webhook matrix signatures");
}

async fn run(client: &WebhookClient, case: &Case, fallback: Endpoint) -> TwimlFetchResult<String> {
    let plan = FetchPlan {
        primary: Endpoint::new(case.url.clone(), case.method),
        fallback: Some(fallback),
        params: call_params(),
        initial: true,
        scope: FallbackScope::All,
        breaker: false,
    };
    let mut cookies = CookieJar::new();
    fetch_twiml(
        client,
        TOKEN,
        &mut cookies,
        plan,
        Channel::Voice,
        stand_in_parse,
    )
    .await
}

fn check_case(case: &Case, result: &TwimlFetchResult<String>) {
    let name = case.name;
    let expected = TwimlOutcome::Answer {
        reply: Reply::Document(FALLBACK_DOC.to_string()),
        from_fallback: true,
    };
    assert_eq!(result.outcome, expected, "{name}");
    assert_eq!(
        result.events.len(),
        2,
        "{name}: primary and fallback requests"
    );
    let (primary, fallback) = (&result.events[0], &result.events[1]);
    assert_eq!(primary.error_code, Some(case.code), "{name}: error code");
    assert_eq!(primary.attempts, case.attempts, "{name}: attempts");
    assert!(fallback.fallback && fallback.error_code.is_none(), "{name}");
    let elapsed = primary.duration_ms;
    match case.expect_ms {
        Some(ms) => assert!(
            elapsed + 2 >= ms && elapsed <= ms + 50,
            "{name}: took {elapsed} ms, overrides say {ms}"
        ),
        None => assert!(
            elapsed <= 50,
            "{name}: took {elapsed} ms, expected an immediate failure"
        ),
    }

    let errors: Vec<_> = result
        .alerts
        .iter()
        .filter(|a| a.level == AlertLevel::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{name}: one ERROR alert");
    let alert = errors[0];
    assert_eq!(alert.error_code, case.code, "{name}");
    assert_eq!(alert.request_url, redact_url(&case.url), "{name}");
    assert_eq!(alert.request_method, case.method.as_str(), "{name}");
    assert_eq!(alert.request_variables, call_params(), "{name}");
    for header in [
        "X-Twilio-Signature",
        "I-Twilio-Idempotency-Token",
        "User-Agent",
    ] {
        assert!(
            alert.request_headers.iter().any(|(n, _)| n == header),
            "{name}: {header} recorded"
        );
    }
    assert_eq!(
        alert.response_status, case.status,
        "{name}: response status"
    );
    assert!(
        alert
            .alert_text
            .contains(&format!("ErrorCode={}", case.code)),
        "{name}: {}",
        alert.alert_text
    );
    assert_eq!(alert.attempts, case.attempts, "{name}");
    match case.status {
        Some(status) if status != 200 || case.code >= 12000 => {
            assert!(
                !alert.response_headers.is_empty(),
                "{name}: response headers recorded"
            );
        }
        Some(_) => {}
        None => {
            let synthetic = alert
                .response_headers
                .iter()
                .find(|(n, _)| n == "X-Twilio-WebhookError");
            assert!(
                synthetic.is_some_and(|(_, v)| v.starts_with(&case.code.to_string())),
                "{name}: {synthetic:?}"
            );
        }
    }
    if case.code >= 12000 || matches!(case.status, Some(404 | 500 | 503)) {
        assert!(
            !alert.response_body.is_empty(),
            "{name}: response body recorded"
        );
    }
    assert!(
        alert.response_body.len() <= 64 * 1024,
        "{name}: recorded body is capped"
    );
}

fn check_fallback_request(case: &Case, request: &Recorded, method: Method) {
    let name = case.name;
    assert_eq!(request.method, method.as_str(), "{name}");
    let mut got = match method {
        Method::Post => request.form(),
        Method::Get => request
            .query()
            .into_iter()
            .filter(|(n, _)| n != "case")
            .collect(),
    };
    let mut expected = call_params();
    expected.push(("ErrorCode".to_string(), case.code.to_string()));
    expected.push(("ErrorUrl".to_string(), redact_url(&case.url)));
    assert!(
        !redact_url(&case.url).contains('#'),
        "{name}: ErrorUrl has no fragment"
    );
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "{name}: fallback parameters");
}
