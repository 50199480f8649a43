"""Phone timings of speech we synthesize reach the teacher generator in the live engine: real
espeak-ng speech, the real feature extractor, renderer and teacher, on a fake clock. The lips close
on every M/B/P and open on the vowels at the moment the sound is played; interrupt drops pending
phones; a microphone mixed in moves the lips through the audio part (here the envelope) outside
the utterance; audio-only generators see exactly what they saw before. The utterance's start is
read from the speech marks the engine hands forward (stamped with the moment it is heard)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from engine_doubles import ScriptedSource, tone_bursts
from marionette.core.audio import StreamingFeatureExtractor
from marionette.core.clock import FakeClock
from marionette.core.engine import Engine
from marionette.core.face import FaceAnalyzer, default_portrait_path, load_image
from marionette.core.generators import get_generator
from marionette.core.render.renderer import PortraitRenderer
from marionette.core.speech import available_engines, synthesize
from marionette.core.stages import PhoneDriven
from marionette.core.teacher import lip_gap
from marionette.plugin.sources import PlaybackSource

FPS = 30.0
TEXT = "Maybe we should ask Peter about the blue boat."
BILABIAL = {"M", "B", "P"}
OPEN_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "OW"}  # (the teacher keeps IY, UW, ... nearly closed)
CLOSED, OPEN = 0.05, 0.12  # lip gap (jawOpen - mouthClose): touching below, clearly apart above


@pytest.fixture(scope="module")
def speech():
    if available_engines()["espeak"]:
        pytest.skip(available_engines()["espeak"])
    return synthesize(TEXT, engine="espeak")


@pytest.fixture(scope="module")
def renderer():
    image = load_image(default_portrait_path())
    return PortraitRenderer.load(image, FaceAnalyzer.load().analyze(image), size=(192, 192))


class MarkSink:
    """core.stages.SpeechSink keeping the marks the engine hands forward."""

    name = "marks"

    def __init__(self) -> None:
        self.marks = []

    def send_speech(self, mark) -> None:
        self.marks.append(mark)

    def close(self) -> None:
        pass


def make_engine(renderer, clock, generator="teacher", **kw) -> Engine:
    from marionette.plugin.live import live_generator

    gen = live_generator(generator, fps=FPS)  # teacher: per source, the envelope for audio without phones
    # A fixed A/V delay (no retuning), so a mark's stamp minus it is the release time exactly.
    eng = Engine(renderer=renderer, generator=gen, clock=clock, fps=FPS,
                 features=StreamingFeatureExtractor.load(), av_delay=0.1, **kw)
    eng.mark_sink = MarkSink()
    eng.add_sink(eng.mark_sink)
    return eng


def released(eng: Engine) -> float:
    """Clock time the first utterance's first sample was released (its mark is stamped heard)."""
    mark = next(m for m in eng.mark_sink.marks if m.kind == "start")
    return mark.t - eng.av_delay


def run(engine: Engine, seconds: float, during=None):
    async def go():
        task = asyncio.create_task(engine.run(seconds))
        if during is not None:
            await during(engine)
        stats = await task
        await engine.close()
        return stats

    return asyncio.run(go())


def at(clock, t: float, action):
    async def during(engine):
        while clock.now() < t:
            await asyncio.sleep(0)
        action()

    return during


def shown(engine: Engine) -> list:
    """(tick, motion vector, who drove the generator) of every frame shown."""
    out = []
    phone_driven = isinstance(engine.generator, PhoneDriven)
    engine.on_frame(lambda v, m: out.append((v.t, m.to_vector(), engine.generator.segment_driver() if phone_driven else "")))
    return out


def check_phones(frames, phones, heard: float) -> None:
    """Lips touch within +-60 ms of each bilabial and part on each long open vowel, on the played
    clock (``heard``: when the utterance's first sample is played)."""
    ticks = np.array([t for t, _, _ in frames])
    gap = lip_gap(np.stack([v for _, v, _ in frames]))
    for p in phones:
        a, b = heard + p.start, heard + p.end
        if p.symbol in BILABIAL:
            near = (ticks >= a - 0.06) & (ticks <= b + 0.06)
            assert near.any() and gap[near].min() < CLOSED, (p, gap[near])
        elif p.symbol in OPEN_VOWELS and p.end - p.start >= 0.1:
            inside = (ticks >= a) & (ticks <= b)
            assert gap[inside].max() > OPEN, (p, gap[inside])


