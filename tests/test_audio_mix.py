"""The live audio mixer with sources that deliver unevenly (a microphone in 20 ms blocks, our own
speech in whatever each tick releases): the stream keeps pace with the clock, each source arrives
whole and in place (no silence pushed into the middle of speech), a lost source stops holding
the stream back, and a lone source that comes back after a gap does not burst."""

from __future__ import annotations

import numpy as np
from marionette.core.engine import AudioMixer
from marionette.core.types import AudioChunk

RATE = 16000


def test_uneven_sources_are_mixed_whole_in_place_and_at_clock_pace():
    rng = np.random.default_rng(0)
    secs = 3.0
    mic = rng.uniform(-0.2, 0.2, int(secs * RATE)).astype(np.float32)
    tts = (0.3 * np.sin(np.arange(int(secs * 24000)) * 0.05)).astype(np.float32)
    m = AudioMixer(RATE)
    blocks, mic_sent, tts_sent = [], 0, 0
    for k in range(1, int(secs * 30) + 1):  # 30 ticks a second
        now = k / 30
        while (mic_sent + 320) / RATE <= now:  # whole 20 ms blocks, as a capture callback delivers
            m.add(1, AudioChunk(mic[mic_sent:mic_sent + 320], RATE, mic_sent / RATE))
            mic_sent += 320
        due = int(now * 24000) - tts_sent  # exactly what is due, as PlaybackSource releases
        m.add(2, AudioChunk(tts[tts_sent:tts_sent + due], 24000, tts_sent / 24000))
        tts_sent += due
        b = m.take()
        if b is not None:
            assert abs(b.t - len(np.concatenate(blocks or [np.zeros(0)])) / RATE) < 1e-9
            blocks.append(b.samples)
        assert m.samples_out / RATE <= now + 1e-9  # never ahead of the clock
        assert m.samples_out / RATE >= now - 0.03  # nor behind it by more than a mic block
    out = np.concatenate(blocks)
    n = out.size
    # 24 kHz -> 16 kHz with the mixer's own resampler: the tts part of the sum, sample for sample.
    from marionette.core.engine import LinearResampler

    expected = mic[:n] + LinearResampler(24000, RATE).process(tts)[:n]
    np.testing.assert_allclose(out[:n - 1], np.clip(expected, -1, 1)[:n - 1], atol=1e-5)
    assert abs(m.heard_at(n / RATE) - n / RATE) < 1e-6  # clock time of the newest sample mixed


def test_a_lost_source_stops_holding_the_stream_and_a_returning_one_does_not_burst():
    m = AudioMixer(RATE)
    m.add(1, AudioChunk(np.zeros(1600, np.float32), RATE, 0.0))  # microphone: 0.1 s, then lost
    for k in range(1, 11):  # our speech keeps coming for 1 s
        m.add(2, AudioChunk(np.full(1600, 0.1, np.float32), RATE, (k - 1) * 0.1))
        m.take()
    assert m.samples_out >= RATE - 1600 - 1  # waited at most max_lag for the lost one
    m.remove(2)
    m.add(1, AudioChunk(np.full(320, 0.5, np.float32), RATE, 5.0))  # back, alone, 4 s later
    b = m.take()
    assert b.samples.size == 320 and np.all(b.samples == 0.5)  # placed at the stream's end, no 4 s of zeros
