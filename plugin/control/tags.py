"""Inline tags in text to speak: "[happy] Hello! [nod] Nice to see you." (agent front ends emit these).

A tag naming an emotion (optionally with an intensity, "[sad:0.5]") starts a new segment spoken
with that emotion; a tag naming a gesture fires when the text after it starts. Unknown tags stay
in the text as written, so ordinary brackets are never silently eaten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...core.control.gestures import GESTURES
from ...core.motion_space import EMOTIONS

_TAG = re.compile(r"\[([A-Za-z_]+)(?::([0-9]*\.?[0-9]+))?\]")


@dataclass
class Segment:
    """Text spoken with one emotion; gestures fire at its start (or at the end of speech for the last)."""

    text: str
    emotion: str | None = None
    intensity: float = 1.0
    gestures: list[str] = field(default_factory=list)


def split_tags(text: str, emotion: str | None = None, intensity: float = 1.0) -> tuple[list[Segment], Segment | None]:
    """(segments with text, tail): emotion and gesture tags cut segments; the tail (empty text)
    holds tags after the last word."""
    segments: list[Segment] = []
    cur = Segment("", emotion, intensity)
    pos = 0
    for m in _TAG.finditer(text):
        name = m.group(1).lower()
        if name not in EMOTIONS and name not in GESTURES:
            continue
        cur.text += text[pos:m.start()]
        pos = m.end()
        if name in EMOTIONS:
            if cur.text.strip():
                segments.append(cur)
                cur = Segment("", name, _intensity(m.group(2)))
            else:
                cur.emotion, cur.intensity = name, _intensity(m.group(2))
        elif cur.text.strip():
            # a gesture mid-text: cut here so it fires when the following words start
            segments.append(cur)
            cur = Segment("", cur.emotion, cur.intensity, [name])
        else:
            cur.gestures.append(name)
    cur.text += text[pos:]
    tail: Segment | None = None
    if cur.text.strip():
        segments.append(cur)
    elif cur.gestures or (segments and cur.emotion != segments[-1].emotion):
        tail = cur  # tags after the last word: applied when speech ends
    for s in segments:
        s.text = " ".join(s.text.split())
    return segments, tail


def _intensity(raw: str | None) -> float:
    return 1.0 if raw is None else min(max(float(raw), 0.0), 1.0)
