"""A Pipecat video service: a Marionette avatar placed after the TTS in a Pipecat pipeline.

TTS audio frames go in and are consumed; out come the avatar's pictures (OutputImageRawFrame,
at the avatar's frame rate, for a transport with ``video_out_is_live``) and the same sound
(SpeechOutputAudioRawFrame while the avatar speaks; the output transport derives
BotStarted/StoppedSpeaking from it and fills the silence between utterances itself, so its queue
drains there). Both leave this processor at their presentation time: the engine holds the sound
back by the picture's latency (plugin/session.py), so a mouth and its sound reach the transport
together; sound whose time passed while the event loop stalled is dropped, not sent late (the
transport's track played silence in its place, and late sound would delay all sound after it). An InterruptionFrame clears the pending
speech, the generated motion and the sound not yet sent, at once. Emotion, gesture and gaze are
function-call tools built from the control protocol's own messages (plugin/control/messages.py).

Trade-off: the sound is the engine's 16 kHz mix (what the mouth was generated from), not the
TTS's original rate; the transport resamples it. Needs the `pipecat` extra.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from typing import Any

try:
    from pipecat.frames.frames import (
        CancelFrame,
        EndFrame,
        Frame,
        InterruptionFrame,
        OutputImageRawFrame,
        SpeechOutputAudioRawFrame,
        StartFrame,
        TTSAudioRawFrame,
        TTSStoppedFrame,
    )
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
except ImportError as e:  # pragma: no cover - depends on the extra
    raise ImportError(f"marionette.plugin.pipecat needs Pipecat: pip install 'marionette[pipecat]' ({e})") from e

import numpy as np

from marionette.core.types import AudioChunk, VideoFrame

from .agent_tools import TOOL_NAMES, apply_tool
from .control.messages import MESSAGES
from .control.tools import tool_parameters
from .session import AvatarOptions, AvatarSession, FrameOutput, SharedAssets

log = logging.getLogger(__name__)

MAX_PENDING = 400  # pictures and sound blocks waiting for their time: about 6 s at 30 fps
# Sound this late (s) when its turn comes is dropped: the transport already played silence in its
# place (its track never waits), and sending it now would delay all the sound after it for good.
LATE_SOUND = 0.1


def tools_schema():
    """A pipecat ToolsSchema of TOOL_NAMES, parameters generated from the protocol messages."""
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

    out = []
    for name in TOOL_NAMES:
        cls = MESSAGES[name]
        p = tool_parameters(cls)
        out.append(FunctionSchema(name=name, description=f"{cls.SUMMARY} (Marionette avatar)",
                                  properties=p["properties"], required=p["required"]))
    return ToolsSchema(standard_tools=out)


def transport_video_delay(params) -> float:
    """What a Pipecat output transport adds to sound and not to pictures: its audio chunk
    (``audio_out_10ms_chunks`` x 10 ms, filled before it is sent) and one 20 ms Opus frame."""
    return 0.01 * int(getattr(params, "audio_out_10ms_chunks", 4)) + 0.02


class MarionetteVideoService(FrameProcessor):
    """Place after the TTS: ``Pipeline([..., tts, MarionetteVideoService(...), transport.output()])``.

    assets: shared across the services of one process (load portraits once); options: the avatar.
    The output transport needs ``video_out_enabled=True, video_out_is_live=True`` and the avatar's
    width, height and frame rate. video_delay: seconds pictures are held back beyond their
    presentation time, for a transport that delays sound more than pictures (SmallWebRTC: its
    40 ms audio chunks and 20 ms Opus frames; transport_video_delay() says how much)."""

    def __init__(self, *, assets: SharedAssets | None = None, options: AvatarOptions | None = None,
                 video_delay: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= video_delay <= 1.0:
            raise ValueError(f"video_delay {video_delay} s, expected 0..1")
        self.video_delay = float(video_delay)
        self.assets = assets or SharedAssets()
        self.options = options or AvatarOptions()
        self.session: AvatarSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[tuple[float, int, Any]] = []  # heap of (presentation t, seq, frame)
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._pace_task: asyncio.Task | None = None
        self.dropped = 0
        self.pushed_video = self.pushed_audio = self.late_sound = 0

    # --- tools ---------------------------------------------------------------------------
    def register_tools(self, llm) -> None:
        """Register TOOL_NAMES on a pipecat LLMService; pass ``tools_schema()`` in its context."""
        for name in TOOL_NAMES:
            llm.register_function(name, self._tool_handler)

    async def _tool_handler(self, params) -> None:
        await params.result_callback(self.call_tool(params.function_name, params.arguments))

    def call_tool(self, name: str, arguments: dict[str, Any] | None) -> dict[str, Any]:
        if self.session is None:
            return {"ok": False, "error": "the avatar has not started yet (no StartFrame seen)"}
        return apply_tool(self.session.control.mixer, name, arguments)

    # --- frames ----------------------------------------------------------------------------
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            await self._start()
        elif isinstance(frame, (EndFrame, CancelFrame)):
            await self._stop()
            await self.push_frame(frame, direction)
        elif isinstance(frame, InterruptionFrame):
            self._interrupt()
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSAudioRawFrame) and direction == FrameDirection.DOWNSTREAM:
            if self.session is not None:  # consumed: the same sound leaves with the pictures
                self.session.push_pcm16(frame.audio, frame.sample_rate, frame.num_channels)
        elif isinstance(frame, TTSStoppedFrame):
            if self.session is not None:
                self.session.control.end_segment()
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    async def _start(self) -> None:
        if self.session is not None:
            return
        self._loop = asyncio.get_running_loop()
        out = FrameOutput("pipecat", self._from_engine_video, self._from_engine_audio, self._from_engine_clear)
        # The first session of a portrait analyses it (seconds): off the event loop.
        self.session = await asyncio.to_thread(AvatarSession.create, self.assets, self.options, outputs=(out,))
        self.session.start()
        self._pace_task = self.create_task(self._pace())

    async def _stop(self) -> None:
        if self._pace_task is not None:
            await self.cancel_task(self._pace_task)
            self._pace_task = None
        if self.session is not None:
            session, self.session = self.session, None
            await session.close()

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._stop()

    def _interrupt(self) -> None:
        if self.session is not None:
            self.session.control.interrupt()  # the engine clears our output too (_from_engine_clear)
        self._drop_sound()

    # --- engine thread -> event loop -----------------------------------------------------
    def _from_engine_video(self, frame: VideoFrame) -> None:
        img = frame.image
        out = OutputImageRawFrame(image=img.tobytes(), size=(img.shape[1], img.shape[0]), format="RGB")
        self._enqueue(frame.t + self.video_delay, out)

    def _from_engine_audio(self, chunk: AudioChunk) -> None:
        if not chunk.samples.any():
            return  # between utterances: the transport fills silence itself, and its queue drains
        pcm = (np.clip(chunk.samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        self._enqueue(chunk.t, SpeechOutputAudioRawFrame(audio=pcm, sample_rate=chunk.sample_rate, num_channels=1))

    def _from_engine_clear(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._drop_sound)

    def _drop_sound(self) -> None:
        """Sound already released by the engine but not yet due is speech we must not finish."""
        self._pending = [p for p in self._pending if not isinstance(p[2], SpeechOutputAudioRawFrame)]
        heapq.heapify(self._pending)

    def _enqueue(self, t: float, item: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._add, t, item)

    def _add(self, t: float, item: Any) -> None:
        if len(self._pending) >= MAX_PENDING:  # the pipeline is not taking frames: drop the oldest
            heapq.heappop(self._pending)
            self.dropped += 1
        heapq.heappush(self._pending, (t, next(self._seq), item))
        self._wake.set()

    async def _pace(self) -> None:
        """Push each picture and sound block downstream at its presentation time."""
        clock = self.session.clock if self.session is not None else None
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            t = self._pending[0][0]
            delay = t - clock.now()
            if delay > 0.001:
                self._wake.clear()
                try:  # an earlier item may arrive meanwhile
                    await asyncio.wait_for(self._wake.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                continue
            t, _, item = heapq.heappop(self._pending)
            if isinstance(item, OutputImageRawFrame):
                self.pushed_video += 1
            elif clock.now() - t > LATE_SOUND:  # the loop stalled: this sound's moment has passed
                self.late_sound += 1
                continue
            else:
                self.pushed_audio += 1
            await self.push_frame(item)


__all__ = ["MarionetteVideoService", "TOOL_NAMES", "apply_tool", "tools_schema", "transport_video_delay",
           "AvatarOptions", "SharedAssets"]
