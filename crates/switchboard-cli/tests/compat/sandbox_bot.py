"""A plain `websockets` bot on a sandbox call's `<Connect><Stream>` (issue 22): it sends one
second of a 1200 Hz µ-law tone and a mark at once, and checks that the mark comes back only
once that second has played, that the caller's /Audio tone arrives as loud inbound media, and
that /Digits arrive as `dtmf`; then it closes the socket normally.
Prints the port, then "all checks passed" when everything held.
"""

import asyncio
import base64
import json
import math
import sys
import time

from websockets.asyncio.server import serve

failures = []
done = asyncio.Event()


def ulaw(sample):
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), 32635) + 0x84
    exponent, mask = 7, 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    return ~(sign | (exponent << 4) | ((sample >> (exponent + 3)) & 0x0F)) & 0xFF


async def bot(ws):
    connected = json.loads(await ws.recv())
    start = json.loads(await ws.recv())
    if connected.get("event") != "connected" or start.get("event") != "start":
        failures.append(f"opening {connected} {start}")
    sid = start.get("streamSid")
    tone = bytes(ulaw(int(10000 * math.sin(2 * math.pi * 1200 * n / 8000))) for n in range(8000))
    sent = time.monotonic()
    await ws.send(json.dumps({"event": "media", "streamSid": sid, "media": {"payload": base64.b64encode(tone).decode()}}))
    await ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": "tone-done"}}))
    mark_after, loud, digit = None, 0, None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (mark_after is None or loud < 10 or digit is None):
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 1))
        except asyncio.TimeoutError:
            continue
        if frame["event"] == "mark":
            mark_after = time.monotonic() - sent
        elif frame["event"] == "media":
            payload = base64.b64decode(frame["media"]["payload"])
            if sum(1 for b in payload if b & 0x7F < 0x60) > 20:
                loud += 1
        elif frame["event"] == "dtmf":
            digit = frame["dtmf"]["digit"]
    if mark_after is None or not 0.95 <= mark_after <= 1.6:
        failures.append(f"mark after {mark_after}")
    if loud < 10:
        failures.append(f"{loud} loud inbound frames")
    if digit != "5":
        failures.append(f"dtmf {digit}")
    await ws.close(1000)
    done.set()


async def main():
    async with serve(bot, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.wait_for(done.wait(), 40)
    if failures:
        print("FAILED:", failures, flush=True)
        sys.exit(1)
    print("all checks passed", flush=True)


asyncio.run(main())
