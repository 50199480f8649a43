"""A LiveKit Agents avatar: a Marionette avatar drawn on this machine's CPU for an AgentSession.

LiveKit's avatar interfaces (livekit.agents.voice.avatar) split an avatar in two: an AudioReceiver
that hands the agent's TTS audio over (QueueAudioOutput in the agent's own process, or
DataStreamAudioReceiver in a separate avatar worker), and a VideoGenerator that takes that audio
(push_audio, AudioSegmentEnd at the end of an utterance, clear_buffer on an interruption) and
yields video and audio frames, which AvatarRunner pushes through rtc.AVSynchronizer into the
room. ``MarionetteVideoGenerator`` is that VideoGenerator over one engine session
(plugin/session.py); it yields every picture and sound block at its presentation time, so the
sound leaves with the frame that shows it. ``MarionetteAvatar`` is the one line for an agent:

    await MarionetteAvatar(portrait="face.jpg").start(session, room=ctx.room)

(in the agent's process, like other local avatars: the agent's audio output becomes the avatar,
which publishes a camera and a microphone track as the agent participant). docs/agents.md
describes the separate-worker deployment. Needs the `livekit` extra.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

try:
    from livekit import rtc
    from livekit.agents.voice.avatar import (
        AudioSegmentEnd,
        AvatarOptions as RunnerOptions,
        AvatarRunner,
        AvatarSession as LiveKitAvatarSession,
        QueueAudioOutput,
        VideoGenerator,
    )
except ImportError as e:  # pragma: no cover - depends on the extra
    raise ImportError(f"marionette.plugin.livekit_avatar needs LiveKit Agents: pip install 'marionette[livekit]' ({e})") from e

import numpy as np

from marionette.core.types import AudioChunk, VideoFrame

from .session import AvatarOptions, AvatarSession, FrameOutput, SharedAssets

log = logging.getLogger(__name__)

OUT_RATE = 16000  # the engine's sound (what the mouth was made from), mono
MAX_PENDING = 400  # pictures and sound blocks waiting for their time: about 6 s at 30 fps
LATE_SOUND = 0.1  # s: sound this late when its turn comes is dropped (plugin/pipecat.py says why)
END_GRACE = 0.4  # s after the pushed audio ran out: longer than the picture's latency, so its last sound is out


class MarionetteVideoGenerator(VideoGenerator):
    """livekit.agents.voice.avatar.VideoGenerator over a Marionette session. Start it on the event
    loop that iterates it (``start()``); ``aclose()`` ends the session."""

    def __init__(self, session: AvatarSession) -> None:
        self.session = session
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._segment_open = False
        # The agent's AudioSegmentEnd is answered once the segment has played out. The engine also
        # reports an end whenever pushed audio runs dry (an agent's TTS slower than real time on a
        # busy machine): such an end inside a segment is remembered, not passed on.
        self._flushed = False
        self._dry_at: float | None = None
        self._watcher: asyncio.Task | None = None
        self._last_sound_t = 0.0
        self._unsubscribe = None
        self.dropped = self.late_sound = 0
        session.add_output(FrameOutput("livekit", self._on_video, self._on_audio, self._on_clear))

    @classmethod
    def create(cls, assets: SharedAssets | None = None, options: AvatarOptions | None = None) -> "MarionetteVideoGenerator":
        """Build the session (blocks for the first analysis of a portrait: call it off the loop)."""
        return cls(AvatarSession.create(assets or SharedAssets(), options))

    def start(self) -> None:
        """Run the session on the current event loop (iterating the generator starts it too)."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        from marionette.core.control import SpeechEvent

        def on_event(ev: Any) -> None:
            # The end of pushed speech, on the frame that shows it (engine thread -> event loop).
            if isinstance(ev, SpeechEvent) and ev.kind == "end" and not ev.interrupted:
                if self._loop is not None and not self._loop.is_closed():
                    self._loop.call_soon_threadsafe(self._played_out, ev.t)

        self._unsubscribe = self.session.control.subscribe(on_event)
        self.session.start()

    # --- VideoGenerator ------------------------------------------------------------------
    async def push_audio(self, frame: rtc.AudioFrame | AudioSegmentEnd) -> None:
        if isinstance(frame, AudioSegmentEnd):
            if self._segment_open:
                self.session.control.end_segment()
                self._segment_open = False
                if self._dry_at is not None and self.session.control.playback.pending_seconds() == 0:
                    self._played_out_now(self._dry_at)  # it already ran dry with the last of it
                else:
                    self._flushed = True
                    if self._watcher is None or self._watcher.done():
                        self._watcher = asyncio.get_running_loop().create_task(self._watch_end())
            return
        if not isinstance(frame, rtc.AudioFrame):
            raise TypeError(f"push_audio got {type(frame).__name__}, expected rtc.AudioFrame or AudioSegmentEnd")
        self._segment_open = True
        self._dry_at = None
        self.session.push_pcm16(bytes(frame.data), frame.sample_rate, frame.num_channels)

    def clear_buffer(self) -> None:
        """Interrupted: pending speech, motion and sound not yet out are dropped at once."""
        self._segment_open = self._flushed = False
        self._dry_at = None
        self.session.control.interrupt()  # the engine clears our output too (_on_clear)

    def __aiter__(self) -> AsyncIterator[rtc.VideoFrame | rtc.AudioFrame | AudioSegmentEnd]:
        self.start()  # AvatarRunner iterates without starting
        return self._frames()

    async def aclose(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.session.close()

    # --- engine thread -> event loop -----------------------------------------------------
    def _on_video(self, frame: VideoFrame) -> None:
        img = frame.image
        rgba = np.empty((img.shape[0], img.shape[1], 4), np.uint8)
        rgba[..., :3], rgba[..., 3] = img, 255
        self._enqueue(frame.t, rtc.VideoFrame(img.shape[1], img.shape[0], rtc.VideoBufferType.RGBA, rgba.tobytes()))

    def _on_audio(self, chunk: AudioChunk) -> None:
        if not chunk.samples.any():
            return  # between utterances: no frames, so the runner's playback position counts speech only
        pcm = (np.clip(chunk.samples, -1.0, 1.0) * 32767.0).astype("<i2")
        self._enqueue(chunk.t, rtc.AudioFrame(pcm.tobytes(), chunk.sample_rate, 1, pcm.size))

    def _played_out(self, t: float) -> None:
        """Pushed audio ran dry at ``t`` (event loop thread). The event reaches us a picture latency
        after the queue emptied: more audio may have been queued since (an underrun early in the
        segment), and then this was not the segment's end."""
        if self.session.control.playback.pending_seconds() > 0:
            return
        if self._flushed:
            self._played_out_now(t)
        else:
            self._dry_at = t  # inside the agent's segment, or before its end marker arrives

    async def _watch_end(self) -> None:
        """The engine reports one end per utterance, and an underrun early in a segment may have
        used it up: after the agent's end marker, watch the queue empty, let the last sound through
        the picture's latency, and answer then (unless the engine's own end came first)."""
        while self._flushed and self.session.control.playback.pending_seconds() > 0:
            await asyncio.sleep(0.05)
        await asyncio.sleep(END_GRACE)
        if self._flushed:
            self._played_out_now(max(self._last_sound_t, self.session.clock.now()))

    def _played_out_now(self, t: float) -> None:
        self._flushed, self._dry_at = False, None
        self._add(t, AudioSegmentEnd())

    def _on_clear(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._drop_sound)

    def _drop_sound(self) -> None:
        self._pending = [p for p in self._pending if isinstance(p[2], rtc.VideoFrame)]
        heapq.heapify(self._pending)

    def _enqueue(self, t: float, item: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._add, t, item)

    def _add(self, t: float, item: Any) -> None:
        if len(self._pending) >= MAX_PENDING:
            heapq.heappop(self._pending)
            self.dropped += 1
        if isinstance(item, rtc.AudioFrame):
            self._last_sound_t = max(self._last_sound_t, t)
        heapq.heappush(self._pending, (t, next(self._seq), item))
        self._wake.set()

    async def _frames(self):
        clock = self.session.clock
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self._pending[0][0] - clock.now()
            if delay > 0.001:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                continue
            t, _, item = heapq.heappop(self._pending)
            if isinstance(item, rtc.AudioFrame) and clock.now() - t > LATE_SOUND:
                self.late_sound += 1  # its moment passed in a stall: sent late it would delay all later sound
                continue
            yield item


class MarionetteAvatar(LiveKitAvatarSession):
    """The avatar for an AgentSession, in the agent's process: ``await avatar.start(session, room)``
    routes the session's audio output into the avatar and publishes its video and sound."""

    def __init__(self, *, portrait: str | None = None, width: int = 512, height: int = 512, fps: float = 30.0,
                 generator: str = "envelope", assets: SharedAssets | None = None) -> None:
        super().__init__()
        self.options = AvatarOptions(portrait=portrait, width=width, height=height, fps=fps, generator=generator)
        self.assets = assets or SharedAssets()
        self.video_gen: MarionetteVideoGenerator | None = None
        self.runner: AvatarRunner | None = None
        self._identity = ""

    @property
    def avatar_identity(self) -> str:
        return self._identity

    @property
    def provider(self) -> str:
        return "marionette"

    async def start(self, agent_session, room: rtc.Room) -> None:
        self._identity = room.local_participant.identity if room.isconnected() else ""
        await super().start(agent_session, room)
        self.video_gen = await asyncio.to_thread(MarionetteVideoGenerator.create, self.assets, self.options)
        self.video_gen.start()
        audio_out = QueueAudioOutput(sample_rate=OUT_RATE)
        agent_session.output.audio = audio_out
        o = self.options
        self.runner = AvatarRunner(room, audio_recv=audio_out, video_gen=self.video_gen,
                                   options=RunnerOptions(video_width=o.width, video_height=o.height, video_fps=o.fps,
                                                         audio_sample_rate=OUT_RATE, audio_channels=1))
        await self.runner.start()

    async def aclose(self) -> None:
        if self.runner is not None:
            await self.runner.aclose()
        if self.video_gen is not None:
            await self.video_gen.aclose()
        await super().aclose()


__all__ = ["MarionetteAvatar", "MarionetteVideoGenerator", "AvatarOptions", "SharedAssets"]
