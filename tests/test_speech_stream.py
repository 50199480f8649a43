"""Text of any length is spoken in bounded memory: cut into short chunks (sentences, clauses, words,
and anywhere in a run without spaces), synthesized about one chunk ahead of playback, dropped on
interrupt, refused past the per-connection limits with a line that says why. Real engines
(espeak-ng for speed, piper for memory) and the real PlaybackSource on a fake clock."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from marionette.core.clock import FakeClock
from marionette.core.speech import (
    FallbackSynthesizer, SpeechLimits, SpeechQueueFull, TextSpeaker, available_engines, split_text,
)
from marionette.core.speech.stream import chunk_spans
from marionette.plugin.sources import PlaybackSource

AVAILABLE = available_engines()
needs_espeak = pytest.mark.skipif(AVAILABLE["espeak"] is not None, reason=str(AVAILABLE["espeak"]))
needs_piper = pytest.mark.skipif(AVAILABLE["piper"] is not None, reason=str(AVAILABLE["piper"]))

UNPUNCTUATED = "hello world " * 850  # 10,200 characters, no punctuation (issue 15's repro)


def _words(s: str) -> list[str]:
    return s.split()


@pytest.mark.parametrize("text", [
    UNPUNCTUATED,
    "x" * 5000,  # no spaces at all: cut anywhere
    "Hello! I am Marionette, a talking head that runs on an ordinary processor. Speak to me, or send me text.",
    "word " * 3 + "a" * 400 + " tail, " * 30,
    "\n\n  Line one\nline two\n\n\nline three.  ",
    "é" * 300 + " 漢字漢字。" * 50,
])
def test_chunks_cover_the_text_and_stay_under_their_limits(text):
    first, most = 40, 160
    spans = list(chunk_spans(text, first, most))
    chunks = [text[a:b].strip() for a, b in spans]
    assert all(chunks)
    assert len(chunks[0]) <= first and all(len(c) <= most for c in chunks)
    # Contiguous: nothing lost, nothing repeated.
    assert not text[:spans[0][0]].strip() and not text[spans[-1][1]:].strip()
    assert all(b0 <= a1 and not text[b0:a1].strip() for (_, b0), (a1, _) in zip(spans, spans[1:]))
    assert "".join("".join(c.split()) for c in chunks) == "".join(text.split())


def test_chunks_prefer_sentence_then_clause_ends():
    text = ("Mr. Smith went to Washington. He came back on Tuesday, tired, and slept for two whole days "
            "before he said a word to anybody about the trip.")
    chunks = split_text(text, 40, 160)
    assert chunks[0] == "Mr. Smith went to Washington."  # not after "Mr."
    assert chunks[1].endswith("tired,") or chunks[1].endswith("days") or chunks[1].endswith("trip.")
    # Growing limits: the first is short (quick start), later ones longer.
    assert [len(c) for c in split_text(UNPUNCTUATED, 40, 160)][:4] == [35, 77, 155, 155]


def test_limits_refuse_nonsense():
    with pytest.raises(ValueError, match="first_chars"):
        SpeechLimits(first_chars=200, chunk_chars=100)
    with pytest.raises(ValueError, match="ahead_seconds"):
        SpeechLimits(ahead_seconds=float("nan"))
    with pytest.raises(ValueError, match="max_chars"):
        SpeechLimits(max_chars=0)


def _speaker(limits: SpeechLimits, engine: str = "espeak") -> tuple[TextSpeaker, PlaybackSource, FakeClock]:
    clock = FakeClock()
    out = PlaybackSource(clock, name="speech")
    reports: list = []
    sp = TextSpeaker(out, FallbackSynthesizer([engine]), limits=limits,
                     report=lambda m, lvl: reports.append((lvl, m)))
    sp.reports = reports  # type: ignore[attr-defined]
    return sp, out, clock


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@needs_espeak
def test_long_text_is_synthesized_one_chunk_ahead_then_dropped_on_interrupt():
    sp, out, clock = _speaker(SpeechLimits(ahead_seconds=2.0))
    try:
        sp.say("say-1", UNPUNCTUATED)
        # The clock stands still (nothing plays): the speaker fills ahead_seconds plus one chunk, then waits.
        _wait(lambda: out.pending_seconds() >= 2.0, 30, "speech was never synthesized")
        time.sleep(1.0)
        held, chunks = out.pending_seconds(), sp.chunks
        assert held < 2.0 + 12.0, f"{held:.1f} s buffered: synthesis did not wait for playback"
        assert chunks <= 4
        assert sp.speaking("say-1") and sp.queued()["chars"] > 9000
        # Playing drains the buffer and lets the next chunk through.
        for _ in range(int(held * 50) + 50):
            clock.advance(0.02)
            out.read()
        _wait(lambda: sp.chunks > chunks, 30, "the next chunk never came after playback made room")
        dropped = sp.interrupt()
        out.clear()
        assert dropped == ["say-1"] and not sp.speaking("say-1")
        assert sp.queued() == {"chars": 0, "utterances": sp.queued()["utterances"], "seconds": 0.0}
        time.sleep(1.5)  # a chunk in synthesis at the interrupt is thrown away, never queued
        assert out.pending_seconds() == 0.0
        _wait(lambda: sp.queued()["utterances"] == 0, 10, "the worker never went idle after interrupt")
    finally:
        assert sp.close(30)


@needs_espeak
def test_limits_per_connection_and_in_all_are_refused_with_a_reason():
    sp, out, _ = _speaker(SpeechLimits(max_chars=1000, max_seconds=1800, total_chars=2500, ahead_seconds=1.0))
    try:
        sp.say("a", "hello " * 150, owner="conn-1")  # 900 characters
        with pytest.raises(SpeechQueueFull, match=r"200 characters with 900 already queued .* limit of 1000"):
            sp.say("b", "hello " * 33 + "xx", owner="conn-1")
        sp.say("c", "hello " * 150, owner="conn-2")  # another connection has its own allowance
        with pytest.raises(SpeechQueueFull, match="already has"):
            sp.say("d", "hello " * 150, owner="conn-3")  # 2700 > total 2500
        sp.interrupt()
        sp.say("e", "hello " * 150, owner="conn-1")  # interrupt made room
        slow = TextSpeaker(out, FallbackSynthesizer(["espeak"]), limits=SpeechLimits(max_seconds=10))
        try:
            with pytest.raises(SpeechQueueFull, match=r"about \d+ s of speech .* limit is 10 s"):
                slow.say("f", "hello " * 100)
        finally:
            slow.close(30)
    finally:
        assert sp.close(30)


@needs_espeak
def test_a_failing_chunk_is_reported_and_the_next_utterance_plays():
    sp, out, _ = _speaker(SpeechLimits())
    try:
        sp.say("bad", "hello there", voice="no-such-voice-xyz")
        sp.say("good", "hello again")
        _wait(lambda: out.pending_seconds() > 0.3, 30, "the utterance after a failure never played")
        assert sp.reports and sp.reports[0][0] == "error" and "no-such-voice-xyz" in sp.reports[0][1]
        assert sp.queued()["chars"] == 0
    finally:
        assert sp.close(30)


@needs_espeak
def test_close_during_synthesis_returns_promptly():
    sp, out, _ = _speaker(SpeechLimits(ahead_seconds=1000.0, max_seconds=10_000))
    sp.say("long", UNPUNCTUATED)
    _wait(lambda: sp.chunks >= 1, 30, "synthesis never started")
    t0 = time.monotonic()
    assert sp.close(30), "the speech worker did not stop"
    assert time.monotonic() - t0 < 15  # one chunk at most, not the whole text (was tens of seconds)
    with pytest.raises(SpeechQueueFull, match="shutting down"):
        sp.say("late", "hello")


_MEMORY_PROBE = r"""
import json, sys, time
from marionette.core.clock import FakeClock
from marionette.core.memory import rss_mb
from marionette.core.speech import FallbackSynthesizer, SpeechLimits, TextSpeaker, synthesize
from marionette.plugin.sources import PlaybackSource

