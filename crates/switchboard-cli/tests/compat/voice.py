"""Voice end to end: the official twilio-python package is the customer's IVR (VoiceResponse,
RequestValidator on every webhook) and the REST client (outbound call, status callbacks,
recordings, live-call updates); the engine's sandbox plays the handsets.

Run by crates/switchboard-cli/tests/it/compat.rs with SWITCHBOARD_URL, SID and TOKEN set.
"""
import os
import time

import requests
from customer_app import CustomerApp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

URL, SID, TOKEN = os.environ["SWITCHBOARD_URL"], os.environ["SID"], os.environ["TOKEN"]
CALLER, CALLEE, HANDSET = "+15550400001", "+15550400002", "+15558880001"


def reply_for(path, params):
    """The customer's IVR: what each path answers, as (status, content type, body)."""
    response = VoiceResponse()
    if path == "/ivr":
        gather = Gather(num_digits=1, action="/menu", timeout=3)
        gather.say("Press 1 for sales, 2 to leave a message.")
        response.append(gather)
        response.say("We did not hear you.")
    elif path == "/menu":
        if params.get("Digits") == "2":
            response.say("Leave a message after the beep.")
            response.record(action="/recorded", timeout=1, max_length=10, play_beep=True)
        else:
            response.say("Sales is closed.")
    elif path == "/recorded":
        dial = Dial(action="/dialed", timeout=10)
        dial.number(CALLEE)
        response.append(dial)
    elif path == "/dialed":
        response.say(f"Your call to sales ended {params.get('DialCallStatus')}. Goodbye.")
        response.hangup()
    elif path == "/callee":
        response.say("Sales here, thanks for calling.")
    elif path == "/down":
        return 500, "text/html", "<h1>down</h1>"
    elif path == "/fallback":
        response.say(f"Backup line, error {params.get('ErrorCode')}.")
    elif path == "/hold":
        response.pause(length=20)
    elif path == "/updated":
        response.say("You were moved.")
    elif path == "/status":
        return 204, "text/plain", ""
    return 200, "application/xml", str(response)


app = CustomerApp(TOKEN, reply_for)
APP = app.url

client = Client(SID, TOKEN)
client.api.base_url = URL
session = requests.Session()
session.auth = (SID, TOKEN)


def hits(path):
    return [params for params, _ in app.hits(path)]


def wait(sid):
    done = session.get(f"{URL}/sandbox/Calls/{sid}", params={"WaitFor": "completed", "Timeout": "30"})
    assert done.status_code == 200, done.text
    return done.json()


def kinds(transcript, kind):
    return [e for e in transcript["events"] if e["type"] == kind]


client.incoming_phone_numbers.create(phone_number=CALLER, voice_url=f"{APP}/ivr")
client.incoming_phone_numbers.create(phone_number=CALLEE, voice_url=f"{APP}/callee")
answer = session.post(f"{URL}/sandbox/Phones/{HANDSET}", data={"Answer": "answer", "Digits": "2"})
assert answer.status_code == 200, answer.text

# 1. The IVR: outbound call -> Gather (the handset presses 2) -> Record -> Dial an engine number.
call = client.calls.create(
    to=HANDSET,
    from_=CALLER,
    url=f"{APP}/ivr",
    status_callback=f"{APP}/status",
    status_callback_event=["initiated", "ringing", "answered", "completed"],
    status_callback_method="POST",
)
assert call.status == "queued" and call.direction == "outbound-api", call.status
talk = session.post(f"{URL}/sandbox/Calls/{call.sid}/Audio", data={"Seconds": "2"})
assert talk.status_code == 200, talk.text
transcript = wait(call.sid)
assert transcript["status"] == "completed", transcript
assert kinds(transcript, "gather_result")[0]["digits"] == "2"
assert kinds(transcript, "record_result")[0]["duration"] == 2, transcript
dial_result = kinds(transcript, "dial_result")[0]
assert dial_result["dial_call_status"] == "completed", dial_result
says = [e["text"] for e in kinds(transcript, "say")]
assert says[-1] == "Your call to sales ended completed. Goodbye.", says
assert hits("/menu")[-1]["Digits"] == "2"
recorded = hits("/recorded")[-1]
assert recorded["RecordingDuration"] == "2" and recorded["RecordingSid"].startswith("RE"), recorded
wav = requests.get(recorded["RecordingUrl"] + ".wav")
assert wav.status_code == 200 and wav.content[:4] == b"RIFF", wav.status_code
dialed = hits("/dialed")[-1]
assert dialed["DialCallStatus"] == "completed" and dialed["DialCallSid"] == dial_result["dial_call_sid"]
callee = hits("/callee")[-1]
assert callee["Direction"] == "outbound-dial" and callee["ParentCallSid"] == call.sid, callee

