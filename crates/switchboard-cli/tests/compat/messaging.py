"""Messaging end to end: the official twilio-python package is the customer's app (MessagingResponse,
RequestValidator) and the REST client; the engine's sandbox plays the handsets.

Run by crates/switchboard-cli/tests/it/compat.rs with SWITCHBOARD_URL, SID and TOKEN set.
"""
import os
import socket
import time
import urllib.parse

import requests
from customer_app import CustomerApp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

URL, SID, TOKEN = os.environ["SWITCHBOARD_URL"], os.environ["SID"], os.environ["TOKEN"]


def reply_for(path, params):
    """The customer's application: what each path answers, as (status, content type, body)."""
    response = MessagingResponse()
    if path == "/sms":
        response.message(f"You said: {params.get('Body', '')}")
    elif path == "/media":
        message = response.message("")
        message.body("picture")
        message.media("/cat.png")
    elif path == "/multi":
        for n in range(3):
            response.message(f"part {n}")
    elif path == "/redirect":
        response.redirect("/sms")
    elif path == "/fallback":
        response.message(f"fallback reply ({params.get('ErrorCode')})")
    elif path == "/action-start":
        response.message("first", action="/action-next")
    elif path == "/action-next":
        response.message(f"after {params.get('MessageStatus')}")
    elif path == "/down":
        return 500, "text/html", "<h1>boom</h1>"
    elif path == "/invalid":
        return 200, "text/xml", "<Response><Message>unclosed</Response>"
    elif path == "/voice-only":
        return 200, "text/xml", "<Response><Say>hello</Say></Response>"
    elif path == "/slow":
        time.sleep(1.5)
    elif path == "/status":
        return 204, "text/plain", ""
    elif path == "/plain":
        return 200, "text/plain", "plain text reply"
    elif path == "/warn":
        return 200, "text/xml", "<Response><Message>still sent</Message><Bogus/></Response>"
    elif path == "/debugger":
        return 204, "text/plain", ""
    elif path == "/cookie":
        cookie = f"visits={params.get('Body', '')}; Path=/"
        return 200, "application/xml", str(response), [("Set-Cookie", cookie)]
    return 200, "application/xml", str(response)


app = CustomerApp(TOKEN, reply_for)
APP = app.url

client = Client(SID, TOKEN)
client.api.base_url = URL
client.monitor.base_url = URL
session = requests.Session()
session.auth = (SID, TOKEN)


_held_sockets = []


def closed_port():
    # Bound but never listening, and kept open: connections are refused, and no later bind(0)
    # (a webhook server of this test) can be handed the same port.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _held_sockets.append(sock)
    return sock.getsockname()[1]


def number(phone, sms_url, fallback=None, method="POST"):
    kwargs = {"phone_number": phone, "sms_url": sms_url, "sms_method": method}
    if fallback:
        kwargs["sms_fallback_url"] = fallback
    return client.incoming_phone_numbers.create(**kwargs)


def text_in(to, body, sender="+15005550006", media=()):
    answer = session.post(f"{URL}/sandbox/Messages", data={"To": to, "From": sender, "Body": body, "MediaUrl": list(media)})
    assert answer.status_code == 201, answer.text
    sid = answer.json()["message_sid"]
    done = session.get(f"{URL}/sandbox/Messages/{sid}", params={"WaitFor": "done", "Timeout": "20"})
    assert done.status_code == 200, done.text
    return sid, done.json()


def hits(path):
    return [params for params, _ in app.hits(path)]


# 1. A reply flow, with every inbound parameter.
number("+15550100001", f"{APP}/sms")
sid, transcript = text_in("+15550100001", "hello there")
assert [r["body"] for r in transcript["replies"]] == ["You said: hello there"], transcript
reply = transcript["replies"][0]
assert reply["to"] == "+15005550006" and reply["from"] == "+15550100001"
inbound = hits("/sms")[-1]
for name in ["MessageSid", "SmsSid", "SmsMessageSid", "AccountSid", "From", "To", "Body", "NumMedia", "NumSegments", "ApiVersion", "SmsStatus"]:
    assert name in inbound, (name, inbound)
assert inbound["MessageSid"] == sid and inbound["NumSegments"] == "1" and inbound["NumMedia"] == "0"
webhooks = [e for e in transcript["events"] if e["type"] == "webhook"]
assert webhooks[0]["http_status"] == 200 and webhooks[0]["fallback"] is False
stored = client.messages(sid).fetch()
assert stored.direction == "inbound" and stored.status == "received" and stored.body == "hello there"
handset = session.get(f"{URL}/sandbox/Phones/+15005550006/Messages").json()["messages"]
assert handset[-1]["body"] == "You said: hello there"

