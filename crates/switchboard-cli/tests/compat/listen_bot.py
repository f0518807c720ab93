"""A listening bot on a one-way `<Start><Stream track="both_tracks">` (issue 22): it checks that
`start.tracks` names both tracks, that the caller's speech arrives on the inbound track and
the engine's `<Play>` tone on the outbound track (each with its own chunk count from "1"), and
that `stop` ends the stream when the call ends.
Prints the port, then "all checks passed" when everything held.
"""

import asyncio
import base64
import json
import sys

from websockets.asyncio.server import serve

failures = []
done = asyncio.Event()


def loud(payload):
    return sum(1 for b in payload if b & 0x7F < 0x60) > 20


async def bot(ws):
    frames = [json.loads(text) async for text in ws]
    start = next((f for f in frames if f["event"] == "start"), {})
    if start.get("start", {}).get("tracks") != ["inbound", "outbound"]:
        failures.append(f"tracks {start}")
    for track in ("inbound", "outbound"):
        media = [f["media"] for f in frames if f["event"] == "media" and f["media"]["track"] == track]
        chunks = [int(m["chunk"]) for m in media]
        if chunks[:1] != [1] or chunks != list(range(1, len(chunks) + 1)):
            failures.append(f"{track} chunks {chunks[:5]}")
        noisy = sum(1 for m in media if loud(base64.b64decode(m["payload"])))
        if noisy < 25:
            failures.append(f"{track}: {noisy} loud frames of {len(media)}")
    if frames[-1]["event"] != "stop":
        failures.append(f"last frame {frames[-1]}")
    if any(f["event"] == "dtmf" for f in frames):
        failures.append("dtmf on a one-way stream")
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
