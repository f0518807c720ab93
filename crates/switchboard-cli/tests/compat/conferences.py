"""Conferences with the official twilio-python package: three sandbox callers join one
conference through <Dial><Conference> (the customer's TwiML built with VoiceResponse), two of
them wait with looping hold TwiML from waitUrl until the moderator (startConferenceOnEnter,
endConferenceOnExit) joins; the client lists and fetches the conference and its participants,
adds an outbound participant, mutes one participant and kicks it; the conference's status
callbacks (checked with RequestValidator) arrive with increasing SequenceNumber; the conference
ends when the moderator leaves, and everyone left goes on after their <Dial> with
DialCallStatus=answered.

Run by crates/switchboard-cli/tests/it/compat.rs with SWITCHBOARD_URL, SID and TOKEN set.
"""
import os
import time

import requests
from customer_app import CustomerApp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

URL, SID, TOKEN = os.environ["SWITCHBOARD_URL"], os.environ["SID"], os.environ["TOKEN"]
NUMBER = "+15550500001"
ALICE, BOB, MODERATOR, GUEST = "+15551110001", "+15551110002", "+15551110003", "+15558880050"
LABELS = {ALICE: "alice", BOB: "bob", MODERATOR: "moderator"}


def reply_for(path, params):
    response = VoiceResponse()
    if path == "/room":
        caller = params.get("From")
        moderator = caller == MODERATOR
        dial = Dial(action="/after")
        dial.conference(
            "support",
            wait_url="/wait",
            wait_method="POST",
            start_conference_on_enter=moderator,
            end_conference_on_exit=moderator,
            beep=False,
            muted=False,
            max_participants=10,
            participant_label=LABELS.get(caller, "guest"),
            status_callback="/conference-events",
            status_callback_event="start end join leave mute",
        )
        response.append(dial)
    elif path == "/wait":
        response.say("Please hold, the moderator will join shortly.")
        response.pause(length=1)
    elif path == "/after":
        response.say(f"You left the conference: {params.get('DialCallStatus')}.")
    elif path == "/conference-events":
        return 204, "text/plain", ""
    return 200, "application/xml", str(response)


app = CustomerApp(TOKEN, reply_for)
APP = app.url

client = Client(SID, TOKEN)
client.api.base_url = URL
session = requests.Session()
session.auth = (SID, TOKEN)


def hits(path):
    return app.hits(path)


