"""Messaging Services and scheduled messages with the official twilio-python package: the REST
client (`client.messaging.v1.services`, `client.messages` with `messaging_service_sid`,
`schedule_type`, `send_at`) pointed at the engine, and the customer's app (MessagingResponse,
RequestValidator) answering the service's inbound URLs; the engine's sandbox plays the handsets.

Run by crates/switchboard-cli/tests/it/compat.rs with SWITCHBOARD_URL, SID and TOKEN set, on an
engine started with `--schedule-min-ahead 1`.
"""
import os
import time
from datetime import datetime, timedelta, timezone

import requests
from customer_app import CustomerApp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

URL, SID, TOKEN = os.environ["SWITCHBOARD_URL"], os.environ["SID"], os.environ["TOKEN"]


def reply_for(path, params):
    response = MessagingResponse()
    if path == "/service-in":
        response.message(f"service got: {params.get('Body', '')}")
    elif path == "/service-fallback":
        response.message(f"service fallback ({params.get('ErrorCode')})")
    elif path == "/own":
        response.message("the number's own URL")
    elif path == "/down":
        return 500, "text/html", "<h1>boom</h1>"
    elif path in ("/service-status", "/own-status"):
        return 204, "text/plain", ""
    return 200, "application/xml", str(response)


app = CustomerApp(TOKEN, reply_for)
APP = app.url

client = Client(SID, TOKEN)
client.api.base_url = URL
client.messaging.base_url = URL
client.monitor.base_url = URL
session = requests.Session()
session.auth = (SID, TOKEN)


def hits(path):
    return [params for params, _ in app.hits(path)]


def expect(code, action):
    try:
        action()
    except TwilioRestException as error:
        assert error.code == code, (code, error.code, error.msg)
        return
    raise AssertionError(f"expected {code}")


def wait_for_status(sid, status, limit=15):
    deadline = time.time() + limit
    while time.time() < deadline:
        message = client.messages(sid).fetch()
        if message.status == status:
            return message
        time.sleep(0.05)
    raise AssertionError(f"{sid} is {client.messages(sid).fetch().status}, not {status}")


def text_in(to, body, sender="+15005550006"):
    answer = session.post(f"{URL}/sandbox/Messages", data={"To": to, "From": sender, "Body": body})
    assert answer.status_code == 201, answer.text
    sid = answer.json()["message_sid"]
    done = session.get(f"{URL}/sandbox/Messages/{sid}", params={"WaitFor": "done", "Timeout": "20"})
    assert done.status_code == 200, done.text
    return sid, done.json()


# 1. A service, and a pool of two numbers whose own SMS URL is something else.
services = client.messaging.v1.services
service = services.create(
    friendly_name="Appointments",
    inbound_request_url=f"{APP}/service-in",
    fallback_url=f"{APP}/service-fallback",
    status_callback=f"{APP}/service-status",
    use_inbound_webhook_on_number=False,
)
assert service.sid.startswith("MG") and service.friendly_name == "Appointments", service.sid
assert service.inbound_method == "POST" and service.use_inbound_webhook_on_number is False
assert service.url == f"{URL}/v1/Services/{service.sid}"
assert service.links["phone_numbers"] == f"{URL}/v1/Services/{service.sid}/PhoneNumbers"
assert isinstance(service.date_created, datetime), service.date_created
numbers = [
    client.incoming_phone_numbers.create(phone_number=phone, sms_url=f"{APP}/own")
    for phone in ("+15550190001", "+15550190002")
]
pool = services(service.sid).phone_numbers
for number in numbers:
    added = pool.create(phone_number_sid=number.sid)
    assert added.sid == number.sid and added.service_sid == service.sid, added.sid
    assert added.phone_number == number.phone_number
assert sorted(n.phone_number for n in pool.list()) == ["+15550190001", "+15550190002"]
assert pool(numbers[0].sid).fetch().phone_number == "+15550190001"
expect(21710, lambda: pool.create(phone_number_sid=numbers[0].sid))
other = services.create(friendly_name="Other", validity_period=600)
# A parameter stored and not acted on is named by a warning alert about the service.
warnings = [a for a in client.monitor.v1.alerts.list(log_level="warning") if a.resource_sid == other.sid]
assert [a.error_code for a in warnings] == ["99001"], [(a.error_code, a.resource_sid) for a in warnings]
assert "ValidityPeriod" in client.monitor.v1.alerts(warnings[0].sid).fetch().alert_text
assert services(other.sid).fetch().validity_period == 600
expect(20422, lambda: services.create(friendly_name="Bad", validity_period=0))
expect(20001, lambda: services.create(friendly_name=""))
expect(30122, lambda: services.create(friendly_name="Bad", fallback_url="not a url"))
expect(21712, lambda: services(other.sid).phone_numbers.create(phone_number_sid=numbers[0].sid))
assert {s.sid for s in services.list()} == {service.sid, other.sid}
assert services(service.sid).fetch().friendly_name == "Appointments"

# 2. Sending through the service: the sender comes from the pool (the same one for the same
# recipient), and the service's status callback gets the statuses.
pool_numbers = {n.phone_number for n in numbers}
first = client.messages.create(to="+15557780001", messaging_service_sid=service.sid, body="reminder")
assert first.from_ in pool_numbers and first.messaging_service_sid == service.sid, (first.from_, first.messaging_service_sid)
again = client.messages.create(to="+15557780001", messaging_service_sid=service.sid, body="again")
assert again.from_ == first.from_
wait_for_status(first.sid, "delivered")
deadline = time.time() + 10
while time.time() < deadline and len([p for p in hits("/service-status") if p["MessageSid"] == first.sid]) < 3:
    time.sleep(0.05)
