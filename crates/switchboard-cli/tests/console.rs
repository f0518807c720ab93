//! The web console (product.md "Web console") against the real binary: headless Chromium driven
//! by playwright-core (`tests/console/console.test.mjs`) for what an operator does, with axe-core
//! on every page at two widths; and plain HTTP for the sign-in limits and session rules a
//! browser test would not show. A test binary of its own: the browser suite is the slowest.
//!
//! Needs `SWITCHBOARD_NODE_MODULES` (playwright-core, axe-core and twilio, installed by
//! scripts/test) and Debian's chromium; without them it says SKIPPED loudly, and under CI it
//! fails instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use switchboard_test_support::app::App;
use switchboard_test_support::engine::{Engine, scratch_dir};
use switchboard_test_support::net::refused_addr;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// The node_modules folder and the browser, or `None` (skipped) outside CI.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let modules = std::env::var_os("SWITCHBOARD_NODE_MODULES")
        .map(PathBuf::from)
        .filter(|path| path.join("playwright-core").is_dir() && path.join("axe-core").is_dir());
    let chromium = std::env::var_os("SWITCHBOARD_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    match modules {
        Some(modules) if chromium.exists() => Some((modules, chromium)),
        _ => {
            let why = "SWITCHBOARD_NODE_MODULES with playwright-core and axe-core, and chromium, are needed (run scripts/test)";
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "console browser tests: {why}"
            );
            eprintln!("!!!!! SKIPPED console browser tests: {why} !!!!!");
            None
        }
    }
}

async fn subaccount(engine: &Engine) -> (String, String) {
    let response = engine
        .request(
            reqwest::Method::POST,
            &format!("{}/2010-04-01/Accounts.json", engine.base_url),
        )
        .form(&[("FriendlyName", "Other team")])
        .send()
        .await
        .expect("creating a subaccount");
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.expect("JSON");
    (
        body["sid"].as_str().expect("sid").to_owned(),
        body["auth_token"].as_str().expect("token").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_configures_a_fallback_and_watches_it_save_a_call_in_chromium() {
    let Some((modules, chromium)) = browser_tools() else {
        return;
    };
    // Probes every second (the number's page shows the last one) and a single attempt per
    // callback (a callback to a dead URL is a failed delivery at once, for the deliveries page).
    let dir = scratch_dir("console");
    let database = format!("sqlite://{}", dir.join("switchboard.db").display());
    let engine = Engine::start_on(
        binary(),
        dir,
        database,
        vec![
            ("SWITCHBOARD_PROBE_INTERVAL".into(), "1".into()),
            ("SWITCHBOARD_CALLBACK_RETRY_FOR".into(), "0".into()),
        ],
    );
    let app = App::start().await;
    app.route(
        "/fallback",
        200,
        "text/xml",
        r#"<Response><Say>From the fallback</Say><Pause length="2"/><Say>after the pause</Say></Response>"#,
    );
    let primary = format!("http://{}/voice", refused_addr());
    let (sub_sid, sub_token) = subaccount(&engine).await;
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/console.test.mjs");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .env("NODE_MODULES", &modules)
            .env("CHROMIUM", &chromium)
            .env("SWITCHBOARD_URL", &engine.base_url)
            .env("SID", &engine.account_sid)
            .env("TOKEN", &engine.auth_token)
            .env("SUB_SID", &sub_sid)
            .env("SUB_TOKEN", &sub_token)
            .env("PRIMARY_URL", &primary)
            .env("FALLBACK_URL", app.url("/fallback"))
            .env("SCREENSHOTS", &screenshots)
            .output()
            .map(|output| (output, engine, app))
    })
    .await
    .expect("the node task")
    .expect("running node");
    let (output, _engine, _app) = output;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "the console browser test failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

/// Signs in over plain HTTP: the sign-in form's token and cookie, then the form.
async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    sid: &str,
    token: &str,
) -> reqwest::Response {
    let form = client
        .get(format!("{base}/console/signin"))
        .send()
        .await
        .expect("the sign-in form");
    let cookie = set_cookie(&form, "sb_signin")
        .expect("the sign-in cookie")
        .split(';')
        .next()
        .expect("a cookie pair")
        .to_owned();
    let html = form.text().await.expect("the form");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's token")
        .to_owned();
    client
        .post(format!("{base}/console/signin"))
        .header("cookie", cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("AccountSid", sid),
            ("AuthToken", token),
        ])
        .send()
        .await
        .expect("signing in")
}

/// A signed-in page's HTML.
async fn page_text(client: &reqwest::Client, url: String, cookie: &str) -> String {
    client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("a page")
        .text()
        .await
        .expect("the page")
}