fetched = client.calls(call.sid).fetch()
assert fetched.status == "completed" and fetched.to == HANDSET and fetched._from == CALLER
assert fetched.end_time is not None and fetched.duration is not None
recordings = client.recordings.list(call_sid=call.sid)
assert [r.sid for r in recordings] == [recorded["RecordingSid"]], recordings
assert client.calls(call.sid).recordings.list()[0].duration == "2"
children = client.calls.list(parent_call_sid=call.sid)
assert [c.sid for c in children] == [dial_result["dial_call_sid"]], children
assert any(c.sid == call.sid for c in client.calls.list(to=HANDSET, status="completed"))

# Status callbacks: every event, SequenceNumber increasing from 0 (ordered by it, not arrival).
for _ in range(50):
    if len(hits("/status")) >= 4:
        break
    time.sleep(0.1)
callbacks = sorted(hits("/status"), key=lambda p: int(p["SequenceNumber"]))
assert [p["CallStatus"] for p in callbacks] == ["initiated", "ringing", "in-progress", "completed"], callbacks
assert [p["SequenceNumber"] for p in callbacks] == ["0", "1", "2", "3"]
assert all(p["CallbackSource"] == "call-progress-events" and p["CallSid"] == call.sid for p in callbacks)
assert "CallDuration" in callbacks[-1] and "Timestamp" in callbacks[-1]

# A finished call cannot be redirected.
try:
    client.calls(call.sid).update(url=f"{APP}/updated")
    raise AssertionError("updating a finished call must fail")
except TwilioRestException as error:
    assert error.status == 400 and error.code == 21220, (error.status, error.code)

# 2. Fallback: the primary answers 500, the fallback (signed, with ErrorCode) carries the call.
failing = client.calls.create(to=HANDSET, from_=CALLER, url=f"{APP}/down", fallback_url=f"{APP}/fallback")
transcript = wait(failing.sid)
assert transcript["status"] == "completed"
assert [e["text"] for e in kinds(transcript, "say")] == ["Backup line, error 11200."], transcript
fallback = hits("/fallback")[-1]
assert fallback["ErrorCode"] == "11200" and fallback["ErrorUrl"] == f"{APP}/down"
assert fallback["CallSid"] == failing.sid and fallback["Direction"] == "outbound-api"

# 3. Live-call updates: redirect a parked call with Url, hang another up with Status.
session.post(f"{URL}/sandbox/Phones/{HANDSET}", data={"Digits": ""})
hold = VoiceResponse()
hold.pause(length=20)
parked = client.calls.create(to=HANDSET, from_=CALLER, twiml=str(hold))
for _ in range(100):
    if client.calls(parked.sid).fetch().status == "in-progress":
        break
    time.sleep(0.05)
client.calls(parked.sid).update(url=f"{APP}/updated", method="POST")
transcript = wait(parked.sid)
assert [e["text"] for e in kinds(transcript, "say")] == ["You were moved."], transcript
ended = client.calls.create(to=HANDSET, from_=CALLER, url=f"{APP}/hold")
for _ in range(100):
    if client.calls(ended.sid).fetch().status == "in-progress":
        break
    time.sleep(0.05)
updated = client.calls(ended.sid).update(status="completed")
assert updated.status == "completed", updated.status
assert kinds(wait(ended.sid), "hangup")[0]["by"] == "api"

# Every webhook the engine sent was signed correctly.
assert not app.unsigned(), app.unsigned()
print("all checks passed")