statuses = [p["MessageStatus"] for p in hits("/service-status") if p["MessageSid"] == first.sid]
assert statuses == ["sending", "sent", "delivered"], statuses
# A From of the pool is kept; a message's own callback wins over the service's.
own = client.messages.create(
    to="+15557780002", from_="+15550190002", messaging_service_sid=service.sid, body="x",
    status_callback=f"{APP}/own-status",
)
assert own.from_ == "+15550190002" and own.messaging_service_sid == service.sid
wait_for_status(own.sid, "delivered")
assert not [p for p in hits("/service-status") if p["MessageSid"] == own.sid]
expect(21701, lambda: client.messages.create(to="+15557780001", messaging_service_sid="MG" + "0" * 32, body="x"))
expect(21704, lambda: client.messages.create(to="+15557780001", messaging_service_sid=other.sid, body="x"))

# 3. Scheduling: refused without a service or outside the window; one canceled, one sent.
later = datetime.now(timezone.utc) + timedelta(hours=1)
expect(35118, lambda: client.messages.create(to="+15557780001", from_="+15550190001", body="x", schedule_type="fixed", send_at=later))
expect(35114, lambda: client.messages.create(
    to="+15557780001", messaging_service_sid=service.sid, body="x", schedule_type="fixed",
    send_at=datetime.now(timezone.utc) + timedelta(days=36),
))
expect(35111, lambda: client.messages.create(to="+15557780001", messaging_service_sid=service.sid, body="x", schedule_type="fixed"))
canceled = client.messages.create(
    to="+15557780003", messaging_service_sid=service.sid, body="never", schedule_type="fixed", send_at=later,
)
assert canceled.status == "scheduled" and canceled.date_sent is None, canceled.status
assert client.messages(canceled.sid).update(status="canceled").status == "canceled"
assert client.messages(canceled.sid).fetch().status == "canceled"
expect(20422, lambda: client.messages(canceled.sid).update(status="canceled"))
expect(20422, lambda: client.messages(first.sid).update(status="canceled"))
deadline = time.time() + 10
while time.time() < deadline and not [p for p in hits("/service-status") if p["MessageSid"] == canceled.sid]:
    time.sleep(0.05)
assert [p["MessageStatus"] for p in hits("/service-status") if p["MessageSid"] == canceled.sid] == ["canceled"]
send_at = (datetime.now(timezone.utc) + timedelta(seconds=3)).replace(microsecond=0)
scheduled = client.messages.create(
    to="+15557780004", messaging_service_sid=service.sid, body="on time", schedule_type="fixed", send_at=send_at,
)
assert scheduled.status == "scheduled", scheduled.status
assert client.messages(scheduled.sid).fetch().status == "scheduled"
delivered = wait_for_status(scheduled.sid, "delivered")
assert delivered.date_sent >= send_at, (delivered.date_sent, send_at)
assert delivered.date_sent <= send_at + timedelta(seconds=3), (delivered.date_sent, send_at)
handset = session.get(f"{URL}/sandbox/Phones/+15557780004/Messages").json()["messages"]
assert [m["body"] for m in handset] == ["on time"], handset
assert client.messages(canceled.sid).fetch().status == "canceled"
assert not session.get(f"{URL}/sandbox/Phones/+15557780003/Messages").json()["messages"]

# 4. Inbound to a pool number: the service's URL answers; when it fails, its fallback does;
# with UseInboundWebhookOnNumber the number's own URL is used again.
sid, transcript = text_in("+15550190001", "hello service")
assert [r["body"] for r in transcript["replies"]] == ["service got: hello service"], transcript
hit = hits("/service-in")[-1]
assert hit["MessagingServiceSid"] == service.sid and hit["MessageSid"] == sid and hit["To"] == "+15550190001"
assert client.messages(sid).fetch().messaging_service_sid == service.sid
assert not hits("/own")
services(service.sid).update(inbound_request_url=f"{APP}/down")
sid, transcript = text_in("+15550190001", "help")
assert [r["body"] for r in transcript["replies"]] == ["service fallback (11200)"], transcript
fallback = hits("/service-fallback")[-1]
assert fallback["ErrorUrl"] == f"{APP}/down" and fallback["MessageSid"] == sid
assert services(service.sid).update(use_inbound_webhook_on_number=True).use_inbound_webhook_on_number is True
_, transcript = text_in("+15550190001", "own")
assert [r["body"] for r in transcript["replies"]] == ["the number's own URL"], transcript

# 5. Removing a number and deleting services.
assert pool(numbers[1].sid).delete() is True
assert [n.sid for n in pool.list()] == [numbers[0].sid]
expect(20404, lambda: pool(numbers[1].sid).fetch())
assert services(other.sid).delete() is True
expect(20404, lambda: services(other.sid).fetch())
assert services(service.sid).delete() is True
expect(20404, lambda: services(service.sid).fetch())
expect(21701, lambda: client.messages.create(to="+15557780001", messaging_service_sid=service.sid, body="x"))

assert not app.unsigned(), app.unsigned()
print(f"messaging_services: all checks passed ({len(app.received())} signed webhooks validated)")
