"""Twilio's own API description as the bar (issue 19 item 1).

Runs schemathesis on every operation of Twilio's published description (twilio-oai:
`twilio_api_v2010.json`, `twilio_monitor_v1.json`, `twilio_messaging_v1.json`) that this engine serves, against a running
engine, with the checks not_a_server_error, status_code_conformance, content_type_conformance and
response_schema_conformance, authenticated as the engine's main account.

Which operations are served is asked of the engine itself, so a new route is covered without
editing this file: each operation's path is filled in (the account's SID, SID-shaped values with
the prefix the description's pattern names) and sent with its method; the router answers a path
it does not have with `X-Switchboard-Route: none` (or 405 for a method it does not take there).

The description is used as published, except for the deviations in `deviations.py`, each with its
reason. Prints the operations and cases counts and exits non-zero on any failure.

Environment: SWITCHBOARD_URL, SID, TOKEN, OAI_DIR (the folder with the description's JSON files),
SCHEMATHESIS (the schemathesis command), WORK (a scratch folder).
"""

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import base64

sys.path.insert(0, os.path.dirname(__file__))
import deviations  # noqa: E402

BASE = os.environ["SWITCHBOARD_URL"]
SID = os.environ["SID"]
TOKEN = os.environ["TOKEN"]
OAI = os.environ["OAI_DIR"]
WORK = os.environ["WORK"]
METHODS = ["get", "post", "put", "delete", "patch"]
AUTH = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


def sample(parameter):
    """A value for a path parameter: the account's SID, or a SID-shaped value of its kind."""
    name = parameter["name"]
    if name == "AccountSid":
        return SID
    pattern = parameter.get("schema", {}).get("pattern", "")
    match = re.match(r"\^([A-Z]{2})\[0-9a-fA-F\]\{32\}\$", pattern)
    if match:
        return match.group(1) + "0" * 32
    return "XX" + "0" * 32


def served(method, path):
    request = urllib.request.Request(
        BASE + path, method=method.upper(), headers={"Authorization": AUTH}
    )
    if method in ("post", "put", "patch"):
        request.data = b""
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            headers, status = response.headers, response.status
    except urllib.error.HTTPError as error:
        headers, status = error.headers, error.code
    return status != 405 and headers.get("X-Switchboard-Route") != "none"


def served_subset(spec):
    """The description with only the operations the engine serves (and their count)."""
    paths = {}
    count = 0
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        kept = {key: value for key, value in item.items() if key not in METHODS}
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            parameters = shared + operation.get("parameters", [])
            concrete = path
            for parameter in parameters:
                if parameter.get("in") == "path":
                    concrete = concrete.replace("{%s}" % parameter["name"], sample(parameter))
            if served(method, concrete):
                kept[method] = operation
                count += 1
        if any(method in kept for method in METHODS):
            paths[path] = kept
    spec = dict(spec)
    spec["paths"] = paths
    return spec, count


