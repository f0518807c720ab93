"""Speech and transcription in the sandbox with the official twilio-python package: a caller's
`Text` reaches a speech <Gather> as SpeechResult and a <Record transcribe> as TranscriptionText
exactly; the transcribeCallback carries Twilio's parameters (signed, checked with
RequestValidator); client.transcriptions and client.recordings(sid).transcriptions list, fetch
and delete it; a 1-second recording's transcription fails.

Run by crates/switchboard-cli/tests/it/compat.rs with SWITCHBOARD_URL, SID and TOKEN set.
"""
import os
import time

import requests
from customer_app import CustomerApp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

URL, SID, TOKEN = os.environ["SWITCHBOARD_URL"], os.environ["SID"], os.environ["TOKEN"]
NUMBER, MENU = "+15550230001", "+15550230002"
SENTENCE = "hello this is Ann please call me back about my order"


def reply_for(path, params):
    response = VoiceResponse()
    if path == "/voicemail":
        response.say("Leave a message after the beep.")
        response.record(action=f"{APP}/recorded", timeout=1, max_length=30, transcribe=True,
                        transcribe_callback=f"{APP}/transcribed")
    elif path == "/menu":
        gather = Gather(input="speech", action=f"{APP}/heard", hints="sales, billing, support",
                        timeout=5)
        gather.say("Say sales, billing or support.")
        response.append(gather)
        response.say("We did not hear you.")
    elif path in ("/recorded", "/heard"):
        response.hangup()
    else:
        return 204, "text/plain", ""
    return 200, "application/xml", str(response)


app = CustomerApp(TOKEN, reply_for)
APP = app.url
client = Client(SID, TOKEN)
client.api.base_url = URL
session = requests.Session()
session.auth = (SID, TOKEN)


def hits(path, count=1, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = app.hits(path)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{path}: {len(app.hits(path))} requests, wanted {count}")


def place(to, text):
    placed = session.post(f"{URL}/sandbox/Calls", data={"To": to, "From": "+15558880023", "Clock": "real"})
    assert placed.status_code == 201, placed.text
    sid = placed.json()["call_sid"]
    said = session.post(f"{URL}/sandbox/Calls/{sid}/Audio", data={"Text": text})
    assert said.status_code == 200, said.text
    done = session.get(f"{URL}/sandbox/Calls/{sid}", params={"WaitFor": "completed", "Timeout": "30"})
    assert done.status_code == 200, done.text
    return sid


client.incoming_phone_numbers.create(phone_number=NUMBER, voice_url=f"{APP}/voicemail")
client.incoming_phone_numbers.create(phone_number=MENU, voice_url=f"{APP}/menu")

# 1. A speech gather hears the caller's Text exactly, with confidence 0.9.
place(MENU, "billing")
(heard, valid), = hits("/heard")
assert valid, heard
assert heard["SpeechResult"] == "billing" and heard["Confidence"] == "0.9", heard

# 2. A voicemail of eleven words (4.4 s): the recording, then its transcription, exactly.
call_sid = place(NUMBER, SENTENCE)
(recorded, _), = hits("/recorded")
assert recorded["RecordingDuration"] == "5", recorded
(callback, valid), = hits("/transcribed")
assert valid, "the transcribeCallback's signature did not validate"
assert callback["TranscriptionStatus"] == "completed", callback
assert callback["TranscriptionText"] == SENTENCE, callback
assert callback["TranscriptionSid"].startswith("TR") and len(callback["TranscriptionSid"]) == 34
assert callback["RecordingSid"] == recorded["RecordingSid"], callback
assert callback["RecordingUrl"] == recorded["RecordingUrl"], callback
assert callback["CallSid"] == call_sid and callback["AccountSid"] == SID, callback
assert callback["To"] == NUMBER and callback["From"] == "+15558880023", callback
transcription_sid = callback["TranscriptionSid"]
assert callback["TranscriptionUrl"].endswith(f"/Transcriptions/{transcription_sid}"), callback
as_text = session.get(callback["TranscriptionUrl"] + ".txt")
assert as_text.status_code == 200 and as_text.text == SENTENCE, as_text.text

listed = client.transcriptions.list()
assert [t.sid for t in listed] == [transcription_sid], listed
fetched = client.transcriptions(transcription_sid).fetch()
assert fetched.status == "completed" and fetched.transcription_text == SENTENCE, fetched.status
assert fetched.recording_sid == recorded["RecordingSid"] and fetched.duration == "5", fetched.duration
assert fetched.account_sid == SID and fetched.type == "fast" and fetched.api_version == "2010-04-01"
of_recording = client.recordings(recorded["RecordingSid"]).transcriptions.list()
assert [t.sid for t in of_recording] == [transcription_sid], of_recording
again = client.recordings(recorded["RecordingSid"]).transcriptions(transcription_sid).fetch()
assert again.transcription_text == SENTENCE
recording = client.recordings(recorded["RecordingSid"]).fetch()
assert recording.subresource_uris["transcriptions"].endswith(
    f"/Recordings/{recorded['RecordingSid']}/Transcriptions.json"), recording.subresource_uris

# 3. A one-second voicemail is not transcribed: failed, as Twilio answers.
place(NUMBER, "yes")
(short, _) = hits("/transcribed", 2)[1]
assert short["TranscriptionStatus"] == "failed" and short["TranscriptionText"] == "", short
failed = client.transcriptions(short["TranscriptionSid"]).fetch()
assert failed.status == "failed" and failed.transcription_text is None, failed.status
assert len(client.transcriptions.list()) == 2

# 4. Delete, through both paths.
assert client.transcriptions(transcription_sid).delete()
try:
    client.transcriptions(transcription_sid).fetch()
    raise AssertionError("a deleted transcription was fetched")
except TwilioRestException as error:
    assert error.status == 404, error.status
assert client.recordings(short["RecordingSid"]).transcriptions(short["TranscriptionSid"]).delete()
assert client.transcriptions.list() == []
assert app.unsigned() == [], app.unsigned()
print("all checks passed")
