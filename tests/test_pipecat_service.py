"""The Pipecat video service in a real Pipecat pipeline (pipecat.tests.utils.run_test): espeak-ng
speech in as TTSAudioRawFrames; pictures and the same sound out at their presentation times,
the mouth open on the pixels while the sound is loud; an interruption stops the sound at once;
the tools apply to the avatar's controls and answer bad calls with a clear error."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

pytest.importorskip("pipecat", reason="the pipecat extra is not installed (pip install -e '.[pipecat]')")

from pipecat.frames.frames import (  # noqa: E402
    Frame,
    InterruptionFrame,
    OutputImageRawFrame,
    SpeechOutputAudioRawFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.tests.utils import SleepFrame, run_test  # noqa: E402

from marionette.plugin.pipecat import TOOL_NAMES, MarionetteVideoService, tools_schema  # noqa: E402
from marionette.plugin.session import AvatarOptions, SharedAssets  # noqa: E402

SIZE = 256  # small pictures keep the test quick; the path is the same at 512


class Stamper(FrameProcessor):
    """Records (arrival time, frame) of everything that leaves the service."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[float, Frame]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        self.got.append((time.monotonic(), frame))
        await self.push_frame(frame, direction)


@pytest.fixture(scope="module")
def assets():
    a = SharedAssets()
    a.renderer(AvatarOptions(width=SIZE, height=SIZE))  # analyse once: the StartFrame then costs ms
    return a


@pytest.fixture(scope="module")
def speech():
    from marionette.core.speech import synthesize

    audio, _ = synthesize("Hello there. This is the avatar, speaking for a test.", engine="espeak")
    pcm = (np.clip(audio.samples, -1, 1) * 32767).astype("<i2")
    return pcm, audio.sample_rate


def tts_frames(pcm: np.ndarray, rate: int) -> list[Frame]:
    step = rate // 50
    return [TTSStartedFrame(), *[TTSAudioRawFrame(pcm[i:i + step].tobytes(), rate, 1) for i in range(0, pcm.size, step)],
            TTSStoppedFrame()]


def run(assets, frames: list[Frame]) -> tuple[MarionetteVideoService, Stamper]:
    service = MarionetteVideoService(assets=assets, options=AvatarOptions(width=SIZE, height=SIZE))
    stamper = Stamper()
    asyncio.run(run_test(Pipeline([service, stamper]), frames_to_send=frames, start_timeout=10.0))
    return service, stamper


def test_speech_in_pictures_and_same_sound_out_with_the_mouth_moving(assets, speech):
    from marionette.tools.bench.pipeline import MouthMeter

    pcm, rate = speech
    seconds = pcm.size / rate
    service, stamper = run(assets, [SleepFrame(0.5), *tts_frames(pcm, rate), SleepFrame(seconds + 3.0)])
    video = [(t, f) for t, f in stamper.got if isinstance(f, OutputImageRawFrame)]
    audio = [(t, f) for t, f in stamper.got if isinstance(f, SpeechOutputAudioRawFrame)]
    assert not any(isinstance(f, TTSAudioRawFrame) for _, f in stamper.got), "TTS audio must be consumed, not passed on"
    assert any(isinstance(f, TTSStoppedFrame) for _, f in stamper.got)
    assert video and all(f.size == (SIZE, SIZE) and f.format == "RGB" and len(f.image) == SIZE * SIZE * 3 for _, f in video)
    span = video[-1][0] - video[0][0]
    assert len(video) > 10 * span, f"{len(video)} pictures in {span:.1f} s"  # 30 fps asked; the machine is shared
    out = np.concatenate([np.frombuffer(f.audio, "<i2") for _, f in audio]).astype(np.float32) / 32768
    assert all(f.sample_rate == 16000 for _, f in audio)
    # All of the speech comes out, spread over its own duration (blocks of pure silence are left to
    # the transport, which fills silence itself).
    x = pcm.astype(np.float32) / 32768
    spoken = [t for t, f in audio if np.frombuffer(f.audio, "<i2").any()]
    assert abs((spoken[-1] - spoken[0]) - seconds) < 0.3, f"sound spread over {spoken[-1] - spoken[0]:.2f} s"
    assert all(np.frombuffer(f.audio, "<i2").any() for _, f in audio), "no blocks of pure silence are sent"
    ratio = np.sum(out ** 2) / 16000 / (np.sum(x ** 2) / rate)
    assert 0.8 < ratio < 1.25, f"sound energy out/in {ratio:.2f}, {service.dropped} dropped"
    assert np.sqrt(np.mean(out ** 2)) > 0.02

    # The mouth, read on the pixels, follows the loudness of the sound as it leaves.
    renderer = assets.renderer(AvatarOptions(width=SIZE, height=SIZE))
    meter = MouthMeter(renderer)
    tv = np.array([t for t, _ in video])
    mouth = np.array([meter(np.frombuffer(f.image, np.uint8).reshape(SIZE, SIZE, 3)) for _, f in video])
    ta = np.array([t for t, _ in audio])
    loud = np.array([np.sqrt(np.mean((np.frombuffer(f.audio, "<i2") / 32768.0) ** 2)) for _, f in audio])
    grid = np.arange(max(tv[0], ta[0]), min(tv[-1], ta[-1]), 0.01)
    m = tv.searchsorted(grid, side="right") - 1
    a = np.clip(ta.searchsorted(grid, side="right") - 1, 0, len(ta) - 1)
    mg, lg = mouth[m], loud[a] * (grid - ta[a] < 0.1)  # no sound block for 0.1 s: silence
    lags = range(-20, 21)
    corr = [np.corrcoef(mg[max(k, 0):len(mg) + min(k, 0)], lg[max(-k, 0):len(lg) - max(k, 0)])[0, 1] for k in lags]
    best = int(np.argmax(corr))
    print(f"pipecat service: {len(video)} pictures, mouth max {mouth.max():.2f}, "
          f"A/V lag at the service's output {list(lags)[best] * 10} ms (r {corr[best]:.2f})")
    assert mouth.max() > 0.3 and corr[best] > 0.4
    assert abs(list(lags)[best]) <= 10, "picture and sound leave the service within 100 ms of each other"
    last_sound = ta[np.flatnonzero(loud > 0.01)[-1]]
    assert tv[-1] > last_sound + 0.6 and mouth[tv > last_sound + 0.6].max() < 0.2, "the mouth closes after the speech"