def av_lag(frames, heard: float, audio, phones) -> tuple[float, float]:
    """Offset (s, + = picture late) of the lips shown live from the teacher's lips for the same
    speech offline, placed at the moment it is played; and the correlation at that offset."""
    from marionette.core.generators import generate_track

    offline = lip_gap(generate_track(get_generator("teacher", fps=100), audio, phonemes=phones).values)
    ticks = np.array([t for t, _, _ in frames])
    gap = lip_gap(np.stack([v for _, v, _ in frames]))
    sel = (ticks > heard) & (ticks < heard + audio.duration)
    lags = np.arange(-0.1, 0.1001, 0.005)
    corr = [np.corrcoef(gap[sel], np.interp(ticks[sel] - heard - lag, np.arange(offline.size) / 100, offline))[0, 1]
            for lag in lags]
    k = int(np.argmax(corr))
    return float(lags[k]), float(corr[k])


@pytest.mark.parametrize("segment_max", [20.0, 0.3])  # 0.3: the engine also cuts inside the utterance
def test_teacher_lips_follow_tts_phones_at_the_played_moment(renderer, speech, segment_max):
    audio, phones = speech
    clock = FakeClock()
    play = PlaybackSource(clock, rate=24000)
    eng = make_engine(renderer, clock, sources=[play], segment_max=segment_max)
    frames = shown(eng)
    play.push(audio.samples, audio.sample_rate, label="u1", phonemes=phones)
    stats = run(eng, audio.duration + 1.0)
    # Sound is heard av_delay after release; `marionette run` retunes it to the measured latency.
    delay = stats.latency_p50_ms / 1e3
    start = released(eng)
    check_phones(frames, phones, start + delay)
    lag, corr = av_lag(frames, start + delay, audio, phones)
    print(f"teacher path A/V offset (fake clock, delay = measured latency {delay * 1e3:.0f} ms): "
          f"{lag * 1e3:+.0f} ms, correlation {corr:.2f}")
    assert corr > 0.9 and abs(lag) <= 0.02
    # The generator's driver at a tick is the one for the audio released then (shown ``delay`` later).
    drivers = [d for t, _, d in frames if start + 0.05 < t < start + audio.duration - 0.05]
    assert set(drivers) - {""} == {"teacher"}  # "": a segment just cut, the next not begun
    notes = [e for e in eng.events if e.component == "stage:generator" and "envelope" in e.message]
    assert len(notes) == 1 and notes[0].level == "info" and "moves the lips with envelope" in notes[0].message
    after = np.stack([v for t, v, _ in frames if t > start + delay + audio.duration + 0.3])
    assert lip_gap(after).max() < 0.03  # silence after the utterance: the fallback keeps lips closed


def test_interrupt_drops_pending_phones(renderer, speech):
    audio, phones = speech
    clock = FakeClock()
    play = PlaybackSource(clock, rate=24000)
    eng = make_engine(renderer, clock, sources=[play])
    frames = shown(eng)
    for k in range(3):  # three utterances queued; the second is interrupted in its middle
        play.push(audio.samples, audio.sample_rate, label=f"u{k}", phonemes=phones)
    cut = audio.duration * 1.5
    buzz = np.concatenate([c.samples for c in tone_bursts(16000, 1.0, [(0.0, 1.0)])])

    def interrupt_then_push_plain_audio():
        eng.clear()
        play.push(buzz, 16000, label="plain")  # audio without phones right after the interrupt

    run(eng, cut + 1.6, at(clock, cut, interrupt_then_push_plain_audio))
    assert play.take_phonemes() == [] and eng._phones.pending == 0 and eng._phones.active is None
    after = [(t, v, d) for t, v, d in frames if t > cut + 0.2]
    # The buzz moves the lips through the envelope fallback: no phone of the dropped utterances
    # (which would drive the teacher and close the lips on their M/B/P) reaches it.
    assert {d for t, _, d in after if t < cut + 1.0} == {"envelope"}
    gap = lip_gap(np.stack([v for _, v, _ in after]))
    ts = np.array([t for t, _, _ in after])
    assert gap[(ts > cut + 0.35) & (ts < cut + 1.0)].min() > 0.1  # open all through the buzz
    assert gap[ts > cut + 1.4].max() < 0.05  # and closed once it ends


