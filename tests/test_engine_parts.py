"""The live engine's small parts: idle life, the audio mixer and resampler, the playback source
(pacing, interrupt, speech events) and the run configuration."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from marionette.core.clock import FakeClock
from marionette.core.engine import AudioMixer, IdleLife, LinearResampler
from marionette.core.types import AudioChunk, MotionFrame
from marionette.plugin.config import ConfigError, load_config, to_toml
from marionette.plugin.sources import PlaybackSource


def test_idle_life_blinks_looks_around_breathes_and_is_repeatable():
    life = IdleLife(seed=3)
    ts = np.arange(0, 60, 1 / 30)
    frames = [life.apply(MotionFrame(), t) for t in ts]
    blink = np.array([f["eyeBlinkLeft"] for f in frames])
    starts = np.flatnonzero((blink[1:] > 0.5) & (blink[:-1] <= 0.5))
    assert 8 <= len(starts) <= 35  # every 2-6 s, sometimes double
    assert blink.max() > 0.95 and (blink > 0.5).mean() < 0.1  # closes fully, mostly open
    yaw = np.array([f.yaw for f in frames])
    assert 0.5 < yaw.max() - yaw.min() < 5  # small sway, never frozen
    assert np.all(np.abs(np.diff(yaw)) < 0.2)  # smooth
    look = np.array([f["eyeLookInLeft"] + f["eyeLookOutLeft"] for f in frames])
    assert (look > 0.02).mean() > 0.2
    again = IdleLife(seed=3)
    assert all(again.apply(MotionFrame(), t) == f for t, f in zip(ts[:300], frames[:300]))
    # Generated speech motion passes through; idle adds on top and stays in range.
    talk = MotionFrame().with_channels({"jawOpen": 0.7, "eyeBlinkLeft": 0.9})
    out = IdleLife(seed=1).apply(talk, 1.0, speaking=True)
    assert out["jawOpen"] == pytest.approx(0.7) and out["eyeBlinkLeft"] <= 1.0


def test_resampler_chunked_equals_whole():
    x = np.sin(np.arange(22050) * 0.05).astype(np.float32)
    whole = LinearResampler(22050, 16000).process(x)
    rs = LinearResampler(22050, 16000)
    parts = np.concatenate([rs.process(x[i:i + 301]) for i in range(0, x.size, 301)])
    assert abs(whole.size - 16000) <= 1 and parts.size == whole.size
    np.testing.assert_allclose(parts, whole, atol=1e-6)


def test_mixer_sums_sources_and_maps_stream_time_to_heard_time():
    m = AudioMixer(16000)
    m.add(1, AudioChunk(np.full(320, 0.25, np.float32), 16000, t=10.0))
    m.add(2, AudioChunk(np.full(640, 0.5, np.float32), 32000, t=10.0))  # 20 ms at 32 kHz
    block = m.take()
    assert block.sample_rate == 16000 and block.t == 0.0 and block.samples.size == 320
    assert block.samples[100] == pytest.approx(0.75)
    assert m.heard_at(0.02) == pytest.approx(10.02)
    assert m.heard_at(0.01) == pytest.approx(10.01)
    assert m.take() is None  # nothing new
    m.add(1, AudioChunk(np.ones(160, np.float32), 16000, t=10.02))
    m.clear()
    assert m.take() is None


def test_playback_paces_on_the_clock_fills_silence_and_clears():
    clock = FakeClock(5.0)
    src = PlaybackSource(clock, rate=16000)
    assert src.read() is None  # starts the timeline
    tone = np.full(16000, 0.5, np.float32)  # 1 s
    src.push(tone, 16000, label="a")
    clock.advance(0.25)
    c = src.read()
    assert c.t == 5.0 and c.samples.size == 4000 and np.all(c.samples == 0.5)
    marks = src.take_marks()
    assert (marks[0].kind, marks[0].label) == ("start", "a") and marks[0].t == pytest.approx(5.0)
    clock.advance(0.25)
    assert src.read().samples.size == 4000
    src.clear()  # interrupt: the rest is gone, silence follows
    clock.advance(0.1)
    c = src.read()
    assert c.t == pytest.approx(5.5) and np.all(c.samples == 0) and src.pending_seconds() == 0
    # int16 at another rate is accepted and resampled.
    src.push((np.ones(4410) * 16384).astype(np.int16), 44100)
    assert src.pending_seconds() == pytest.approx(0.1, abs=1e-3)
    clock.advance(0.2)
    c = src.read()
    assert c.samples[:1500].mean() == pytest.approx(0.5, abs=0.01) and np.all(c.samples[1700:] == 0)
    assert [m.kind for m in src.take_marks()][-1] == "end"
    with pytest.raises(TypeError, match="expected mono"):
        src.push(np.zeros((10, 2), np.float32), 16000)


def test_config_layers_types_and_unknown_keys(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text('[engine]\nfps = 25\n[audio]\nsource = "tts"\nsay = "hi"\n[sinks]\nmjpeg_port = 9000\n')
    cfg = load_config(p, {"sinks.mjpeg_port": 0, "audio.device": 2})
    assert cfg.engine.fps == 25.0 and cfg.audio.source == "tts" and cfg.audio.say == "hi"
    assert cfg.sinks.mjpeg_port == 0 and cfg.audio.device == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.engine.fps = 30  # frozen
    p2 = tmp_path / "back.toml"
    p2.write_text(to_toml(cfg))
    assert load_config(p2) == cfg
    for bad, match in [({"audio.sorce": "x"}, "unknown key audio.sorce; valid keys"),
                       ({"video.fps": 1}, r"unknown section \[video\]"),
                       ({"engine.fps": "fast"}, "expected float"),
                       ({"audio.source": "radio"}, "expected one of"),
                       ({"engine.fps": 500}, "expected 1..60"),
                       ({"audio.source": "file"}, "needs audio.file")]:
        with pytest.raises(ConfigError, match=match):
            load_config(None, bad)
    p.write_text("[engine\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)
