"""A plain `websockets` bot on the far end of a `<Connect><Stream>` (issue 22, protocol edges).

It serves one WebSocket on 127.0.0.1 (the port is printed on the first line), and checks what
the engine sends against Twilio's Media Streams protocol while it drives the engine's side:
- the opening request carries an X-Twilio-Signature that the official RequestValidator accepts
  for a GET of the stream URL exactly as written with no parameters;
- `connected`, then `start` (sequenceNumber "1", tracks, mediaFormat, customParameters), then
  `media` frames whose sequenceNumber/chunk/timestamp are strings counting up, payload base64
  µ-law of the caller's speech (sipp sends A-law: the engine transcodes);
- garbage (not JSON, a binary frame, an unknown event, a payload that is not base64, a frame over
  64 KiB, a flood of marks) does not end the stream (the test checks the 31924 alerts);
- marks come back in order, and not before the audio queued before them has played (timed);
- `clear` echoes a pending mark at once;
- the caller's RFC 4733 key arrives as `dtmf`;
then it closes the socket normally, which ends the `<Connect>`.
Prints "all checks passed" when everything held.
"""

import asyncio
import base64
import json
import math
import sys
import time

from twilio.request_validator import RequestValidator
from websockets.asyncio.server import serve

TOKEN = sys.argv[1]
URL = ""
failures = []
done = asyncio.Event()


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAILED:", what, flush=True)


def tone(ms, hz=1000):
    """µ-law bytes of a sine tone."""
    out = bytearray()
    for n in range(8 * ms):
        sample = int(8000 * math.sin(2 * math.pi * hz * n / 8000))
        out.append(ulaw(sample))
    return bytes(out)


def ulaw(sample):
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


async def next_event(ws, events, kinds, timeout):
    """The next frame whose event is in `kinds`, keeping every frame in `events`."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            text = await asyncio.wait_for(ws.recv(), left)
        except asyncio.TimeoutError:
            return None
        frame = json.loads(text)
        events.append((time.monotonic(), frame))
        if frame.get("event") in kinds:
            return frame


async def bot(ws):
    events = []
    signature = ws.request.headers.get("X-Twilio-Signature", "")
    check(RequestValidator(TOKEN).validate(URL, {}, signature), "signature validates: " + signature)
    check(ws.request.path == "/bot", "path " + ws.request.path)

    connected = json.loads(await ws.recv())
    check(connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}, f"connected {connected}")
    start = json.loads(await ws.recv())
    stream_sid = start.get("streamSid", "")
    check(start.get("event") == "start" and start.get("sequenceNumber") == "1", f"start {start}")
    body = start.get("start", {})
    check(stream_sid.startswith("MZ") and body.get("streamSid") == stream_sid, "streamSid")
    check(body.get("callSid", "").startswith("CA") and body.get("accountSid", "").startswith("AC"), "sids")
    check(body.get("tracks") == ["inbound"], f"tracks {body.get('tracks')}")
    check(body.get("mediaFormat") == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}, "mediaFormat")
    check(body.get("customParameters") == {"customer": "42", "lang": "en"}, f"customParameters {body.get('customParameters')}")

    # The caller's speech, frame by frame.
    media = []
    while len(media) < 60:
        frame = await next_event(ws, events, {"media"}, 10)
        if frame is None:
            break
        media.append(frame)
    check(len(media) == 60, f"{len(media)} media frames")
    sequence = [int(f["sequenceNumber"]) for f in media]
    check(all(isinstance(f["sequenceNumber"], str) for f in media), "sequenceNumber is a string")
    check(all(isinstance(f["media"]["chunk"], str) and isinstance(f["media"]["timestamp"], str) for f in media), "chunk/timestamp are strings")
    check(sequence == list(range(sequence[0], sequence[0] + len(sequence))) and sequence[0] >= 2, f"sequence {sequence[:5]}")
    chunks = [int(f["media"]["chunk"]) for f in media]
    check(chunks == list(range(chunks[0], chunks[0] + len(chunks))), "chunks count up")
    stamps = [int(f["media"]["timestamp"]) for f in media]
    check(stamps == sorted(stamps), "timestamps grow")
    check(all(f["media"]["track"] == "inbound" and f["streamSid"] == stream_sid for f in media), "track inbound")
    payloads = [base64.b64decode(f["media"]["payload"]) for f in media]
    check(all(len(p) == 160 for p in payloads), "20 ms frames")
    loud = sum(1 for p in payloads if sum(1 for b in p if b & 0x7F < 0x60) > 20)
    check(loud > 10, f"speech in the payloads ({loud} loud frames)")

    # Garbage: the stream goes on.
    await ws.send("this is not json")
    await ws.send(b"\x00\x01binary")
    await ws.send(json.dumps({"event": "dance", "streamSid": stream_sid}))

    # Audio then marks: each echo comes once the audio before it has played.
    sent_at = time.monotonic()
    for ms, name in ((1000, "one"), (500, "two")):
        payload = base64.b64encode(tone(ms)).decode()
        await ws.send(json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}}))
        await ws.send(json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}))
    marks = []
    while len(marks) < 2:
        frame = await next_event(ws, events, {"mark"}, 5)
        if frame is None:
            break
        marks.append((time.monotonic() - sent_at, frame))
    check([m[1]["mark"]["name"] for m in marks] == ["one", "two"], f"marks {marks}")
    if len(marks) == 2:
        check(0.95 <= marks[0][0] <= 1.6, f"mark one after {marks[0][0]:.3f} s")
        check(1.45 <= marks[1][0] <= 2.2, f"mark two after {marks[1][0]:.3f} s")
        check(isinstance(marks[0][1]["sequenceNumber"], str), "mark sequenceNumber")

    # `clear` drops 5 s of queued audio and echoes the pending mark at once.
    payload = base64.b64encode(tone(5000)).decode()
    await ws.send(json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}}))
    await ws.send(json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": "cleared"}}))
    await asyncio.sleep(0.2)
    cleared_at = time.monotonic()
    await ws.send(json.dumps({"event": "clear", "streamSid": stream_sid}))
    frame = await next_event(ws, events, {"mark"}, 2)
    check(frame is not None and frame["mark"]["name"] == "cleared", f"cleared mark {frame}")
    check(time.monotonic() - cleared_at < 0.5, "clear echoes at once")

    # Hostile input: a payload that is not base64, a frame over 64 KiB, a flood of marks.
    await ws.send(json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": "%%% not base64 %%%"}}))
    await ws.send(json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": "A" * (70 * 1024)}}))
    for n in range(1100):
        await ws.send(json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": f"flood-{n}"}}))

    # The caller presses 1 (RFC 4733 from sipp).
    frame = await next_event(ws, events, {"dtmf"}, 15)
    check(frame is not None and frame.get("dtmf") == {"track": "inbound_track", "digit": "1"}, f"dtmf {frame}")
    if frame is not None:
        check(isinstance(frame["sequenceNumber"], str), "dtmf sequenceNumber")

    await ws.close(1000)
    done.set()


async def main():
    async with serve(bot, "127.0.0.1", 0) as server:
        global URL
        port = server.sockets[0].getsockname()[1]
        URL = f"ws://127.0.0.1:{port}/bot"
        print(port, flush=True)
        await asyncio.wait_for(done.wait(), 60)
    if failures:
        sys.exit(1)
    print("all checks passed", flush=True)


asyncio.run(main())
