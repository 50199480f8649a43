"""The LiveKit avatar (plugin/livekit_avatar.py) against livekit-agents' own classes, in process:
the agent side is a real QueueAudioOutput (what an AgentSession's audio output becomes), wired to
our VideoGenerator as AvatarRunner wires them (frames read from the receiver, clear_buffer on an
interruption), and what the generator yields goes through a real rtc.AVSynchronizer. No LiveKit
server runs here, so nothing is published to a room (docs/agents.md says what was not run)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

pytest.importorskip("livekit.agents", reason="the livekit extra is not installed (pip install -e '.[livekit]')")

from livekit import rtc  # noqa: E402
from livekit.agents.voice.avatar import AudioSegmentEnd, QueueAudioOutput, VideoGenerator  # noqa: E402

from marionette.plugin.livekit_avatar import MarionetteAvatar, MarionetteVideoGenerator  # noqa: E402
from marionette.plugin.session import AvatarOptions, SharedAssets  # noqa: E402

SIZE = 256


@pytest.fixture(scope="module")
def assets():
    a = SharedAssets()
    a.renderer(AvatarOptions(width=SIZE, height=SIZE))
    return a


@pytest.fixture(scope="module")
def speech():
    from marionette.core.speech import synthesize

    audio, _ = synthesize("Hello from LiveKit. The avatar moves its mouth with my voice.", engine="espeak")
    return (np.clip(audio.samples, -1, 1) * 32767).astype("<i2"), audio.sample_rate


async def agent_says(out: QueueAudioOutput, pcm: np.ndarray, rate: int, *, flush: bool = True) -> None:
    step = rate // 50
    for i in range(0, pcm.size, step):
        piece = pcm[i:i + step]
        await out.capture_frame(rtc.AudioFrame(piece.tobytes(), rate, 1, piece.size))
    if flush:
        out.flush()


def run_avatar(assets, script) -> list[tuple[float, object]]:
    """AvatarRunner's wiring without a room: receiver -> generator -> AVSynchronizer."""

    async def main():
        gen = await asyncio.to_thread(MarionetteVideoGenerator.create, assets, AvatarOptions(width=SIZE, height=SIZE))
        assert isinstance(gen, VideoGenerator)
        gen.start()
        out = QueueAudioOutput()
        out.on("clear_buffer", gen.clear_buffer)
        got: list[tuple[float, object]] = []
        audio_src = rtc.AudioSource(16000, 1, queue_size_ms=100)
        video_src = rtc.VideoSource(SIZE, SIZE)
        sync = rtc.AVSynchronizer(audio_source=audio_src, video_source=video_src, video_fps=30, video_queue_size_ms=100)

        async def read():
            async for f in out:
                await gen.push_audio(f)

        async def forward():
            async for f in gen:
                got.append((time.monotonic(), f))
                if not isinstance(f, AudioSegmentEnd):
                    await sync.push(f)

        tasks = [asyncio.create_task(read()), asyncio.create_task(forward())]
        try:
            await script(out, got)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await gen.aclose()
            await sync.aclose()
            await audio_src.aclose()
            await video_src.aclose()
        return got

    return asyncio.run(main())


def loud(f: rtc.AudioFrame) -> float:
    return float(np.sqrt(np.mean((np.frombuffer(bytes(f.data), "<i2") / 32768.0) ** 2)))


