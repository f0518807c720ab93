"""Answering-machine detection with the official twilio-python package: the REST client places
calls with machine_detection (synchronous, and async_amd with its callback), the customer's app
branches on AnsweredBy with VoiceResponse and checks every request with RequestValidator, and
call.answered_by is read back with fetch(). The engine's sandbox handsets play a person, an
answering machine and a fax.

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
CALLER = "+15550900001"
PERSON, MACHINE, FAX = "+15558900001", "+15558900002", "+15558900003"


def reply_for(path, params):
    """The customer's dialer: a person hears the agent prompt, a machine gets a voicemail."""
    response = VoiceResponse()
    if path == "/outbound":
        if params.get("AnsweredBy", "").startswith("machine_end"):
            response.say("Hi, this is a reminder about your appointment tomorrow.")
        elif params.get("AnsweredBy") == "human":
            response.say("Please hold for an agent.")
        else:
            response.pause(length=1)
        response.hangup()
    elif path in ("/amd", "/status"):
        return 204, "text/plain", ""
    return 200, "application/xml", str(response)


app = CustomerApp(TOKEN, reply_for)
APP = app.url

client = Client(SID, TOKEN)
client.api.base_url = URL
session = requests.Session()
session.auth = (SID, TOKEN)


def hits(path, sid):
    return [(params, valid) for params, valid in app.hits(path) if params.get("CallSid") == sid]


def wait(sid):
    done = session.get(f"{URL}/sandbox/Calls/{sid}", params={"WaitFor": "completed", "Timeout": "30"})
    assert done.status_code == 200, done.text
    return done.json()


def says(transcript):
    return [e["text"] for e in transcript["events"] if e["type"] == "say"]


client.incoming_phone_numbers.create(phone_number=CALLER, voice_url=f"{APP}/outbound")
for number, answered_by in [(MACHINE, "machine_end_beep"), (FAX, "fax")]:
    setting = session.post(f"{URL}/sandbox/Phones/{number}", data={"AnsweredBy": answered_by})
    assert setting.status_code == 200 and setting.json()["answered_by"] == answered_by, setting.text

# 1. Synchronous: the first webhook waits for the verdict and carries it; the app branches on it.
person = client.calls.create(to=PERSON, from_=CALLER, url=f"{APP}/outbound", machine_detection="Enable")
machine = client.calls.create(
    to=MACHINE,
    from_=CALLER,
    url=f"{APP}/outbound",
    machine_detection="DetectMessageEnd",
    machine_detection_timeout=45,
    machine_detection_speech_threshold=2400,
    machine_detection_speech_end_threshold=1200,
    machine_detection_silence_timeout=5000,
    status_callback=f"{APP}/status",
)
assert person.answered_by is None and machine.answered_by is None
assert says(wait(person.sid)) == ["Please hold for an agent."]
assert says(wait(machine.sid)) == ["Hi, this is a reminder about your appointment tomorrow."]
(first, valid), = hits("/outbound", person.sid)
assert valid and first["AnsweredBy"] == "human" and first["CallStatus"] == "in-progress", first
assert int(first["MachineDetectionDuration"]) > 0, first
(first, valid), = hits("/outbound", machine.sid)
assert valid and first["AnsweredBy"] == "machine_end_beep", first
assert int(first["MachineDetectionDuration"]) >= 5000, first
assert client.calls(person.sid).fetch().answered_by == "human"
assert client.calls(machine.sid).fetch().answered_by == "machine_end_beep"
for _ in range(50):
    if hits("/status", machine.sid):
        break
    time.sleep(0.1)
(completed, valid), = hits("/status", machine.sid)
assert valid and completed["CallStatus"] == "completed" and completed["AnsweredBy"] == "machine_end_beep"

# 2. Async: the TwiML runs at once; the verdict goes, signed, to the AMD callback.
fax = client.calls.create(
    to=FAX,
    from_=CALLER,
    url=f"{APP}/outbound",
    machine_detection="Enable",
    async_amd="true",
    async_amd_status_callback=f"{APP}/amd",
    async_amd_status_callback_method="POST",
)
wait(fax.sid)
(first, _), = hits("/outbound", fax.sid)
assert "AnsweredBy" not in first, first
for _ in range(50):
    if hits("/amd", fax.sid):
        break
    time.sleep(0.1)
(verdict, valid), = hits("/amd", fax.sid)
assert valid, "the AMD callback is signed"
assert verdict == {
    "AccountSid": SID,
    "CallSid": fax.sid,
    "AnsweredBy": "fax",
    "MachineDetectionDuration": verdict["MachineDetectionDuration"],
}, verdict
assert client.calls(fax.sid).fetch().answered_by == "fax"

# 3. A misspelt mode is refused with Twilio's error body; nothing is placed.
before = len(client.calls.list())
try:
    client.calls.create(to=PERSON, from_=CALLER, url=f"{APP}/outbound", machine_detection="Bogus")
    raise AssertionError("MachineDetection=Bogus must be refused")
except TwilioRestException as error:
    assert error.status == 400 and error.code == 20422, (error.status, error.code)
assert len(client.calls.list()) == before

print("all checks passed")
