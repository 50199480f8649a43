"""How well an engine's own phone timings agree with forced alignment of its audio.

The check behind the claim that every engine's timings are usable as ground truth: synthesize,
align the audio to the same text with pocketsphinx, match phones by symbol sequence and compare
onsets. Run `python -m marionette.core.speech.agreement` for the table.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from marionette.core.types import Phoneme

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "My mother made a big pot of bean soup for lunch.",
    "Please remember to bring five bottles of water when we visit the museum.",
    "She sells sea shells by the sea shore every summer.",
    "Would you like to go for a walk in the park before it gets dark?",
    "Peter Piper picked a peck of pickled peppers.",
    "The weather forecast says it will be sunny and warm tomorrow afternoon.",
    "We moved to a small village near the mountains three years ago.",
)


@dataclass(frozen=True)
class Agreement:
    engine: str
    matched: int  # phones matched between the two sequences
    total: int  # non-silent phones the engine reported
    median_ms: float  # median |onset difference|
    mean_ms: float  # mean signed difference (engine - alignment)
    p90_ms: float


def onset_differences(a: Sequence[Phoneme], b: Sequence[Phoneme]) -> np.ndarray:
    """Onset of each phone of ``a`` minus that of its match in ``b`` (s), silences ignored."""
    A = [p for p in a if p.symbol != "SIL"]
    B = [p for p in b if p.symbol != "SIL"]
    sm = difflib.SequenceMatcher(a=[p.symbol for p in A], b=[p.symbol for p in B], autojunk=False)
    return np.array([A[m.a + k].start - B[m.b + k].start for m in sm.get_matching_blocks() for k in range(m.size)])


def measure(engine: str, sentences: Sequence[str] = SENTENCES, voice: str | None = None) -> Agreement:
    from marionette.core.speech.align import force_align
    from marionette.core.speech.tts import synthesize

    diffs, total = [], 0
    for text in sentences:
        audio, phones = synthesize(text, engine=engine, voice=voice)
        diffs.append(onset_differences(phones, force_align(audio, text)))
        total += sum(p.symbol != "SIL" for p in phones)
    d = np.concatenate(diffs) * 1000
    return Agreement(engine, int(d.size), total, float(np.median(np.abs(d))), float(d.mean()),
                     float(np.percentile(np.abs(d), 90)))


def main() -> None:
    from marionette.core.speech.tts import available_engines

    for engine, reason in available_engines().items():
        if reason:
            print(f"{engine:9s} unavailable: {reason}")
            continue
        a = measure(engine)
        print(f"{engine:9s} matched {a.matched}/{a.total} phones  median |onset diff| {a.median_ms:.1f} ms  "
              f"mean {a.mean_ms:+.1f} ms  p90 {a.p90_ms:.1f} ms")


if __name__ == "__main__":
    main()
