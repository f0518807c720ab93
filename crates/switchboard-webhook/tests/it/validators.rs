//! Checks recorded requests with the official validators: twilio-python's `RequestValidator`
//! and twilio-node's `validateRequest`, each run once over all requests of a test.
//!
//! The URL given to the validators is the one a customer's app rebuilds (`http://` + Host +
//! request target); POST parameters come from the form body (repeated names kept), GET ones are
//! already in the URL.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::server::Recorded;

const PYTHON_CHECK: &str = r#"
import json, sys
from twilio.request_validator import RequestValidator

class Multi(dict):
    """A multi-valued mapping the validator reads through getall(), like Flask's MultiDict."""
    def __init__(self, pairs):
        super().__init__()
        for k, v in pairs:
            self.setdefault(k, []).append(v)
    def getall(self, name):
        return self[name]

cases = json.load(sys.stdin)
token = cases["token"]
def valid(c):
    params = c["json"] if c["json"] is not None else Multi(c["params"])
    return RequestValidator(token).validate(c["url"], params, c["signature"])
bad = [c["url"] for c in cases["requests"] if not valid(c)]
print(json.dumps({"checked": len(cases["requests"]), "invalid": bad}))
"#;

const NODE_CHECK: &str = r#"
const { validateRequest, validateRequestWithBody } = require("twilio/lib/webhooks/webhooks");
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const cases = JSON.parse(input);
  const bad = [];
  for (const c of cases.requests) {
    const params = {};
    for (const [k, v] of c.params) (params[k] = params[k] || []).push(v);
    const ok = c.json !== null
      ? validateRequestWithBody(cases.token, c.signature, c.url, c.json)
      : validateRequest(cases.token, c.signature, c.url, params);
    if (!ok) bad.push(c.url);
  }
  console.log(JSON.stringify({ checked: cases.requests.length, invalid: bad }));
});
"#;

/// The node_modules folder with twilio 6.3.1 (`SWITCHBOARD_NODE_MODULES`, set by scripts/test).
fn node_modules(suite: &str) -> Option<PathBuf> {
    match std::env::var_os("SWITCHBOARD_NODE_MODULES") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{suite}: SWITCHBOARD_NODE_MODULES is not set under CI; run the tests with scripts/test"
            );
            eprintln!(
                "!!!!! SKIPPED {suite} (node): SWITCHBOARD_NODE_MODULES is not set (run scripts/test) !!!!!"
            );
            None
        }
    }
}

fn input(token: &str, requests: &[Recorded]) -> String {
    let requests: Vec<serde_json::Value> = requests
        .iter()
        .map(|r| {
            let is_json = r
                .header("Content-Type")
                .is_some_and(|t| t.starts_with("application/json"));
            let params = if r.method == "POST" && !is_json {
                r.form()
            } else {
                Vec::new()
            };
            let json = is_json.then(|| String::from_utf8_lossy(&r.body).into_owned());
            serde_json::json!({
                "url": r.url,
                "params": params,
                "json": json,
                "signature": r.header("X-Twilio-Signature").unwrap_or(""),
            })
        })
        .collect::<Vec<_>>();
    // A control: the first request again with a wrong signature, which both validators must
    // reject — proof that the check can fail.
    let mut requests = requests;
    if let Some(mut tampered) = requests.first().cloned() {
        tampered["signature"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
        requests.push(tampered);
    }
    serde_json::json!({ "token": token, "requests": requests }).to_string()
}

fn run(mut command: Command, stdin: &str, what: &str) -> serde_json::Value {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{what}: bad output {e}"))
}

/// Asserts that every request validates with both official libraries; returns how many were
/// checked by each (0 when a validator is not available outside CI).
pub fn assert_all_valid(token: &str, requests: &[Recorded], suite: &str) -> (usize, usize) {
    assert!(!requests.is_empty(), "{suite}: no requests to validate");
    let stdin = input(token, requests);
    // Only the tampered control copy of the first request may be rejected.
    let control = serde_json::json!([requests[0].url]);
    let mut checked = (0, 0);
    if let Some(python) = switchboard_test_support::python::python(suite) {
        let mut command = Command::new(python);
        command.arg("-c").arg(PYTHON_CHECK);
        let report = run(command, &stdin, "python RequestValidator");
        assert_eq!(
            report["invalid"], control,
            "{suite}: python must reject only the control"
        );
        checked.0 = report["checked"].as_u64().unwrap_or(1) as usize - 1;
    }
    if let Some(modules) = node_modules(suite) {
        let mut command = Command::new("node");
        command.arg("-e").arg(NODE_CHECK).env("NODE_PATH", modules);
        let report = run(command, &stdin, "node validateRequest");
        assert_eq!(
            report["invalid"], control,
            "{suite}: node must reject only the control"
        );
        checked.1 = report["checked"].as_u64().unwrap_or(1) as usize - 1;
    }
    eprintln!(
        "{suite}: signatures valid: python {} / node {} of {} (and the tampered control rejected)",
        checked.0,
        checked.1,
        requests.len()
    );
    checked
}
