"""A bot that drops its media stream once (issue 22, SwitchboardStreamFailover): the first
connection gets `connected` + `start`, then the bot closes it with 1011 (not a normal close);
the engine opens the stream again with the same streamSid and a new `connected` + `start`,
and the bot then closes it normally, which ends the `<Connect>`.
Prints the port, then "all checks passed" when everything held.
"""

import asyncio
import json
import sys

from websockets.asyncio.server import serve

seen = []
failures = []
done = asyncio.Event()


async def bot(ws):
    connected = json.loads(await ws.recv())
    start = json.loads(await ws.recv())
    if connected.get("event") != "connected" or start.get("event") != "start":
        failures.append(f"opening frames {connected} {start}")
    seen.append(start["start"]["streamSid"])
    if len(seen) == 1:
        await ws.close(1011)
        return
    if seen[1] != seen[0]:
        failures.append(f"streamSid changed: {seen}")
    if start.get("sequenceNumber") != "1":
        failures.append(f"start again counts from 1: {start}")
    await ws.close(1000)
    done.set()


async def main():
    async with serve(bot, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.wait_for(done.wait(), 30)
    if failures:
        print("FAILED:", failures, flush=True)
        sys.exit(1)
    print("all checks passed", flush=True)


asyncio.run(main())
