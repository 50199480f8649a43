"""Festival through a generated Scheme script: synthesize, save the wave, print the Segment relation.

One festival process per utterance (about 0.2 s start-up) keeps the binding trivial; the
Segment relation holds every phone with its end time, so timings are the engine's own.
"""

from __future__ import annotations

import re
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

NAME = "festival"
INSTALL_HINT = "install the Debian packages festival and festvox-kallpc16k (apt-get install festival festvox-kallpc16k)"
DEFAULT_VOICE = "kal_diphone"


def available() -> str | None:
    return None if shutil.which("festival") else f"festival engine: the festival program is not installed; {INSTALL_HINT}"


def _need() -> None:
    reason = available()
    if reason:
        raise EngineUnavailableError(reason)


def voices(language: str = "en") -> list[str]:
    _need()
    return list(_voices(language))


@functools.lru_cache(maxsize=None)
def _voices(language: str) -> tuple[str, ...]:
    out = subprocess.run(["festival", "-b", "(print (voice.list))"], capture_output=True, text=True).stdout
    names = re.findall(r"[A-Za-z0-9_]+", out)
    return tuple(names) if language.startswith("en") else ()


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def synthesize(text: str, voice: str | None = None, speed: float = 1.0, pitch: float | None = None
               ) -> tuple[AudioChunk, list[Phoneme]]:
    _need()
    voice = voice or DEFAULT_VOICE
    if not re.fullmatch(r"[A-Za-z0-9_]+", voice) or voice not in voices():
        raise EngineUnavailableError(f"festival has no voice {voice!r}; expected one of {', '.join(voices())}")
    with tempfile.TemporaryDirectory(prefix="marionette-festival-") as tmp:
        wav = Path(tmp) / "out.wav"
        lines = [f"(voice_{voice})", f"(Parameter.set 'Duration_Stretch {1.0 / speed:.4f})"]
        if pitch:
            # int_lr (the diphone voices' intonation model) reads its target mean from this list.
            mean = 105.0 * 2 ** (pitch / 12)
            lines.append(f"(set! int_lr_params (list (list 'target_f0_mean {mean:.1f}) (list 'target_f0_std 14)"
                         " (list 'model_f0_mean 170) (list 'model_f0_std 34)))")
        lines += [
            f"(set! utt (SynthText {_scheme_string(text)}))",
            f'(utt.save.wave utt "{wav}" \'riff)',
            '(mapcar (lambda (s) (format t "SEG %s %f\\n" (item.name s) (item.feat s "end")))'
            " (utt.relation.items utt 'Segment))",
        ]
        script = Path(tmp) / "synth.scm"
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = subprocess.run(["festival", "-b", str(script)], capture_output=True, text=True)
        if out.returncode != 0 or not wav.exists():
            raise EngineUnavailableError(f"festival failed ({out.returncode}): {out.stderr.strip()[:200]}")
        samples, rate = sf.read(str(wav), dtype="float32", always_2d=False)
    units, prev = [], 0.0
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "SEG":
            end = float(parts[2])
            units.append((parts[1], prev, end))
            prev = end
    phones, _unknown = phoneset("festvox").convert(units)
    duration = len(samples) / rate
    phones = [p for p in phones if p.start < duration]
    if phones and phones[-1].end > duration:
        phones[-1] = Phoneme(phones[-1].symbol, phones[-1].start, round(duration, 4))
    return AudioChunk(np.ascontiguousarray(samples, np.float32), int(rate)), phones
