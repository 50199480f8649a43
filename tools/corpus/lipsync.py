"""`eval lipsync`: a generator's mouth against ground truth on speech that training never sees.

heldout-real: the held-out clips of the recorded speaker (corpus.real), ground truth = the teacher
on their forced alignment. heldout-tts: sentences spoken by the held-out TTS voices, ground truth =
the teacher on the engine's own phone timings. The generator hears the clean audio's features; a
generator that takes text (teacher) gets phones from forced alignment of the transcript, never the
ground-truth timings, so on TTS it pays for alignment error. Everything is prepared from installed
packages and cached, so no corpus build is needed. Trade-off: ground truth is our teacher, not
motion capture: the eval measures agreement with phonetically correct visemes, not realism.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from marionette.core.errors import InputError
from marionette.core.track import MotionTrack
from marionette.core.types import NEUTRAL_VECTOR, AudioChunk, AudioFeatures, Phoneme
from marionette.tools.corpus import metrics, real

EVAL_FPS = 100.0  # scoring rate: predictions are interpolated onto it by their frame times
SPLITS = ("heldout-real", "heldout-tts")
TTS_SENTENCES = 40
# pocketsphinx's US model fails on about a third of the Scottish/Caribbean/Welsh espeak accents, so the
# eval uses the held-out voices in accents it can align (the corpus still trains on the others).
EVAL_ESPEAK_ACCENTS = ("en-us", "en-us-nyc", "en-gb-x-rp")
TTS_TEXT_SEED = 918_273  # a seed of its own: these sentences are not drawn by any corpus build
TTS_VERSION = 3
NOISY_SEED = 5_550_000


@dataclass
class EvalItem:
    name: str
    text: str
    audio: AudioChunk  # clean, 16 kHz
    features: AudioFeatures
    phones: list[Phoneme]  # ground-truth timings
    gt: MotionTrack  # teacher on ``phones`` at EVAL_FPS
    aligned: list[Phoneme] | None = None  # the transcript force-aligned (what a text-taking generator gets)

    @property
    def duration(self) -> float:
        return self.audio.duration


def _item(name: str, text: str, samples: np.ndarray, phones: list[Phoneme]) -> EvalItem:
    from marionette.core.audio import extract_features
    from marionette.tools.corpus.build import checked_phones, teach_track

    audio = AudioChunk(np.asarray(samples, np.float32), 16000)
    feats = extract_features(audio)
    phones = checked_phones(phones, feats, audio.duration)
    gt = teach_track(phones, fps=EVAL_FPS, duration=audio.duration, features=feats, seed=0)
    # Real speech: the ground truth is itself the forced alignment; TTS items replace this.
    return EvalItem(name, text, audio, feats, phones, gt, aligned=phones)


def heldout_real(limit: int | None = None) -> list[EvalItem]:
    from marionette.core.audio import load_audio
    from marionette.core.speech import AlignmentError
    from marionette.tools.corpus.build import PhoneCoverageError

    items = []
    for clip in real.clips("heldout")[:limit]:
        try:
            phones, _ = real.aligned(clip)
            items.append(_item(clip.name, clip.transcript, load_audio(clip.path).samples, phones))
        except (AlignmentError, PhoneCoverageError):
            continue  # a prompt that does not fit its transcript has no ground truth
    return items


def _tts_plan() -> list[tuple[str, str, str]]:
    """(engine, voice, text) for the held-out TTS set: held-out voices only, fixed sentences."""
    from marionette.tools.corpus.build import voice_split
    from marionette.tools.corpus.text import sentences

    held = [(e, v) for e, vs in voice_split(("espeak", "flite", "festival", "piper")).items() for v in vs["heldout"]
            if e != "espeak" or v.partition("+")[0] in EVAL_ESPEAK_ACCENTS]
    if not held:
        raise InputError("no held-out TTS voice is installed (flite rms or espeak-ng variants); run scripts/setup.sh")
    # Spread sentences over voices deterministically: flite first, then espeak variants in a fixed order.
    held.sort(key=lambda ev: (ev[0] != "flite", ev[1]))
    texts = sentences(TTS_SENTENCES, TTS_TEXT_SEED)
    picks = [held[i % len(held)] if i % 3 else held[0] for i in range(len(texts))]
    return [(e, v, t) for (e, v), t in zip(picks, texts)]


def heldout_tts(limit: int | None = None) -> list[EvalItem]:
    """Synthesized once and cached (audio, engine phones, forced-aligned phones) per plan entry.

    Sentences whose audio cannot be aligned to their text are left out for every generator, so
    all generators are judged on the same utterances."""
    from marionette.core.speech import AlignmentError, force_align
    from marionette.tools.corpus.build import PhoneCoverageError, synthesize_sentences

    items = []
    for i, (engine, voice, text) in enumerate(_tts_plan()[:limit]):
        key = hashlib.sha256(f"{TTS_VERSION}:{engine}:{voice}:{text}".encode()).hexdigest()[:16]
        path = real.cache_dir() / "heldout-tts" / f"{i:03d}-{key}.npz"
        if not path.is_file():
            x, phones = synthesize_sentences(text, engine, voice)
            x = x * np.float32(0.9 / max(1e-6, float(np.abs(x).max())))
            try:
                aligned = [[p.symbol, p.start, p.end] for p in force_align(AudioChunk(x, 16000), text)]
            except AlignmentError:
                aligned = None
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp.npz")
            np.savez(tmp, samples=x, phones=json.dumps([[p.symbol, p.start, p.end] for p in phones]),
                     aligned=json.dumps(aligned))
            tmp.replace(path)
        with np.load(path) as z:
            x = z["samples"]
            phones = [Phoneme(s, a, b) for s, a, b in json.loads(str(z["phones"]))]
            aligned = json.loads(str(z["aligned"]))
        if aligned is None:
            continue
        try:
            item = _item(f"{engine}:{voice}:{i:03d}", text, x, phones)
        except PhoneCoverageError:
            continue  # the engine timed only part of the speech: no trustworthy ground truth
        item.aligned = [Phoneme(s, a, b) for s, a, b in aligned]
        items.append(item)
    return items


def predict(generator, item: EvalItem, phones: list[Phoneme] | None) -> np.ndarray:
    """The generator's track for ``item`` resampled to EVAL_FPS by frame time: float32 (T, 58)."""
    generator.reset()
    if phones:
        generator.set_phonemes(phones)
    frames = generator.push(item.features) + generator.flush()
    if not frames:
        return np.tile(NEUTRAL_VECTOR, (len(item.gt), 1))
    t = np.array([f.t for f in frames]) - item.features.t
    v = np.stack([f.to_vector() for f in frames])
    grid = np.arange(len(item.gt)) / EVAL_FPS
    return np.stack([np.interp(grid, t, v[:, c]) for c in range(v.shape[1])], axis=1).astype(np.float32)