# 2. Media in and out, multi-message replies, redirects, plain text.
number("+15550100002", f"{APP}/media")
_, transcript = text_in("+15550100002", "pic", media=["https://example.com/dog.jpg"])
assert transcript["replies"][0]["media"] == [f"{APP}/cat.png"], transcript
assert hits("/media")[-1]["MediaUrl0"] == "https://example.com/dog.jpg"
assert hits("/media")[-1]["MediaContentType0"] == "image/jpeg"
number("+15550100003", f"{APP}/multi")
_, transcript = text_in("+15550100003", "x")
assert [r["body"] for r in transcript["replies"]] == ["part 0", "part 1", "part 2"]
number("+15550100004", f"{APP}/redirect")
_, transcript = text_in("+15550100004", "go")
assert [r["body"] for r in transcript["replies"]] == ["You said: go"]
number("+15550100005", f"{APP}/plain")
_, transcript = text_in("+15550100005", "x")
assert [r["body"] for r in transcript["replies"]] == ["plain text reply"]
number("+15550100006", f"{APP}/action-start")
_, transcript = text_in("+15550100006", "x")
assert [r["body"] for r in transcript["replies"]] == ["first", "after queued"], transcript

# 3. Failover: refused, 500, timeout, invalid TwiML, voice-only TwiML -> the fallback's reply.
cases = [
    ("+15550100010", f"http://127.0.0.1:{closed_port()}/sms", "11205"),
    ("+15550100011", f"{APP}/down", "11200"),
    ("+15550100012", f"{APP}/slow#rt=300&tt=400", None),
    ("+15550100013", f"{APP}/invalid", "12100"),
    ("+15550100014", f"{APP}/voice-only", "14110"),
]
for phone, primary, code in cases:
    number(phone, primary, fallback=f"{APP}/fallback?case={phone[1:]}")
    sid, transcript = text_in(phone, "help")
    fallback_hits = [p for p in hits("/fallback") if p.get("case") == phone[1:]]
    assert len(fallback_hits) == 1, (phone, fallback_hits)
    hit = fallback_hits[0]
    if code:
        assert hit["ErrorCode"] == code, (phone, hit)
    assert hit["ErrorUrl"] == primary.split("#")[0], (phone, hit)
    assert hit["Body"] == "help" and hit["MessageSid"] == sid and hit["From"] == "+15005550006"
    assert [r["body"] for r in transcript["replies"]] == [f"fallback reply ({hit['ErrorCode']})"], transcript
    flags = [e["fallback"] for e in transcript["events"] if e["type"] == "webhook"]
    assert flags == [False, True], (phone, transcript["events"])
    alerts = [e for e in transcript["events"] if e["type"] == "alert"]
    assert [str(a["error_code"]) for a in alerts] == [hit["ErrorCode"]], alerts

# A schema warning (12200) is recorded and the document still runs.
number("+15550100015", f"{APP}/warn")
sid, transcript = text_in("+15550100015", "x")
assert [r["body"] for r in transcript["replies"]] == ["still sent"], transcript
warnings = [e for e in transcript["events"] if e["type"] == "alert"]
assert [(w["error_code"], w["level"]) for w in warnings] == [(12200, "warning")], warnings
warning = client.monitor.v1.alerts(warnings[0]["sid"]).fetch()
assert warning.log_level == "warning" and warning.request_url == f"{APP}/warn" and "Bogus" in warning.response_body

# 4. Both failing: no reply, the message stays received, alerts for both.
number("+15550100020", f"{APP}/down", fallback=f"{APP}/invalid")
sid, transcript = text_in("+15550100020", "anyone?")
assert transcript["replies"] == [], transcript
assert client.messages(sid).fetch().status == "received"
assert sorted(str(e["error_code"]) for e in transcript["events"] if e["type"] == "alert") == ["11200", "12100"]
alerts = client.monitor.v1.alerts.list(log_level="error")
mine = [a for a in alerts if a.resource_sid == sid]
assert sorted(a.error_code for a in mine) == ["11200", "12100"], [(a.error_code, a.resource_sid) for a in alerts]
detail = client.monitor.v1.alerts(mine[0].sid).fetch()
assert "anyone" in urllib.parse.unquote_plus(detail.request_variables)
assert "ErrorCode=" in detail.alert_text

# 5. REST: send, status callbacks in order, failure statuses, list filters, redact, delete, media.
sender = "+15550100001"
sent = client.messages.create(to="+15557770001", from_=sender, body="REST hello", status_callback=f"{APP}/status")
assert sent.status == "queued" and sent.direction == "outbound-api" and sent.num_segments == "1"
deadline = time.time() + 10
while time.time() < deadline and client.messages(sent.sid).fetch().status != "delivered":
    time.sleep(0.05)
