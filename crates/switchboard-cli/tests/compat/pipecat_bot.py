"""An unmodified pipecat bot (issue 22): pipecat's own FastAPI WebSocket transport, telephony
handshake parser and `TwilioFrameSerializer` with `base_url` pointed at the engine and its
automatic hang-up on. The bot's only logic: once it has heard half a second of the caller's
tone it answers with a 1200 Hz tone for 1.5 s, then ends its pipeline, whose `EndFrame` makes
the serializer hang the call up through the engine's REST API.

Usage: pipecat_bot.py PORT ENGINE_URL ACCOUNT_SID AUTH_TOKEN
"""

import array
import asyncio
import math
import sys

import uvicorn
from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import EndFrame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

PORT, ENGINE, ACCOUNT_SID, TOKEN = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
REPLY_HZ, RATE = 1200, 8000


class ToneBot(FrameProcessor):
    """Answers the caller's tone with its own, then ends the call."""

    def __init__(self):
        super().__init__()
        self.heard_ms = 0.0
        self.task = None

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if not isinstance(frame, InputAudioRawFrame):
            await self.push_frame(frame, direction)
            return
        samples = array.array("h", frame.audio)
        if not samples or self.heard_ms >= 500:
            return
        rms = math.sqrt(sum(s * s for s in samples) / len(samples))
        if rms > 1000:
            self.heard_ms += 1000 * len(samples) / frame.sample_rate
        if self.heard_ms >= 500:
            tone = array.array(
                "h",
                (int(12000 * math.sin(2 * math.pi * REPLY_HZ * n / RATE)) for n in range(RATE * 3 // 2)),
            )
            await self.push_frame(OutputAudioRawFrame(audio=tone.tobytes(), sample_rate=RATE, num_channels=1))
            asyncio.get_running_loop().call_later(2.5, lambda: asyncio.ensure_future(self.task.queue_frame(EndFrame())))


app = FastAPI()


@app.websocket("/bot")
async def bot(websocket: WebSocket):
    await websocket.accept()
    _, call_data = await parse_telephony_websocket(websocket)
    serializer = TwilioFrameSerializer(
        stream_sid=call_data["stream_id"],
        call_sid=call_data["call_id"],
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        base_url=ENGINE,
    )
    transport = FastAPIWebsocketTransport(
        websocket,
        FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False, serializer=serializer),
    )
    tone_bot = ToneBot()
    task = PipelineTask(
        Pipeline([transport.input(), tone_bot, transport.output()]),
        params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
    )
    tone_bot.task = task
    await PipelineRunner(handle_sigint=False).run(task)


uvicorn.run(app, host="127.0.0.1", port=int(PORT), log_level="warning")
