"""REST media streams with the official twilio-python package (issue 22):
client.calls(sid).streams.create(...) starts a one-way stream on a live call (both tracks,
a name, parameters, a status callback) and client.calls(sid).streams(name).update(status=
"stopped") stops it; a plain `websockets` bot sees `connected`, `start` (tracks, custom
parameters) and `stop` (a sandbox call carries no audio); the stream status callbacks (`stream-started`,
`stream-stopped`) carry Twilio's parameters and validate with RequestValidator.

Run by crates/switchboard-cli/tests/it/compat.rs with SWITCHBOARD_URL, SID and TOKEN set.
"""
import asyncio
import json
import os
import threading
import time

from customer_app import CustomerApp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from websockets.asyncio.server import serve

URL, SID, TOKEN = os.environ["SWITCHBOARD_URL"], os.environ["SID"], os.environ["TOKEN"]
NUMBER, HANDSET = "+15550220101", "+15558880221"

frames = []
bot_ready = threading.Event()
bot_port = []


async def bot(ws):
    async for text in ws:
        frames.append(json.loads(text))


def run_bot():
    async def main():
        async with serve(bot, "127.0.0.1", 0) as server:
            bot_port.append(server.sockets[0].getsockname()[1])
            bot_ready.set()
            await asyncio.Future()

    asyncio.run(main())


threading.Thread(target=run_bot, daemon=True).start()
bot_ready.wait(10)
STREAM_URL = f"ws://127.0.0.1:{bot_port[0]}/listen"


def reply_for(path, params):
    if path == "/hold":
        return 200, "application/xml", '<Response><Say>Hold on.</Say><Pause length="20"/></Response>'
    return 204, "application/xml", ""


app = CustomerApp(TOKEN, reply_for)
client = Client(SID, TOKEN)
client.api.base_url = URL


def wait_for(check, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(what)


client.incoming_phone_numbers.create(phone_number=NUMBER, voice_url=f"{app.url}/hold")
call = client.calls.create(to=HANDSET, from_=NUMBER, url=f"{app.url}/hold")
wait_for(lambda: client.calls(call.sid).fetch().status == "in-progress", "the call was not answered")

stream = client.calls(call.sid).streams.create(
    url=STREAM_URL,
    name="listener",
    track="both_tracks",
    status_callback=f"{app.url}/stream-status",
    parameter1_name="customer",
    parameter1_value="42",
)
assert stream.sid.startswith("MZ"), stream.sid
assert stream.status == "in-progress", stream.status
assert stream.name == "listener", stream.name
assert stream.call_sid == call.sid and stream.account_sid == SID

wait_for(lambda: len(frames) >= 2, f"connected and start: {frames}")
connected, start = frames[0], frames[1]
assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}, connected
assert start["event"] == "start" and start["streamSid"] == stream.sid, start
assert start["start"]["tracks"] == ["inbound", "outbound"], start
assert start["start"]["customParameters"] == {"customer": "42"}, start
assert start["start"]["callSid"] == call.sid, start

stopped = client.calls(call.sid).streams("listener").update(status="stopped")
assert stopped.status == "stopped" and stopped.sid == stream.sid, stopped.status
wait_for(lambda: frames and frames[-1]["event"] == "stop", f"stop: {frames[-3:]}")
assert frames[-1]["stop"] == {"accountSid": SID, "callSid": call.sid}, frames[-1]

# A stream that is not running is 404; a call that is not live is 21220.
try:
    client.calls(call.sid).streams("nobody").update(status="stopped")
    raise AssertionError("stopping an unknown stream succeeded")
except TwilioRestException as error:
    assert error.status == 404, error

wait_for(lambda: len(app.hits("/stream-status")) >= 2, f"stream callbacks: {app.hits('/stream-status')}")
events = [params["StreamEvent"] for params, _ in app.hits("/stream-status")]
assert events == ["stream-started", "stream-stopped"], events
for params, valid in app.hits("/stream-status"):
    assert valid, params
    assert params["StreamSid"] == stream.sid and params["StreamName"] == "listener", params
    assert params["CallSid"] == call.sid and params["AccountSid"] == SID, params
    assert "T" in params["Timestamp"], params

# A stream still running when the call ends is stopped with it (and its callback says so).
second = client.calls(call.sid).streams.create(url=STREAM_URL, status_callback=f"{app.url}/second-status")
assert second.name == second.sid, second.name
wait_for(lambda: len(app.hits("/second-status")) >= 1, "the second stream started")

client.calls(call.sid).update(status="completed")
wait_for(lambda: client.calls(call.sid).fetch().status == "completed", "the call did not end")
try:
    client.calls(call.sid).streams.create(url=STREAM_URL)
    raise AssertionError("a stream on an ended call was accepted")
except TwilioRestException as error:
    assert error.code == 21220, error

wait_for(lambda: len(app.hits("/second-status")) >= 2, f"second: {app.hits('/second-status')}")
events = [params["StreamEvent"] for params, _ in app.hits("/second-status")]
assert events == ["stream-started", "stream-stopped"], events
assert all(valid and params["StreamSid"] == second.sid for params, valid in app.hits("/second-status"))

print("all checks passed")
