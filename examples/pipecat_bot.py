"""A Pipecat voice bot with a local Marionette avatar, over Pipecat's peer-to-peer WebRTC transport.

No cloud account, no API key, no network: the "LLM" is a script (ScriptedLLM) and the "TTS" is
espeak-ng through Marionette's own synthesizer (OfflineTTS); replace them with real Pipecat
services (an LLM, a TTS) and the avatar part stays as it is:

    Pipeline([transport.input(), llm, tts, MarionetteVideoService(...), transport.output()])

Run it and open the printed address in a browser (Chrome or Firefox), press Start:

    pip install 'marionette[pipecat]'
    python examples/pipecat_bot.py --port 7860 [--portrait face.jpg]

The page (examples/pipecat_web/index.html) offers WebRTC to POST /api/offer; each browser gets
its own avatar session (the portrait is analysed once and shared). GET /api/stats lists when each
utterance's first TTS audio entered the pipeline (wall clock), for latency measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from pathlib import Path

import numpy as np
from aiohttp import web
from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    StartFrame,
    TextFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
from pipecat.workers.runner import WorkerRunner

from marionette.plugin.pipecat import AvatarOptions, MarionetteVideoService, SharedAssets, transport_video_delay

log = logging.getLogger("pipecat_bot")
WEB = Path(__file__).with_name("pipecat_web")

# (tool call or None, what to say). Tool calls use the same messages as `marionette tools`.
SCRIPT = [
    ({"name": "set_emotion", "arguments": {"label": "happy", "intensity": 0.6}},
     "Hello! I am a local avatar, running on this computer's processor."),
    ({"name": "gesture", "arguments": {"name": "nod"}}, "Pipecat sends my voice, and my face follows it."),
    ({"name": "look_at", "arguments": {"x": 0.4, "y": 0.1}}, "No cloud service draws this picture."),
    (None, "Ask me anything, and I will answer with a smile."),
]


class OfflineTTS(FrameProcessor):
    """A TTS stand-in: text frames -> TTSStarted, TTSAudioRawFrame (20 ms chunks), TTSStopped,
    synthesized by espeak-ng on a worker thread. ``starts``: wall time of each utterance's first audio."""

    def __init__(self, *, engine: str = "espeak", **kwargs) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.starts: list[dict] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TextFrame) and direction == FrameDirection.DOWNSTREAM:
            await self._speak(frame.text)
        else:
            await self.push_frame(frame, direction)

    async def _speak(self, text: str) -> None:
        from marionette.core.speech import synthesize

        audio, _ = await asyncio.to_thread(synthesize, text, engine=self.engine)
        pcm = (np.clip(audio.samples, -1, 1) * 32767).astype("<i2")
        step = audio.sample_rate // 50
        await self.push_frame(TTSStartedFrame())
        self.starts.append({"text": text, "wall": time.time(), "seconds": pcm.size / audio.sample_rate})
        for i in range(0, pcm.size, step):
            await self.push_frame(TTSAudioRawFrame(pcm[i:i + step].tobytes(), audio.sample_rate, 1))
        await self.push_frame(TTSStoppedFrame())


class ScriptedLLM(FrameProcessor):
    """An LLM stand-in: says SCRIPT's lines one after another, each once the bot stopped speaking
    (BotStoppedSpeakingFrame comes back upstream from the output transport), calling the avatar's
    tools first as a real LLM's function calls would."""

    def __init__(self, avatar: MarionetteVideoService, script=SCRIPT, *, pause: float = 0.8, **kwargs) -> None:
        super().__init__(**kwargs)
        self.avatar, self.script, self.pause = avatar, list(script), pause
        self._stopped = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStoppedSpeakingFrame):
            self._stopped.set()
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            self._task = self.create_task(self._run())
            return
        if isinstance(frame, EndFrame) and self._task is not None:
            await self.cancel_task(self._task)
        await self.push_frame(frame, direction)

    async def _run(self) -> None:
        while self.avatar.session is None:  # the avatar starts on the StartFrame, off the loop
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)  # the browser's first frames and the avatar's idle life first
        for tool, line in self.script:
            if tool is not None:
                result = self.avatar.call_tool(tool["name"], tool["arguments"])
                log.info("tool %s -> %s", tool["name"], result)
            self._stopped.clear()
            await self.push_frame(TextFrame(line))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), 20.0)
            await asyncio.sleep(self.pause)


