"""flite (CMU) through its command line: `-psdur` prints each phone with its end time.

A subprocess per utterance (about 20 ms) keeps us free of a C binding; the voices shipped by
Debian's flite package are compiled in, so `flite -lv` is the whole voice list.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from ..types import AudioChunk, Phoneme
from .errors import EngineUnavailableError
from .phonesets import phoneset

NAME = "flite"
INSTALL_HINT = "install the Debian package flite (apt-get install flite)"
DEFAULT_VOICE = "slt"  # 16 kHz; kal is 8 kHz


def available() -> str | None:
    return None if shutil.which("flite") else f"flite engine: the flite program is not installed; {INSTALL_HINT}"


def voices(language: str = "en") -> list[str]:
    _need()
    return list(_voices(language))


@functools.lru_cache(maxsize=None)
def _voices(language: str) -> tuple[str, ...]:
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
    # awb_time is a limited-domain voice that can only say the time of day.
    names = [v for v in out.split(":", 1)[-1].split() if v != "awb_time"]
    return tuple(names) if language.startswith("en") else ()


def _need() -> None:
    reason = available()
    if reason:
        raise EngineUnavailableError(reason)


def synthesize(text: str, voice: str | None = None, speed: float = 1.0, pitch: float | None = None
               ) -> tuple[AudioChunk, list[Phoneme]]:
    _need()
    voice = voice or DEFAULT_VOICE
    if voice not in voices():
        raise EngineUnavailableError(f"flite has no voice {voice!r}; expected one of {', '.join(voices())}")
    with tempfile.TemporaryDirectory(prefix="marionette-flite-") as tmp:
        wav = Path(tmp) / "out.wav"
        txt = Path(tmp) / "in.txt"
        txt.write_text(text, encoding="utf-8")
        cmd = ["flite", "-voice", voice, "-f", str(txt), "-psdur", "-o", str(wav),
               "--setf", f"duration_stretch={1.0 / speed:.4f}"]
        if pitch:
            # flite's cmu_us voices centre F0 near 100-170 Hz; shift the target mean by semitones.
            base = 170.0 if voice in ("slt",) else 110.0
            cmd += ["--setf", f"int_f0_target_mean={base * 2 ** (pitch / 12):.1f}"]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0 or not wav.exists():
            raise EngineUnavailableError(f"flite failed ({out.returncode}): {out.stderr.strip()[:200]}")
        samples, rate = sf.read(str(wav), dtype="float32", always_2d=False)
    units, prev = [], 0.0
    for tok in out.stdout.split():
        sym, _, end = tok.rpartition(":")
        try:
            t_end = float(end)
        except ValueError:
            continue
        units.append((sym, prev, t_end))
        prev = t_end
    phones, _unknown = phoneset("festvox").convert(units)
    return AudioChunk(np.ascontiguousarray(samples, np.float32), int(rate)), _clip(phones, len(samples) / rate)


def _clip(phones: list[Phoneme], duration: float) -> list[Phoneme]:
    """flite's closing pause may run past the audio it writes; trim timings to the audio."""
    out = [p for p in phones if p.start < duration]
    if out and out[-1].end > duration:
        out[-1] = Phoneme(out[-1].symbol, out[-1].start, round(duration, 4))
    return out