def rest(method, path, form=None):
    data = urllib.parse.urlencode(form or {}).encode() if method == "POST" else None
    request = urllib.request.Request(
        BASE + path, data=data, method=method, headers={"Authorization": AUTH}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def seed():
    """Resources of every served kind, so fetch, update and delete reach a real row and their
    success bodies are checked (a random SID only ever gets 404). Returns the path parameters to
    fix, per operation path of the description."""
    account = f"/2010-04-01/Accounts/{SID}"
    number = rest("POST", f"{account}/IncomingPhoneNumbers.json",
                  {"PhoneNumber": "+15550170001", "VoiceUrl": "http://127.0.0.1:9/voice"})
    application = rest("POST", f"{account}/Applications.json", {"FriendlyName": "conformance"})
    key = rest("POST", f"{account}/Keys.json", {"FriendlyName": "conformance"})
    sub = rest("POST", "/2010-04-01/Accounts.json", {"FriendlyName": "conformance"})
    call = rest("POST", f"{account}/Calls.json", {
        "To": "+15558670001", "From": "+15550170001",
        "Twiml": "<Response><Say>hi</Say></Response>"})
    message = rest("POST", f"{account}/Messages.json",
                   {"To": "+15558670001", "From": "+15550170001", "Body": "hi"})
    service = rest("POST", "/v1/Services", {"FriendlyName": "conformance"})
    pooled = rest("POST", f"{account}/IncomingPhoneNumbers.json", {"PhoneNumber": "+15550170002"})
    rest("POST", f"/v1/Services/{service['sid']}/PhoneNumbers", {"PhoneNumberSid": pooled["sid"]})
    # A call whose Voice URL is refused: an alert (a Notification) about it.
    failing = rest("POST", "/sandbox/Calls", {"To": "+15550170001"})["call_sid"]
    rest("GET", f"/sandbox/Calls/{failing}?WaitFor=completed&Timeout=20")
    notification = rest("GET", f"{account}/Calls/{failing}/Notifications.json")["notifications"][0]["sid"]
    prefix = "/2010-04-01/Accounts/{AccountSid}"
    return {
        "/2010-04-01/Accounts/{Sid}.json": {"Sid": sub["sid"]},
        prefix + "/Calls/{Sid}.json": {"Sid": call["sid"]},
        prefix + "/Calls/{CallSid}/Recordings.json": {"CallSid": failing},
        prefix + "/Calls/{CallSid}/Notifications.json": {"CallSid": failing},
        prefix + "/Calls/{CallSid}/Notifications/{Sid}.json": {"CallSid": failing, "Sid": notification},
        prefix + "/Notifications/{Sid}.json": {"Sid": notification},
        prefix + "/IncomingPhoneNumbers/{Sid}.json": {"Sid": number["sid"]},
        prefix + "/Applications/{Sid}.json": {"Sid": application["sid"]},
        prefix + "/Keys/{Sid}.json": {"Sid": key["sid"]},
        prefix + "/Messages/{Sid}.json": {"Sid": message["sid"]},
        prefix + "/Messages/{MessageSid}/Media.json": {"MessageSid": message["sid"]},
        "/v1/Alerts/{Sid}": {"Sid": notification},
        "/v1/Services/{Sid}": {"Sid": service["sid"]},
        "/v1/Services/{ServiceSid}/PhoneNumbers": {"ServiceSid": service["sid"]},
        "/v1/Services/{ServiceSid}/PhoneNumbers/{Sid}": {"ServiceSid": service["sid"], "Sid": pooled["sid"]},
    } | {
        prefix + f"/AvailablePhoneNumbers/{{CountryCode}}{suffix}": {"CountryCode": "US"}
        for suffix in [".json", "/Local.json", "/TollFree.json", "/Mobile.json"]
    }


def run(name, served_count, fixed):
    path = os.path.join(WORK, name)
    config = os.path.join(WORK, "schemathesis.toml")
    with open(config, "w") as out:
        out.write('[parameters]\n"path.AccountSid" = "%s"\n' % SID)
        with open(path) as handle:
            described = json.load(handle)["paths"]
        for operation_path, values in fixed.items():
            if operation_path not in described:
                continue
            out.write('\n[[operations]]\ninclude-path = "%s"\n[operations.parameters]\n' % operation_path)
            for name_, value in values.items():
                out.write('"path.%s" = "%s"\n' % (name_, value))
            out.write('"path.AccountSid" = "%s"\n' % SID)
    command = [
        os.environ["SCHEMATHESIS"],
        "--config-file",
        config,
        "run",
        path,
        "--url",
        BASE,
        "--auth",
        f"{SID}:{TOKEN}",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--phases",
        "examples,fuzzing",
        "--max-examples",
        os.environ.get("CONFORMANCE_EXAMPLES", "25"),
        "--seed",
        os.environ.get("CONFORMANCE_SEED", "19"),
        "--workers",
        "2",
        "--no-color",
        "--suppress-health-check",
        "all",
    ]
    print(f"== {name}: {served_count} operations served by the engine", flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    output = result.stdout + result.stderr
    start = output.find("WARNINGS") if "WARNINGS" in output else output.find("SUMMARY")
    summary = output[start:] if start >= 0 else output[-3000:]
    print(summary, flush=True)
    if result.returncode != 0:
        print(output[-20000:], flush=True)
    return result.returncode == 0


def main():
    ok = True
    total = 0
    fixed = seed()
    for file in ["twilio_api_v2010.json", "twilio_monitor_v1.json", "twilio_messaging_v1.json"]:
        with open(os.path.join(OAI, file)) as handle:
            spec = json.load(handle)
        subset, count = served_subset(spec)
        total += count
        subset = deviations.apply(subset)
        name = "served-" + file
        with open(os.path.join(WORK, name), "w") as out:
            json.dump(subset, out)
        ok = run(name, count, fixed) and ok
    print(f"conformance: {total} operations of Twilio's description served and checked")
    if not ok:
        sys.exit(1)
    print("all checks passed")


main()