def until(what, check, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def place(caller):
    placed = session.post(f"{URL}/sandbox/Calls", data={"To": NUMBER, "From": caller})
    assert placed.status_code == 201, placed.text
    return placed.json()["call_sid"]


def transcript(sid):
    return session.get(f"{URL}/sandbox/Calls/{sid}").json()


def finished(sid):
    done = session.get(f"{URL}/sandbox/Calls/{sid}", params={"WaitFor": "completed", "Timeout": "20"})
    assert done.status_code == 200, done.text
    return done.json()


def conference_actions(events):
    return [e["action"] for e in events if e["type"] == "conference"]


def callbacks():
    return [params for params, valid in app.hits("/conference-events") if valid or _invalid(params)]


def _invalid(params):
    raise AssertionError(f"a conference callback had a bad signature: {params}")


client.incoming_phone_numbers.create(phone_number=NUMBER, voice_url=f"{APP}/room")

# 1. Two callers join; without the moderator the conference has not started and both hold,
#    their waitUrl requested again and again (it loops) with the conference's parameters.
alice, bob = place(ALICE), place(BOB)
until("the wait music to loop for both", lambda: len([p for p, _ in app.hits("/wait") if p["CallSid"] == alice]) >= 2
      and any(p["CallSid"] == bob for p, _ in app.hits("/wait")))
waits = [p for p, _ in app.hits("/wait")]
assert all(p.get("FriendlyName") == "support" and p.get("ConferenceSid", "").startswith("CF") for p in waits), waits
conference = client.conferences.list(friendly_name="support", status="init")
assert len(conference) == 1, conference
conference = conference[0]
assert conference.sid == waits[0]["ConferenceSid"] and conference.status == "init", conference.status
participants = client.conferences(conference.sid).participants.list()
assert sorted(p.label for p in participants) == ["alice", "bob"], [p.label for p in participants]
assert all(p.status == "connected" and not p.muted for p in participants)

# 2. The moderator joins: the conference starts and the hold music stops.
moderator = place(MODERATOR)
until("the conference to start", lambda: client.conferences(conference.sid).fetch().status == "in-progress")
until("the start callback", lambda: any(p["StatusCallbackEvent"] == "conference-start" for p in callbacks()))
assert "start" in conference_actions(transcript(alice)["events"]), transcript(alice)
waits_after_start = len(app.hits("/wait"))

# 3. An outbound participant added through the client joins the running conference.
guest = client.conferences(conference.sid).participants.create(
    from_=NUMBER, to=GUEST, label="guest", muted=True, start_conference_on_enter=False
)
assert guest.call_sid.startswith("CA") and guest.conference_sid == conference.sid, guest.conference_sid
until("the guest to join", lambda: len(client.conferences(conference.sid).participants.list()) == 4)
fetched = client.conferences(conference.sid).participants("guest").fetch()
assert fetched.call_sid == guest.call_sid and fetched.muted, (fetched.call_sid, fetched.muted)
assert fetched.label == "guest"

# 4. Bob is muted, then kicked: his call goes on after his <Dial> (answered).
muted = client.conferences(conference.sid).participants(bob).update(muted=True)
assert muted.muted is True and muted.call_sid == bob, muted.muted
assert client.conferences(conference.sid).participants(bob).fetch().muted is True
assert len(client.conferences(conference.sid).participants.list(muted=True)) == 2
assert client.conferences(conference.sid).participants(bob).delete() is True
bob_done = finished(bob)
assert conference_actions(bob_done["events"]) == ["join", "start", "mute", "leave"], bob_done["events"]
assert [p["DialCallStatus"] for p, _ in app.hits("/after") if p["CallSid"] == bob] == ["answered"]
try:
    client.conferences(conference.sid).participants(bob).fetch()
    raise AssertionError("a kicked participant is still listed")
except TwilioRestException as error:
    assert error.status == 404, error.status
assert sorted(p.label for p in client.conferences(conference.sid).participants.list()) == ["alice", "guest", "moderator"]

# 5. The moderator hangs up: the conference ends for everyone.
assert session.post(f"{URL}/sandbox/Calls/{moderator}/Hangup").status_code == 200
alice_done = finished(alice)
assert conference_actions(alice_done["events"]) == ["join", "start", "end"], alice_done["events"]
assert [p["DialCallStatus"] for p, _ in app.hits("/after") if p["CallSid"] == alice] == ["answered"]
finished(moderator)
finished(guest.call_sid)
ended = client.conferences(conference.sid).fetch()
assert ended.status == "completed", ended.status
assert ended.reason_conference_ended == "participant-with-end-conference-on-exit-left", ended.reason_conference_ended
assert ended.call_sid_ending_conference == moderator, ended.call_sid_ending_conference
assert client.conferences.list(status="completed")[0].sid == conference.sid
assert client.conferences(conference.sid).participants.list() == []
assert len(app.hits("/wait")) <= waits_after_start + 2, "the hold music went on after the start"

# 6. The status callbacks: every subscribed event, in order, SequenceNumber increasing.
events = until("the end callback", lambda: [p for p in callbacks()] if any(
    p["StatusCallbackEvent"] == "conference-end" for p in callbacks()) else None)
numbers = [int(p["SequenceNumber"]) for p in events]
assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers
assert numbers == list(range(1, len(numbers) + 1)), numbers
names = [p["StatusCallbackEvent"] for p in events]
assert names.count("participant-join") == 4, names
assert names.index("conference-start") > names.index("participant-join"), names
assert "participant-mute" in names and names[-1] == "conference-end", names
assert names.count("participant-leave") >= 2, names
mute = next(p for p in events if p["StatusCallbackEvent"] == "participant-mute")
assert mute["CallSid"] == bob and mute["Muted"] == "true" and mute["ParticipantLabel"] == "bob", mute
end = events[-1]
assert end["ReasonConferenceEnded"] == "participant-with-end-conference-on-exit-left", end
assert end["CallSidEndingConference"] == moderator and end["ConferenceSid"] == conference.sid, end
assert all(p["AccountSid"] == SID and p["FriendlyName"] == "support" for p in events)

# 7. A conference SID that is not this account's is Twilio's 404.
try:
    client.conferences("CF" + "0" * 32).fetch()
    raise AssertionError("an unknown conference was found")
except TwilioRestException as error:
    assert error.status == 404, error.status

print("all checks passed")