def test_interruption_stops_the_sound_at_once(assets, speech):
    pcm, rate = speech
    service, stamper = run(assets, [SleepFrame(0.3), *tts_frames(pcm, rate), SleepFrame(1.2), InterruptionFrame(),
                                    SleepFrame(1.0)])
    t_int = next(t for t, f in stamper.got if isinstance(f, InterruptionFrame))
    audio = [(t, f) for t, f in stamper.got if isinstance(f, SpeechOutputAudioRawFrame)]
    before = sum(f.num_frames for t, f in audio if t <= t_int) / 16000
    def loud(f) -> bool:
        return float(np.sqrt(np.mean((np.frombuffer(f.audio, "<i2") / 32768.0) ** 2))) > 0.005

    after = [t - t_int for t, f in audio if t > t_int and loud(f)]
    assert 0.3 < before < pcm.size / rate, "speech was playing when the interruption came"
    assert any(t > t_int - 0.3 and loud(f) for t, f in audio if t <= t_int), "it was speaking, not pausing"
    assert not after or max(after) < 0.1, f"sound went on {max(after):.2f} s after the interruption"
    assert sum(isinstance(f, OutputImageRawFrame) and t > t_int + 0.5 for t, f in stamper.got) > 5, "pictures go on"


def test_tools_apply_to_the_avatar_and_reject_bad_calls(assets):
    from marionette.plugin.pipecat import apply_tool
    from marionette.plugin.session import AvatarSession

    names = [f.name for f in tools_schema().standard_tools]
    assert names == list(TOOL_NAMES) and {"set_emotion", "gesture", "look_at"} <= set(names)
    service = MarionetteVideoService(assets=assets, options=AvatarOptions(width=SIZE, height=SIZE))
    early = service.call_tool("set_emotion", {"label": "happy"})
    assert not early["ok"] and "not started" in early["error"]

    mixer = AvatarSession.create(assets, AvatarOptions(width=SIZE, height=SIZE)).control.mixer
    assert apply_tool(mixer, "set_emotion", {"label": "happy", "intensity": 0.7})["ok"]
    assert mixer.emotion.label == "happy" and mixer.emotion.intensity == pytest.approx(0.7)
    assert apply_tool(mixer, "gesture", {"name": "nod"})["ok"]
    assert apply_tool(mixer, "look_at", {"x": 0.5, "y": 0.0})["ok"]
    bad = apply_tool(mixer, "set_emotion", {"label": "ecstatic"})
    assert not bad["ok"] and "ecstatic" in bad["error"] and "happy" in bad["error"], bad
    far = apply_tool(mixer, "look_at", {"x": 7, "y": 0})
    print("look_at x=7 ->", far)
    assert not far["ok"] or far["clamped"], far
    unknown = apply_tool(mixer, "speak", {"text": "hi"})
    assert not unknown["ok"] and "set_emotion" in unknown["error"]
    assert mixer.emotion.label == "happy", "a rejected call changes nothing"
