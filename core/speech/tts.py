"""Text-to-speech engines behind one call, each reporting the phone timings of what it spoke.

Engines are modules with the same four names (available, voices, synthesize, INSTALL_HINT) and
are picked by name; their own alphabets are normalised to ARPAbet in phonesets. Audio comes
back at the engine's own sample rate (AudioChunk carries it); the audio front end resamples.
"""

from __future__ import annotations

import importlib
import threading

from ..types import AudioChunk, Phoneme
from .errors import EngineUnavailableError

ENGINES: tuple[str, ...] = ("piper", "espeak", "flite", "festival")


def _engine(name: str):
    if name not in ENGINES:
        raise EngineUnavailableError(f"unknown speech engine {name!r}; expected one of {', '.join(ENGINES)}")
    return importlib.import_module(f"{__package__}.{name}")


def available_engines() -> dict[str, str | None]:
    """Engine name -> None when usable, else the reason it is not and how to install it."""
    return {name: _engine(name).available() for name in ENGINES}


def list_voices(engine: str = "espeak", language: str = "en") -> list[str]:
    return _engine(engine).voices(language)


def synthesize(text: str, engine: str = "espeak", voice: str | None = None, speed: float = 1.0,
               pitch: float | None = None, *, cancel: threading.Event | None = None
               ) -> tuple[AudioChunk, list[Phoneme]]:
    """Speak ``text``; returns the audio and its ARPAbet phones with times in seconds.

    speed: rate factor (1 = the voice's own). pitch: shift in semitones (None = the voice's own;
    piper cannot shift pitch and says so). cancel: a token; once it is set the call raises (piper
    at its next step, or at once with piper.stop(token); the other engines are short calls)."""
    if not text or not text.strip():
        raise EngineUnavailableError("synthesize: empty text; pass the words to speak")
    if not (0.25 <= speed <= 4.0):
        raise EngineUnavailableError(f"synthesize: speed {speed}, expected 0.25..4")
    mod = _engine(engine)
    reason = mod.available()
    if reason:
        raise EngineUnavailableError(reason)
    if cancel is not None and cancel.is_set():
        raise EngineUnavailableError("synthesis cancelled")
    if engine == "piper":  # the one engine whose long calls can be stopped midway (piper.stop)
        return mod.synthesize(text, voice=voice, speed=speed, pitch=pitch, cancel=cancel)
    return mod.synthesize(text, voice=voice, speed=speed, pitch=pitch)