class BotServer:
    """aiohttp app: the page, the WebRTC offer/answer, one pipeline per browser."""

    def __init__(self, options: AvatarOptions, *, loop_script: bool = False) -> None:
        self.options = options
        self.assets = SharedAssets()
        self.loop_script = loop_script
        self.bots: dict[str, dict] = {}
        self._tasks: set[asyncio.Task] = set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_static("/static", WEB)
        app.router.add_post("/api/offer", self.offer)
        app.router.add_get("/api/stats", self.stats)
        app.on_shutdown.append(self.shutdown)
        return app

    async def index(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "index.html")

    async def stats(self, _request: web.Request) -> web.Response:
        out = {pc: {"utterances": b["tts"].starts, "video_frames": b["avatar"].pushed_video,
                    "audio_blocks": b["avatar"].pushed_audio, "dropped": b["avatar"].dropped,
                    "late_sound_dropped": b["avatar"].late_sound}
               for pc, b in self.bots.items()}
        return web.json_response(out)

    async def offer(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            sdp, kind = body["sdp"], body["type"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "expected JSON {\"sdp\": ..., \"type\": \"offer\"}"}, status=400)
        conn = SmallWebRTCConnection()
        await conn.initialize(sdp=sdp, type=kind)
        answer = conn.get_answer()
        task = asyncio.create_task(self.run_bot(conn, answer["pc_id"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response(answer)

    async def run_bot(self, conn: SmallWebRTCConnection, pc_id: str) -> None:
        o = self.options
        params = TransportParams(
            audio_in_enabled=False, audio_out_enabled=True, video_out_enabled=True, video_out_is_live=True,
            video_out_width=o.width, video_out_height=o.height, video_out_framerate=int(o.fps))
        transport = SmallWebRTCTransport(conn, params)
        # Pictures wait for what the transport adds to the sound only (its audio chunk, an Opus frame).
        avatar = MarionetteVideoService(assets=self.assets, options=o, video_delay=transport_video_delay(params))
        tts = OfflineTTS()
        script = SCRIPT * (100 if self.loop_script else 1)
        llm = ScriptedLLM(avatar, script)
        worker = PipelineWorker(Pipeline([transport.input(), llm, tts, avatar, transport.output()]),
                                params=PipelineParams(audio_out_sample_rate=24000), idle_timeout_secs=None)
        self.bots[pc_id] = {"tts": tts, "avatar": avatar, "worker": worker}

        @transport.event_handler("on_client_disconnected")
        async def _gone(_transport, _client) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        try:
            await runner.run()
        finally:
            self.bots.pop(pc_id, None)

    async def shutdown(self, _app) -> None:
        for b in list(self.bots.values()):
            await b["worker"].cancel()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Pipecat bot with a local Marionette avatar over peer-to-peer WebRTC")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--portrait", default=None, help="photo of the avatar (default: the bundled portrait)")
    ap.add_argument("--size", type=int, default=512, help="video width and height in pixels")
    ap.add_argument("--loop", action="store_true", help="repeat the script instead of saying it once")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = BotServer(AvatarOptions(portrait=args.portrait, width=args.size, height=args.size), loop_script=args.loop)
    t0 = time.perf_counter()
    server.assets.renderer(server.options)  # analyse the portrait once, before the first browser
    print(f"portrait ready in {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"open http://{args.host}:{args.port}/ and press Start", flush=True)
    web.run_app(server.app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