def test_agent_audio_in_video_and_the_same_sound_out_then_segment_end(assets, speech):
    from marionette.tools.bench.pipeline import MouthMeter

    pcm, rate = speech

    async def script(out, got):
        await asyncio.sleep(0.5)
        await agent_says(out, pcm, rate)
        deadline = time.monotonic() + pcm.size / rate + 10
        while not any(isinstance(f, AudioSegmentEnd) for _, f in got) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the mouth closes

    got = run_avatar(assets, script)
    video = [(t, f) for t, f in got if isinstance(f, rtc.VideoFrame)]
    audio = [(t, f) for t, f in got if isinstance(f, rtc.AudioFrame)]
    ends = [t for t, f in got if isinstance(f, AudioSegmentEnd)]
    assert video and all(f.width == SIZE and f.height == SIZE and f.type == rtc.VideoBufferType.RGBA for _, f in video)
    assert all(f.sample_rate == 16000 and f.num_channels == 1 for _, f in audio)
    x = pcm.astype(np.float32) / 32768
    energy = sum(np.sum((np.frombuffer(bytes(f.data), "<i2") / 32768.0) ** 2) for _, f in audio) / 16000
    ratio = energy / (np.sum(x ** 2) / rate)
    assert 0.8 < ratio < 1.25, f"the agent's sound comes out: energy out/in {ratio:.2f}"
    last_loud = max(t for t, f in audio if loud(f) > 0.01)
    assert len(ends) == 1 and ends[0] >= last_loud - 0.05, "AudioSegmentEnd once, after the sound played"

    meter = MouthMeter(assets.shared(AvatarOptions(width=SIZE, height=SIZE)))
    rgb = [np.frombuffer(bytes(f.data), np.uint8).reshape(SIZE, SIZE, 4)[..., :3] for _, f in video]
    mouth = np.array([meter(im) for im in rgb])
    tv = np.array([t for t, _ in video])
    speaking = np.array([any(abs(t - ta) < 0.05 and loud(f) > 0.02 for ta, f in audio) for t in tv])
    print(f"livekit: {len(video)} frames, mouth while sound {mouth[speaking].mean():.2f}, "
          f"silent {mouth[~speaking].mean():.2f}")
    assert mouth[speaking].mean() > mouth[~speaking].mean() + 0.1
    assert mouth[tv > last_loud + 0.6].max() < 0.2


def test_clear_buffer_interrupts_at_once(assets, speech):
    pcm, rate = speech
    marks = {}

    async def script(out, got):
        await asyncio.sleep(0.3)
        await agent_says(out, pcm, rate, flush=False)
        await asyncio.sleep(1.2)
        marks["t"] = time.monotonic()
        out.clear_buffer()  # what the agent does when the user barges in
        await asyncio.sleep(1.0)

    got = run_avatar(assets, script)
    audio = [(t, f) for t, f in got if isinstance(f, rtc.AudioFrame)]
    before = [t for t, f in audio if t <= marks["t"] and loud(f) > 0.005]
    after = [t - marks["t"] for t, f in audio if t > marks["t"] and loud(f) > 0.005]
    assert before and marks["t"] - max(before) < 0.3, "it was speaking when interrupted"
    assert not after or max(after) < 0.1, f"sound went on {max(after):.2f} s after clear_buffer"
    assert not any(isinstance(f, AudioSegmentEnd) for _, f in got), "an interrupted segment does not end normally"
    assert sum(isinstance(f, rtc.VideoFrame) and t > marks["t"] + 0.5 for t, f in got) > 5, "pictures go on"


def test_avatar_session_is_livekits_avatar_session():
    from livekit.agents.voice.avatar import AvatarSession

    avatar = MarionetteAvatar(width=SIZE, height=SIZE)
    assert isinstance(avatar, AvatarSession) and avatar.provider == "marionette"
    with pytest.raises(ValueError, match="expected 64..2048"):
        MarionetteAvatar(width=8)


def test_one_line_start_routes_the_agent_sessions_audio_into_the_avatar(assets, speech):
    """MarionetteAvatar.start with livekit-agents' own AgentSession and an rtc.Room that is not
    connected (no server here): the session's audio output becomes the avatar's receiver and the
    runner reads it; publishing waits for a connection that never comes."""
    from livekit.agents import AgentSession

    pcm, rate = speech

    async def main():
        from marionette.core.control import SpeechEvent

        agent_session = AgentSession()
        room = rtc.Room()
        avatar = MarionetteAvatar(width=SIZE, height=SIZE, assets=assets)
        await avatar.start(agent_session, room=room)
        out = agent_session.output.audio
        events: list = []
        avatar.video_gen.session.control.subscribe(lambda e: events.append(e) if isinstance(e, SpeechEvent) else None)
        try:
            assert isinstance(out, QueueAudioOutput) and avatar.runner is not None
            await agent_says(out, pcm[: rate], rate)  # one second of the agent's speech
            await asyncio.sleep(1.5)
            return avatar.video_gen.session.engine.stats(), events
        finally:
            await avatar.aclose()

    stats, events = asyncio.run(main())
    assert stats.frames > 5, stats
    # The avatar started speaking what the agent said (a pushed segment, on the frame that shows it).
    assert [e.kind for e in events][:1] == ["start"] and events[0].speech_id.startswith("push-"), events
