"""Mid-call recordings with the official twilio-python package: client.calls(sid).recordings
.create / .update(status=...) / .fetch() / .delete(), Twilio.CURRENT, Record and
RecordingStatusCallback on client.calls.create, recording status callbacks checked with
RequestValidator, and the recording as WAV and MP3.

Run by crates/switchboard-cli/tests/it/compat.rs with SWITCHBOARD_URL, SID and TOKEN set.
"""
import os
import time

import requests
from customer_app import CustomerApp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

URL, SID, TOKEN = os.environ["SWITCHBOARD_URL"], os.environ["SID"], os.environ["TOKEN"]
NUMBER, HANDSET = "+15550420001", "+15558880042"


def reply_for(path, params):
    if path == "/hold":
        return 200, "application/xml", '<Response><Pause length="20"/></Response>'
    return 204, "application/xml", ""


app = CustomerApp(TOKEN, reply_for)
APP = app.url

client = Client(SID, TOKEN)
client.api.base_url = URL
session = requests.Session()
session.auth = (SID, TOKEN)


def hits(path, count, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = app.hits(path)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{path}: {len(found)} requests, wanted {count}")


def answered(sid):
    for _ in range(200):
        if client.calls(sid).fetch().status == "in-progress":
            return
        time.sleep(0.05)
    raise AssertionError("the call was not answered")


client.incoming_phone_numbers.create(phone_number=NUMBER, voice_url=f"{APP}/hold")

# 1. A recording started mid-call, paused (skip), resumed and stopped.
call = client.calls.create(
    to=HANDSET,
    from_=NUMBER,
    url=f"{APP}/hold",
    record=True,
    trim="do-not-trim",
    recording_status_callback=f"{APP}/whole",
    recording_status_callback_event=["in-progress", "completed"],
)
answered(call.sid)
recording = client.calls(call.sid).recordings.create(
    recording_status_callback=f"{APP}/rec",
    recording_status_callback_event=["in-progress", "completed"],
    recording_channels="mono",
    recording_track="both",
)
assert recording.status == "in-progress" and recording.sid.startswith("RE"), recording.status
assert recording.call_sid == call.sid and recording.source == "StartCallRecordingAPI", recording.source
assert recording.channels == 1 and recording.track == "both"
talk = session.post(f"{URL}/sandbox/Calls/{call.sid}/Audio", data={"Seconds": "1"})
assert talk.status_code == 200, talk.text
time.sleep(1.0)
paused = client.calls(call.sid).recordings("Twilio.CURRENT").update(status="paused", pause_behavior="skip")
assert paused.status == "paused" and paused.sid == recording.sid, paused.status
time.sleep(1.0)
resumed = client.calls(call.sid).recordings(recording.sid).update(status="in-progress")
assert resumed.status == "in-progress"
time.sleep(1.0)
stopped = client.calls(call.sid).recordings(recording.sid).update(status="stopped")
assert stopped.status == "stopped"
fetched = client.calls(call.sid).recordings(recording.sid).fetch()
assert fetched.status == "completed" and fetched.duration == "2", (fetched.status, fetched.duration)
assert client.recordings(recording.sid).fetch().duration == "2"

callbacks = hits("/rec", 2)
assert all(valid for _, valid in callbacks), "recording callbacks are signed"
assert [p["RecordingStatus"] for p, _ in callbacks] == ["in-progress", "completed"], callbacks
done = callbacks[1][0]
assert done["RecordingSid"] == recording.sid and done["RecordingDuration"] == "2", done
assert done["RecordingSource"] == "StartCallRecordingAPI" and done["AccountSid"] == SID, done

wav = requests.get(done["RecordingUrl"] + ".wav")
assert wav.status_code == 200 and wav.content[:4] == b"RIFF", wav.status_code
mp3 = requests.get(done["RecordingUrl"] + ".mp3")
assert mp3.status_code == 200 and mp3.headers["Content-Type"] == "audio/mpeg", mp3.status_code
assert mp3.content[0] == 0xFF and mp3.content[1] & 0xE0 == 0xE0, mp3.content[:4]

# A stopped recording cannot be paused; a bad status is refused with Twilio's 400.
for status in ["paused", "bogus"]:
    try:
        client.calls(call.sid).recordings(recording.sid).update(status=status)
        raise AssertionError(f"status={status} on a stopped recording must fail")
    except TwilioRestException as error:
        assert error.status == 400 and error.code == 20422, (error.status, error.code)

# 2. A second recording, deleted while it runs: it is gone, and nothing is called back.
dropped = client.calls(call.sid).recordings.create(recording_status_callback=f"{APP}/dropped")
assert client.calls(call.sid).recordings(dropped.sid).delete() is True
try:
    client.calls(call.sid).recordings(dropped.sid).fetch()
    raise AssertionError("a deleted recording must be gone")
except TwilioRestException as error:
    assert error.status == 404, error.status

# 3. The call ends: the Record=true recording is completed and announced; nothing more records.
client.calls(call.sid).update(status="completed")
whole = hits("/whole", 2)
assert all(valid for _, valid in whole)
assert [p["RecordingStatus"] for p, _ in whole] == ["in-progress", "completed"], whole
assert whole[1][0]["RecordingSource"] == "OutboundAPI", whole
listed = {r.sid: r for r in client.calls(call.sid).recordings.list()}
assert set(listed) == {recording.sid, whole[1][0]["RecordingSid"]}, listed
try:
    client.calls(call.sid).recordings.create()
    raise AssertionError("recording a finished call must fail")
except TwilioRestException as error:
    assert error.status == 400 and error.code == 21220, (error.status, error.code)
assert not app.hits("/dropped"), "a discarded recording is not called back"

print("all checks passed")