def test_microphone_mixed_in_is_envelope_outside_the_utterance(renderer, speech):
    audio, phones = speech
    clock = FakeClock()
    play = PlaybackSource(clock, rate=24000)
    t_say = 1.5
    mic = ScriptedSource(clock, tone_bursts(16000, 6.0, [(0.3, 1.0), (t_say + audio.duration + 0.6, 5.4)]))
    eng = make_engine(renderer, clock, sources=[mic, play])
    frames = shown(eng)
    run(eng, 6.0, at(clock, t_say, lambda: play.push(audio.samples, audio.sample_rate, label="u", phonemes=phones)))
    delay = eng.stats().latency_p50_ms / 1e3
    start = released(eng)
    ts = np.array([t for t, _, _ in frames])
    gap = lip_gap(np.stack([v for _, v, _ in frames]))
    drivers = np.array([d for _, _, d in frames])
    span = (ts > start + 0.05) & (ts < start + audio.duration - 0.05)  # drivers go with release times
    assert set(drivers[span]) == {"teacher"}
    check_phones(frames, phones, start + delay)
    for a, b in ((0.3, 1.0), (t_say + audio.duration + 0.6, 5.4)):  # microphone bursts: envelope, mouth open
        assert set(drivers[(ts > a) & (ts < b)]) == {"envelope"}, (a, b)
        shown_burst = (ts > a + delay + 0.15) & (ts < b + delay)
        assert gap[shown_burst].min() > 0.1, (a, b)


def test_audio_only_generators_are_unchanged_by_phones(renderer, speech):
    audio, phones = speech

    def motion(with_phones: bool) -> np.ndarray:
        clock = FakeClock()
        play = PlaybackSource(clock, rate=24000)
        eng = make_engine(renderer, clock, generator="envelope", sources=[play])
        frames = shown(eng)
        play.push(audio.samples, audio.sample_rate, label="u", phonemes=phones if with_phones else None)
        run(eng, audio.duration + 0.3)
        return np.stack([v for _, v, _ in frames])

    a, b = motion(True), motion(False)
    assert lip_gap(a).max() > 0.2
    np.testing.assert_array_equal(a, b)


def test_live_app_with_teacher_says_and_is_interrupted(speech):
    """The wiring of `marionette run --generator teacher`: build_live gives the teacher its envelope
    fallback, say() hands the phones over, interrupt() ends them."""
    from marionette.core.control import SpeechEvent
    from marionette.plugin.config import load_config
    from marionette.plugin.live import build_live, load_parts

    cfg = load_config(None, {"engine.generator": "teacher", "engine.width": 192, "engine.height": 192,
                             "audio.source": "tts", "audio.play": False, "audio.tts_engine": "espeak",
                             "sinks.virtualcam": False, "sinks.mjpeg": False})
    # say() speaks in chunks (core/speech/stream.py): the phones to expect are those of the same
    # chunks, back to back (all are synthesized before the fake clock starts, so no gaps).
    from marionette.core.speech import SpeechLimits, split_text
    from marionette.core.types import Phoneme

    limits = SpeechLimits()
    phones, duration = [], 0.0
    for chunk in split_text(TEXT, limits.first_chars, limits.chunk_chars):
        part, part_phones = synthesize(chunk, engine="espeak")
        phones += [Phoneme(p.symbol, p.start + duration, p.end + duration) for p in part_phones]
        duration += part.duration
    clock = FakeClock()
    app = build_live(cfg, clock=clock, parts=load_parts(cfg))
    events, frames = [], shown(app.engine)
    app.subscribe(events.append)
    app.say(TEXT)
    app.say("Bob, please bring the big map.")  # queued behind, interrupted 0.3 s into it
    deadline = time.monotonic() + 30
    while app.speaker.queued()["chars"] > 0:  # every chunk synthesized and queued
        assert time.monotonic() < deadline, "speech was never synthesized"
        time.sleep(0.02)

    async def go():
        task = asyncio.create_task(app.run(4.0))
        while clock.now() < duration + 0.3:
            await asyncio.sleep(0)
        app.interrupt()
        await task
        await app.close()

    asyncio.run(go())
    speech_events = [e for e in events if isinstance(e, SpeechEvent)]
    start = speech_events[0]
    assert start.kind == "start" and speech_events[-1].interrupted
    # The start event comes with the first frame at or after the sound is played.
    check_phones(frames, phones, start.t - 1 / FPS / 2)
    cut = duration + 0.3
    assert {d for t, _, d in frames if t > cut + 0.1} <= {"envelope", ""}  # the second sentence's phones never arrive
    assert lip_gap(np.stack([v for t, v, _ in frames if t > cut + 0.35])).max() < 0.05
