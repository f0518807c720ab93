"""A bot that waits for the caller's key on a `<Connect><Stream>` (issue 22: SIP INFO keys
reach a two-way stream as `dtmf`), then closes the socket normally.
Prints the port, then "all checks passed" when the key arrived.
"""

import asyncio
import json
import sys

from websockets.asyncio.server import serve

got = []
done = asyncio.Event()


async def bot(ws):
    async for text in ws:
        frame = json.loads(text)
        if frame["event"] == "dtmf":
            got.append(frame["dtmf"])
            break
    await ws.close(1000)
    done.set()


async def main():
    async with serve(bot, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.wait_for(done.wait(), 30)
    if got != [{"track": "inbound_track", "digit": "1"}]:
        print("FAILED:", got, flush=True)
        sys.exit(1)
    print("all checks passed", flush=True)


asyncio.run(main())
