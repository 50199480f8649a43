"""plugin/session.py: what an agent pushes into a session comes out of its outputs, all of it, once."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import scipy.signal as ss

from marionette.plugin.session import AvatarOptions, AvatarSession, FrameOutput, SharedAssets


def test_every_mixed_block_has_a_heard_time():
    """The engine hands a block to sound sinks only with a heard time; t + duration of a block may
    exceed its end on the map by a rounding error (it lost 15 % of pushed speech before the fix)."""
    from marionette.core.engine import AudioMixer
    from marionette.core.types import AudioChunk

    mixer, t, missing = AudioMixer(16000), 0.0, 0
    for n in [533, 534, 267, 1001, 17, 480] * 40:
        mixer.add(1, AudioChunk(np.ones(n, np.float32) * 0.1, 16000, t))
        t += n / 16000
        block = mixer.take()
        missing += block is not None and mixer.heard_at(block.t + block.duration) is None
    assert missing == 0, f"{missing} blocks had no heard time and would never reach a sink"


def test_every_pushed_sample_reaches_the_outputs():
    from marionette.core.speech import synthesize

    assets = SharedAssets()
    options = AvatarOptions(width=128, height=128)
    audio, _ = synthesize("Hello there. This is the avatar, speaking for a test.", engine="espeak")
    pcm = (np.clip(audio.samples, -1, 1) * 32767).astype("<i2")

    async def main() -> list:
        got: list = []
        session = AvatarSession.create(assets, options, outputs=(FrameOutput("cap", lambda f: None, got.append),))
        session.start()
        await asyncio.sleep(0.5)
        session.push_pcm16(pcm.tobytes(), audio.sample_rate)
        session.control.end_segment()
        await asyncio.sleep(pcm.size / audio.sample_rate + 3.0)
        await session.close()
        return got

    out = np.concatenate([c.samples for c in asyncio.run(main())])
    ref = ss.resample_poly(pcm.astype(np.float32) / 32768, 16000, audio.sample_rate)  # the engine's 16 kHz
    loud_out, loud_in = np.sum(np.abs(out) > 0.01) / 16000, np.sum(np.abs(ref) > 0.01) / 16000
    assert loud_out >= 0.95 * loud_in, f"{loud_out:.2f} s of speech came out of {loud_in:.2f} s pushed"


@pytest.mark.parametrize("size", [256, 512])
def test_views_of_one_portrait_render_alike_on_many_threads(size):
    """Sessions render one analysed portrait through views (PortraitRenderer.view, and
    UpscaledRenderer.view when the shot enlarges the photo): on 4 threads at once, every view draws
    exactly what the shared renderer draws alone."""
    from concurrent.futures import ThreadPoolExecutor

    from marionette.core.types import MotionFrame

    assets = SharedAssets()
    options = AvatarOptions(width=size, height=size)
    shared = assets.shared(options)
    motions = [MotionFrame().with_channels({"jawOpen": 0.1 * k, "yaw": k - 4, "eyeBlinkLeft": 0.1 * k}) for k in range(9)]
    expected = [shared.render(m) for m in motions]
    views = [assets.renderer(options) for _ in range(4)]
    assert all(v is not shared for v in views)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda v: [v.render(m) for m in motions * 3], views))
    for frames in results:
        for k, img in enumerate(frames):
            assert np.array_equal(img, expected[k % len(motions)])