assert client.messages(sent.sid).fetch().status == "delivered"
statuses = [p["MessageStatus"] for p in hits("/status") if p.get("MessageSid") == sent.sid]
assert statuses == ["sending", "sent", "delivered"], statuses
session.post(f"{URL}/sandbox/Phones/+15557770002", data={"Deliver": "undelivered"}).raise_for_status()
lost = client.messages.create(to="+15557770002", from_=sender, body="lost", status_callback=f"{APP}/status")
deadline = time.time() + 10
while time.time() < deadline and client.messages(lost.sid).fetch().status != "undelivered":
    time.sleep(0.05)
final = client.messages(lost.sid).fetch()
assert final.status == "undelivered" and final.error_code == 30003, (final.status, final.error_code)
last = [p for p in hits("/status") if p.get("MessageSid") == lost.sid][-1]
assert last["MessageStatus"] == "undelivered" and last["ErrorCode"] == "30003"
mms = client.messages.create(to="+15557770001", from_=sender, media_url=["https://example.com/a.png", "https://example.com/b.gif"])
assert mms.sid.startswith("MM") and mms.num_media == "2"
assert sorted(m.content_type for m in client.messages(mms.sid).media.list()) == ["image/gif", "image/png"]
long_body = "ж" * 71
assert client.messages.create(to="+15557770001", from_=sender, body=long_body).num_segments == "2"
assert [m.sid for m in client.messages.list(to="+15557770002")] == [lost.sid]
assert client.messages(sent.sid).update(body="").body == ""
assert client.messages(sent.sid).delete() is True


def expect(code, action):
    try:
        action()
    except TwilioRestException as error:
        assert error.code == code, (code, error.code, error.msg)
        return
    raise AssertionError(f"expected {code}")


expect(21604, lambda: client.messages.create(to="", from_=sender, body="x"))
expect(21603, lambda: client.messages.create(to="+15557770001", from_="", body="x"))
expect(21602, lambda: client.messages.create(to="+15557770001", from_=sender))
expect(21617, lambda: client.messages.create(to="+15557770001", from_=sender, body="x" * 1601))
expect(21623, lambda: client.messages.create(to="+15557770001", from_=sender, body="x", media_url=[f"https://e.com/{n}.png" for n in range(11)]))
expect(21606, lambda: client.messages.create(to="+15557770001", from_="+15559999999", body="x"))

# Cookies are kept per (From, To) conversation.
number("+15550100030", f"{APP}/cookie")
text_in("+15550100030", "first")
text_in("+15550100030", "second")
text_in("+15550100030", "other sender", sender="+15005550009")
seen = app.headers("/cookie", "Cookie")
assert seen == [None, "visits=first", None], seen

# A handset that refuses: the message fails with an error code.
session.post(f"{URL}/sandbox/Phones/+15557770003", data={"Deliver": "fail"}).raise_for_status()
refused = client.messages.create(to="+15557770003", from_=sender, body="nope")
deadline = time.time() + 10
while time.time() < deadline and client.messages(refused.sid).fetch().status != "failed":
    time.sleep(0.05)
assert client.messages(refused.sid).fetch().error_code == 30008

# 2010 Notifications show the same alerts; the debugger webhook receives Debug Events, signed.
notes = [n for n in client.notifications.list() if n.error_code in ("11200", "12100")]
assert len(notes) >= 2 and all(n.log == "0" for n in notes), [(n.error_code, n.log) for n in notes]
client.api.accounts(SID).update(friendly_name="with debugger")
answer = session.post(f"{URL}/2010-04-01/Accounts/{SID}.json", data={"DebuggerWebhookUrl": f"{APP}/debugger"})
assert answer.status_code == 200, answer.text
number("+15550100040", f"{APP}/down")
sid, _ = text_in("+15550100040", "debug me")
deadline = time.time() + 10
while time.time() < deadline and not hits("/debugger"):
    time.sleep(0.05)
event = hits("/debugger")[-1]
import json
payload = json.loads(event["Payload"])
assert event["AccountSid"] == SID and event["Level"] == "ERROR" and event["Sid"].startswith("NO"), event
assert payload["error_code"] == "11200" and payload["resource_sid"] == sid, payload
assert payload["webhook"]["request"]["parameters"]["Body"] == "debug me"

# Every webhook the engine sent carried a valid X-Twilio-Signature.
assert not app.unsigned(), app.unsigned()
assert len(app.received()) > 20
print(f"messaging: all checks passed ({len(app.received())} signed webhooks validated)")