def noisy_features(item: EvalItem, index: int) -> AudioFeatures:
    """Features of the item's audio after a fixed, seeded real-use augmentation (never clean)."""
    from marionette.core.audio import extract_features
    from marionette.tools.corpus import augment

    rng = np.random.default_rng(NOISY_SEED + index)
    recipe = augment.draw_recipe(rng, clean_fraction=0.0)
    return extract_features(AudioChunk(augment.apply(item.audio.samples, recipe, rng), 16000))


def evaluate(generator: str = "envelope", split: str = "heldout-real", *, fps: float = 30.0, seed: int = 0,
             limit: int | None = None, noisy: bool = False) -> dict:
    """Scores of one generator on one held-out split, as a flat dict (metrics.LipsyncScores + context).

    noisy: the generator hears the audio through reverb/noise/band-limit/codec (a fixed recipe per
    utterance); the ground truth stays that of the clean speech."""
    from marionette.core.generators import get_generator

    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    t0 = time.monotonic()
    items = heldout_real(limit) if split == "heldout-real" else heldout_tts(limit)
    if not items:
        raise InputError(f"no utterances in {split}; is the speech installed? (scripts/setup.sh --test)")
    t_prep = time.monotonic() - t0
    gen = get_generator(generator, fps=fps, seed=seed)
    takes_text = generator == "teacher"
    utts = []
    t1 = time.monotonic()
    for k, item in enumerate(items):
        phones = item.aligned if takes_text else None
        if noisy:
            item = EvalItem(item.name, item.text, item.audio, noisy_features(item, k), item.phones, item.gt, item.aligned)
        utts.append(metrics.Utterance(item.name, EVAL_FPS, predict(gen, item, phones), item.gt.values, item.phones))
    scores = metrics.score(utts)
    return {
        "generator": generator,
        "split": split,
        "fps": fps,
        "text_given": takes_text,
        "noisy": noisy,
        **scores.to_dict(),
        "minutes": round(sum(i.duration for i in items) / 60, 2),
        "prepare_seconds": round(t_prep, 1),
        "generate_seconds": round(time.monotonic() - t1, 1),
        "definitions": {"closed": f"jawOpen - mouthClose < {metrics.CLOSED_GAP}",
                        "rounded": f"max(mouthFunnel, mouthPucker) >= {metrics.ROUNDED}",
                        "tolerance_ms": metrics.TOLERANCE * 1000, "offset": "+ = prediction late"},
    }
