"""The rest of the account's REST surface through the official twilio-python package:
verified caller IDs (a validation request, its call answered by a sandbox handset that types the
code, the caller ID listed, renamed, called from and deleted), usage records and the balance,
and a live call's status callback and time limit changed by an update.

Run by crates/switchboard-cli/tests/it/compat.rs with SWITCHBOARD_URL, SID and TOKEN set.
"""
import os
import time

import requests
from customer_app import CustomerApp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

URL, SID, TOKEN = os.environ["SWITCHBOARD_URL"], os.environ["SID"], os.environ["TOKEN"]
NUMBER, OWN_PHONE, HANDSET = "+15550500001", "+15558890001", "+15558890002"


app = CustomerApp(TOKEN)
APP = app.url

client = Client(SID, TOKEN)
client.api.base_url = URL
session = requests.Session()
session.auth = (SID, TOKEN)


def hits(path):
    return app.hits(path)


def eventually(check, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def wait(sid):
    done = session.get(f"{URL}/sandbox/Calls/{sid}", params={"WaitFor": "completed", "Timeout": "30"})
    assert done.status_code == 200, done.text
    return done.json()


client.incoming_phone_numbers.create(phone_number=NUMBER)

# 1. Verified caller IDs.
request = client.validation_requests.create(
    phone_number=OWN_PHONE, friendly_name="My cell", status_callback=f"{APP}/verified"
)
assert len(request.validation_code) == 6 and request.validation_code.isdigit(), request.validation_code
assert request.phone_number == OWN_PHONE and request.call_sid.startswith("CA"), request.call_sid
assert eventually(lambda: client.calls(request.call_sid).fetch().status == "in-progress")
typed = session.post(f"{URL}/sandbox/Calls/{request.call_sid}/Digits", data={"Digits": request.validation_code})
assert typed.status_code == 200, typed.text
assert wait(request.call_sid)["status"] == "completed"
assert eventually(lambda: hits("/verified")), "the verification's status callback"
outcome, signed = hits("/verified")[0]
assert signed, "the verification callback is signed"
assert outcome["VerificationStatus"] == "success" and outcome["CallSid"] == request.call_sid, outcome
caller_ids = client.outgoing_caller_ids.list(phone_number=OWN_PHONE)
assert [c.sid for c in caller_ids] == [outcome["OutgoingCallerIdSid"]], caller_ids
assert caller_ids[0].friendly_name == "My cell"
renamed = client.outgoing_caller_ids(caller_ids[0].sid).update(friendly_name="Personal")
assert renamed.friendly_name == "Personal"
assert client.outgoing_caller_ids(caller_ids[0].sid).fetch().phone_number == OWN_PHONE
placed = client.calls.create(to=HANDSET, from_=OWN_PHONE, twiml="<Response><Say>Hi</Say></Response>")
assert placed._from == OWN_PHONE
assert wait(placed.sid)["status"] == "completed"
try:
    client.validation_requests.create(phone_number=OWN_PHONE)
    raise AssertionError("verifying a verified number again must fail")
except TwilioRestException as error:
    assert error.status == 400 and error.code == 21450, (error.status, error.code)
assert client.outgoing_caller_ids(caller_ids[0].sid).delete()
try:
    client.calls.create(to=HANDSET, from_=OWN_PHONE, twiml="<Response><Say>Hi</Say></Response>")
    raise AssertionError("a deleted caller ID is no longer a From")
except TwilioRestException as error:
    assert error.status == 400 and error.code == 21210, (error.status, error.code)

# 2. A live call's status callback and time limit, changed by an update.
hold = VoiceResponse()
hold.say("Please hold")
hold.pause(length=60)
parked = client.calls.create(
    to=HANDSET, from_=NUMBER, twiml=str(hold),
    status_callback=f"{APP}/first", status_callback_event=["answered", "completed"],
)
assert eventually(lambda: client.calls(parked.sid).fetch().status == "in-progress")
started = time.time()
client.calls(parked.sid).update(status_callback=f"{APP}/second", status_callback_method="POST", time_limit=2)
assert wait(parked.sid)["status"] == "completed"
assert time.time() - started < 10, "the time limit ended the call"
assert eventually(lambda: hits("/second"))
assert [p["CallStatus"] for p, _ in hits("/first")] == ["in-progress"], hits("/first")
assert [p["CallStatus"] for p, _ in hits("/second")] == ["completed"], hits("/second")

# 3. Usage and balance: three completed calls so far (the verification call, the call from the
# caller ID and the parked one), all today.
calls = client.usage.records.list(category="calls")
assert len(calls) == 1 and calls[0].count == "3" and calls[0].count_unit == "calls", calls
# Each call bills its started minutes: the "Hi" call may end within its first second (0).
assert calls[0].usage_unit == "minutes" and int(calls[0].usage) in (2, 3), calls[0].usage
today = client.usage.records.today.list(category="calls-outbound")
assert [r.count for r in today] == ["3"], today
daily = client.usage.records.daily.list(category="calls", start_date="-1days")
assert [r.count for r in daily] == ["0", "3"], [(r.start_date, r.count) for r in daily]
assert all(r.price == 0 for r in client.usage.records.this_month.list())
assert client.usage.records.last_month.list(category="sms")[0].count == "0"
balance = client.api.v2010.account.balance.fetch()
assert balance.balance == "0.00" and balance.currency == "USD" and balance.account_sid == SID

print("all checks passed")