/// The whole `Set-Cookie` value a response gives cookie `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&prefix))
        .map(str::to_owned)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_sign_ins_are_limited_per_source_and_sessions_follow_the_token() {
    let engine = Engine::start(binary());
    let base = engine.base_url.clone();
    let client = no_redirects();

    let good = sign_in(&client, &base, &engine.account_sid, &engine.auth_token).await;
    assert_eq!(good.status(), 303);
    let session = set_cookie(&good, "sb_session").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Secure"), "plain http: {session}");
    let cookie = session.split(';').next().expect("pair").to_owned();
    let page = client
        .get(format!("{base}/console/numbers"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("a page");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");

    // A form without its token is refused, with a signed-in session.
    let forged = client
        .post(format!("{base}/console/numbers"))
        .header("cookie", &cookie)
        .form(&[("AreaCode", "415")])
        .send()
        .await
        .expect("a forged form");
    assert_eq!(forged.status(), 403);

    // A session ends with its credential: a subaccount signed in, then suspended by its parent.
    let (sub_sid, sub_token) = subaccount(&engine).await;
    let signed_in = sign_in(&client, &base, &sub_sid, &sub_token).await;
    assert_eq!(signed_in.status(), 303);
    let sub_cookie = set_cookie(&signed_in, "sb_session")
        .and_then(|value| value.split(';').next().map(str::to_owned))
        .expect("the subaccount's session");
    let sub_page = |cookie: String| {
        let client = client.clone();
        let url = format!("{base}/console/calls");
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("a page")
                .status()
        }
    };
    assert_eq!(sub_page(sub_cookie.clone()).await, 200);
    let suspended = engine
        .request(
            reqwest::Method::POST,
            &format!("{base}/2010-04-01/Accounts/{sub_sid}.json"),
        )
        .form(&[("Status", "suspended")])
        .send()
        .await
        .expect("suspending");
    assert_eq!(suspended.status(), 200);
    assert_eq!(
        sub_page(sub_cookie).await,
        303,
        "a suspended account's session ends"
    );

    // An API key signs in too; a parent acts on its subaccount after choosing it.
    let key: serde_json::Value = engine
        .request(
            reqwest::Method::POST,
            &format!(
                "{base}/2010-04-01/Accounts/{}/Keys.json",
                engine.account_sid
            ),
        )
        .form(&[("FriendlyName", "console")])
        .send()
        .await
        .expect("creating a key")
        .json()
        .await
        .expect("the key");
    let by_key = sign_in(
        &client,
        &base,
        key["sid"].as_str().expect("key sid"),
        key["secret"].as_str().expect("key secret"),
    )
    .await;
    assert_eq!(by_key.status(), 303, "an API key signs in");
    // As on the REST API, an API key may not change the account's settings.
    let key_cookie = set_cookie(&by_key, "sb_session")
        .and_then(|value| value.split(';').next().map(str::to_owned))
        .expect("the key's session");
    let key_settings = page_text(&client, format!("{base}/console/settings"), &key_cookie).await;
    let key_csrf = key_settings
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token")
        .to_owned();
    let refused = client
        .post(format!("{base}/console/settings"))
        .header("cookie", &key_cookie)
        .form(&[
            ("csrf", key_csrf.as_str()),
            ("DebuggerWebhookUrl", "https://debugger.example/hook"),
        ])
        .send()
        .await
        .expect("saving settings");
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.expect("page").contains("Error 20403"));
    let (active_sid, _) = subaccount(&engine).await;
    let settings = page_text(&client, format!("{base}/console/settings"), &cookie).await;
    assert!(
        settings.contains(&active_sid),
        "the parent can choose its subaccount"
    );
    let csrf = settings
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token")
        .to_owned();
    let switched = client
        .post(format!("{base}/console/account"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("AccountSid", active_sid.as_str())])
        .send()
        .await
        .expect("switching");
    assert_eq!(switched.status(), 303);
    let numbers = page_text(&client, format!("{base}/console/numbers"), &cookie).await;
    assert!(
        numbers.contains(&active_sid),
        "the pages act on the subaccount"
    );
    let foreign = client
        .post(format!("{base}/console/account"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("AccountSid", &format!("AC{}", "0".repeat(32))),
        ])
        .send()
        .await
        .expect("switching to a stranger");
    assert_eq!(
        foreign.status(),
        401,
        "an account that is not a subaccount is refused"
    );

    // Five failures from one source, then even the right secret waits.
    for attempt in 0..5 {
        let wrong = sign_in(&client, &base, &engine.account_sid, &"0".repeat(32)).await;
        assert_eq!(wrong.status(), 401, "failure {attempt}");
    }
    let held = sign_in(&client, &base, &engine.account_sid, &engine.auth_token).await;
    assert_eq!(held.status(), 429);
    assert!(
        held.text()
            .await
            .expect("page")
            .contains("Too many failed sign-ins")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_cookie_is_secure_when_the_public_url_is_https() {
    let dir = scratch_dir("console-https");
    let database = format!("sqlite://{}", dir.join("switchboard.db").display());
    let engine = Engine::start_on(
        binary(),
        dir,
        database,
        vec![(
            "SWITCHBOARD_PUBLIC_URL".into(),
            "https://switchboard.example".into(),
        )],
    );
    let signed_in = sign_in(
        &no_redirects(),
        &engine.base_url,
        &engine.account_sid,
        &engine.auth_token,
    )
    .await;
    assert_eq!(signed_in.status(), 303);
    let session = set_cookie(&signed_in, "sb_session").expect("a session cookie");
    assert!(session.contains("; Secure"), "{session}");
}
