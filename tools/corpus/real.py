"""Real recorded speech: Asterisk's English prompts (Allison Smith, CC-BY-SA-3.0, Debian packages
asterisk-core-sounds-en-g722 for 16 kHz G.722 audio and asterisk-core-sounds-en for the transcripts).

One speaker, about 25 minutes in 560 clips. Clips are force-aligned to their transcripts once and
cached (pocketsphinx costs ~0.3 s per second of audio). The held-out split is by clip, fixed by a
hash of the clip name, so every tool (corpus builder, eval lipsync) agrees on it without a build.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from marionette.core.errors import InputError
from marionette.core.types import Phoneme

SOUNDS_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
APT_PACKAGES = ("asterisk-core-sounds-en-g722", "asterisk-core-sounds-en")
LICENSE = "CC-BY-SA-3.0, recorded by Allison Smith (Debian asterisk-core-sounds-en 1.6.1)"
HELDOUT_PERCENT = 15  # of clips, chosen by hash of the clip name
CACHE_VERSION = 1


@dataclass(frozen=True)
class Clip:
    name: str  # e.g. "vm-deleted" or "digits/5"
    path: Path
    transcript: str

    @property
    def heldout(self) -> bool:
        return is_heldout_clip(self.name)


def is_heldout_clip(name: str) -> bool:
    h = int(hashlib.sha256(f"marionette-real-split:{name}".encode()).hexdigest()[:8], 16)
    return h % 100 < HELDOUT_PERCENT


def cache_dir() -> Path:
    base = os.environ.get("MARIONETTE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "marionette")
    return Path(base)


def speakable(transcript: str) -> str | None:
    """The words of a prompt as spoken, or None for non-speech ("[beep tone]") or empty prompts.

    Keypad symbols are read as Allison reads them ("star", "pound"); digits are spelled later by
    the aligner's normaliser.
    """
    text = transcript.strip()
    if not text or re.fullmatch(r"[\[(].*[\])]\.?", text):
        return None  # "[beep tone]", "(10 seconds of silence)"
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", text)  # stage directions and notes inside a prompt
    text = text.replace("*", " star ").replace("#", " pound ")
    text = re.sub(r"\s+", " ", text).strip()
    return text if re.search(r"[A-Za-z0-9]", text) else None


def available() -> str | None:
    """None when the recordings and transcripts are installed, else how to install them."""
    if not SOUNDS_DIR.is_dir() or not TRANSCRIPTS.is_file():
        return ("real recorded speech needs the Debian packages " + " and ".join(APT_PACKAGES)
                + f" (apt-get install {' '.join(APT_PACKAGES)}; scripts/setup.sh --test installs them)")
    return None


def clips(split: str = "all") -> list[Clip]:
    """Speech clips with transcripts, sorted by name. split: all | train | heldout."""
    reason = available()
    if reason:
        raise InputError(reason)
    if split not in ("all", "train", "heldout"):
        raise ValueError(f"split {split!r}, expected all, train or heldout")
    out = []
    with gzip.open(TRANSCRIPTS, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(";") or ":" not in line:
                continue
            name, _, text = line.partition(":")
            name = name.strip()
            words = speakable(text)
            path = SOUNDS_DIR / f"{name}.g722"
            if words is None or not path.is_file():
                continue
            clip = Clip(name, path, words)
            if split == "all" or (split == "heldout") == clip.heldout:
                out.append(clip)
    return sorted(out, key=lambda c: c.name)


def aligned(clip: Clip) -> tuple[list[Phoneme], float]:
    """(phones, duration) of a clip, force-aligned on first use and cached as JSON.

    Raises the aligner's AlignmentError when the recording does not fit its transcript.
    """
    key = hashlib.sha256(f"{CACHE_VERSION}:{clip.name}:{clip.transcript}:{clip.path.stat().st_size}".encode()).hexdigest()[:16]
    path = cache_dir() / "alignments" / f"{clip.name.replace('/', '__')}-{key}.json"
    if path.is_file():
        doc = json.loads(path.read_text())
        return [Phoneme(s, a, b) for s, a, b in doc["phones"]], doc["duration"]
    from marionette.core.audio import load_audio
    from marionette.core.speech import force_align

    audio = load_audio(clip.path)
    phones = force_align(audio, clip.transcript)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"clip": clip.name, "transcript": clip.transcript, "duration": audio.duration,
                               "phones": [[p.symbol, p.start, p.end] for p in phones]}))
    tmp.replace(path)  # atomic: two workers aligning the same clip never leave a torn file
    return phones, audio.duration