synthesize("Hi.", engine="piper")  # the voice loaded: the idle figure
idle = rss_mb()
clock = FakeClock()
out = PlaybackSource(clock)
sp = TextSpeaker(out, FallbackSynthesizer(["piper"]), limits=SpeechLimits(ahead_seconds=3.0, max_seconds=1e4))
sp.say("s", "hello world " * int(sys.argv[1]))
peak, t0 = idle, time.monotonic()
while sp.chunks < int(sys.argv[2]) and time.monotonic() - t0 < 240:
    clock.advance(0.1)  # play in fake time: each chunk is synthesized as room is made
    out.read()
    peak = max(peak, rss_mb())
    time.sleep(0.01)
sp.interrupt(); out.clear()
time.sleep(2.0)
print(json.dumps({"idle": idle, "peak": peak, "after": rss_mb(), "chunks": sp.chunks}))
sp.close(30)
"""


@needs_piper
def test_piper_memory_stays_bounded_for_unpunctuated_text_and_returns_after_interrupt():
    # 1,000 unpunctuated words; before chunking one call grew piper by about 1 GB per 1,000 characters.
    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, "1000", "6"], capture_output=True, text=True,
                         timeout=400)
    assert out.returncode == 0, out.stderr[-2000:]
    m = json.loads(out.stdout.strip().splitlines()[-1])
    assert m["chunks"] >= 6, m
    assert m["peak"] - m["idle"] < 400, m  # generous: synthesizing a 155-character chunk peaks at about +250 MB
    assert m["after"] - m["idle"] < 80, m


@needs_piper
def test_interrupt_stops_a_long_piper_chunk_and_the_next_utterance_still_plays():
    # One 1,500-character chunk takes piper tens of seconds here; interrupt must not wait for it,
    # and must not cancel what is said right after (speak with interrupt=true).
    sp, out, _ = _speaker(SpeechLimits(first_chars=1500, chunk_chars=1500, max_seconds=10_000), engine="piper")
    try:
        sp.say("long", ("hello world " * 200)[:1500])
        time.sleep(2.0)  # in synthesis (or still loading the voice: cancel stops that too)
        t0 = time.monotonic()
        sp.interrupt()
        sp.say("next", "Good morning.")
        _wait(lambda: out.pending_seconds() > 0.3, 60, "the utterance after the interrupt never played")
        took = time.monotonic() - t0
        assert sp.chunks == 1 and not sp.reports, (sp.chunks, sp.reports)
        assert out.pending_seconds() < 3.0  # only "Good morning.", nothing of the long text
        assert took < 20, f"{took:.1f} s: the interrupted chunk was synthesized to its end"
    finally:
        assert sp.close(30)


@needs_piper
def test_a_cancel_never_outlives_the_call_it_was_for():
    # A cancel while nothing (or another engine) runs must not stop the next piper call: each
    # call has its own token (a process-wide flag once cut off the first chunk after an interrupt).
    idle = FallbackSynthesizer(["piper"])
    idle.cancel()
    audio, phones = idle("Good morning.", None)
    assert audio.samples.size > 0 and phones
    other = FallbackSynthesizer(["espeak"]) if AVAILABLE["espeak"] is None else idle
    threading.Thread(target=lambda: other(UNPUNCTUATED[:400], None), daemon=True).start()
    time.sleep(0.2)
    other.cancel()
    audio, _ = FallbackSynthesizer(["piper"])("Good evening.", None)
    assert audio.samples.size > 0


@needs_espeak
def test_a_chunked_utterance_is_one_start_and_one_end():
    # Every chunk is pushed with the utterance's id and starts a segment of its own; agents must
    # still see one speech_start and one speech_end (a pause while synthesis catches up, which
    # TextSpeaker.speaking() tells apart from the end, is not an end either).
    import asyncio

    from marionette.core.control import SpeechEvent
    from marionette.plugin.config import load_config
    from marionette.plugin.live import build_live

    cfg = load_config(None, {"audio.source": "tts", "audio.play": False, "audio.tts_engine": "espeak",
                             "audio.say": "", "sinks.virtualcam": False, "sinks.mjpeg": False,
                             "sinks.virtual_mic": False, "engine.width": 128, "engine.height": 128})
    clock = FakeClock()
    app = build_live(cfg, clock=clock)
    events = []
    app.subscribe(lambda e: events.append(e) if isinstance(e, SpeechEvent) else None)
    sid = app.say("hello world " * 30)  # 360 characters: chunks of 24, 48, 96, 160, ...

    async def go():
        task = asyncio.create_task(app.run(40.0))
        while not task.done():
            await asyncio.sleep(0.005)  # real time passes, so synthesis keeps going while frames run
        await app.close()

    asyncio.run(go())
    assert app.speaker.chunks >= 4
    assert [(e.kind, e.speech_id) for e in events] == [("start", sid), ("end", sid)], events
