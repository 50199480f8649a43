"""The corpus builder: many synthetic voices plus real recorded speech -> (features, teacher motion, phones).

A seeded plan (every utterance's source, voice, speed, pitch, text, emotion, augmentation and split)
is drawn first, then executed in worker processes in order, so the same seed gives the same corpus
(piper's VITS noise aside: its graph draws unseeded noise). The audio the model hears is augmented;
the motion target is taught from the clean audio's phones and prosody. Held out, never trained on:
whole TTS voices, and a fixed 15 % of the real clips (corpus.real.is_heldout_clip).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from marionette.core.errors import InputError
from marionette.core.motion_space import EMOTIONS
from marionette.tools.corpus import augment, real
from marionette.tools.corpus.shards import CorpusUtterance, write_shard
from marionette.tools.corpus.text import sentence

ENGINE_WEIGHTS = {"piper": 0.3, "espeak": 0.35, "flite": 0.2, "festival": 0.15}
# espeak variants that are effects rather than voices (whisper, robots, growls) stay out.
_ESPEAK_SKIP = re.compile(r"robo|Robot|whisper|croak|Demonic|Tweaky|Storm|kaukovalta|fast|klatt", re.I)
# Held-out voices: no utterance of theirs is ever in the training split.
HELDOUT_VOICES = {
    "flite": {"rms"},
    "espeak": {"variants": {"f4", "m6", "Andy", "linda"}},
}
HELDOUT_TTS_SHARE = 0.06  # of the synthetic time
EMOTION_SHARE = 0.35  # utterances taught with a non-neutral emotion
AUDIO_RATE = 16000


@dataclass(frozen=True, kw_only=True)
class BuildConfig:
    out: Path
    hours: float = 2.0
    seed: int = 0
    fps: float = 25.0  # motion frames per second in the shards
    real_copies: int = 3  # augmented passes over each training clip of real speech
    max_real_share: float = 0.5  # real speech at most this share of the hours (small builds)
    shard_seconds: float = 600.0
    workers: int = 2
    engines: tuple[str, ...] = ("piper", "espeak", "flite", "festival")
    progress: bool = True


@dataclass(frozen=True)
class Job:
    uid: str
    split: str  # train | heldout
    source: str  # tts | real
    seed: int
    est_seconds: float
    engine: str | None = None
    voice: str | None = None
    speed: float = 1.0
    pitch: float | None = None
    text: str = ""
    clip: str | None = None
    emotion: tuple[str, float] = ("neutral", 1.0)
    recipe: augment.Recipe = field(default_factory=augment.Recipe)

    def meta(self) -> dict:
        d = {"split": self.split, "source": self.source, "text": self.text, "seed": self.seed,
             "emotion": {"label": self.emotion[0], "intensity": self.emotion[1]}, "augment": self.recipe.to_dict()}
        if self.source == "tts":
            d.update(engine=self.engine, voice=self.voice, speed=self.speed, pitch=self.pitch)
        else:
            d.update(clip=self.clip, speaker="asterisk-allison")
        return d


# ------------------------------------------------------------------------------ voices
def voice_split(engines: tuple[str, ...]) -> dict[str, dict[str, list[str]]]:
    """engine -> {"train": [...], "heldout": [...]} among the voices installed here."""
    from marionette.core.speech import available_engines, list_voices

    usable = available_engines()
    out = {}
    for eng in engines:
        if usable.get(eng) is not None:
            continue
        voices = list_voices(eng)
        if eng == "espeak":
            voices = [v for v in voices if not _ESPEAK_SKIP.search(v)]
            held = [v for v in voices if v.partition("+")[2] in HELDOUT_VOICES["espeak"]["variants"]]
        else:
            held = [v for v in voices if v in HELDOUT_VOICES.get(eng, set())]
        out[eng] = {"train": [v for v in voices if v not in held], "heldout": held}
    return out


def _emotion(r: random.Random) -> tuple[str, float]:
    if r.random() < EMOTION_SHARE:
        return r.choice(EMOTIONS[1:]), round(r.uniform(0.3, 1.0), 2)
    return "neutral", 1.0


def _estimate(text: str, speed: float) -> float:
    return 0.3 + len(text) / 19.0 / speed  # ~19 characters per second at normal rate (measured over the engines)


# ------------------------------------------------------------------------------ the plan
def plan(cfg: BuildConfig, voices: dict, real_clips: list) -> list[Job]:
    """Every utterance to make, drawn from cfg.seed alone (clip durations come from file sizes)."""
    r = random.Random(cfg.seed)
    target = cfg.hours * 3600.0
    jobs: list[Job] = []

    def seed() -> int:
        return r.getrandbits(31)

    # Real speech: training clips (several augmented copies) and held-out clips (clean + one augmented).
    if real_clips:
        train_clips = [c for c in real_clips if not c.heldout]
        held_clips = [c for c in real_clips if c.heldout]
        r.shuffle(train_clips)
        budget = cfg.max_real_share * target
        used = 0.0
        for c in train_clips:
            secs = _g722_seconds(c.path)
            if used + secs * cfg.real_copies > budget:
                continue
            used += secs * cfg.real_copies
            for k in range(cfg.real_copies):
                s = seed()
                recipe = augment.draw_recipe(np.random.default_rng(s), clean_fraction=1.0 if k == 0 else 0.1)
                jobs.append(Job(f"real-{c.name}-{k}", "train", "real", s, secs, clip=c.name, text=c.transcript,
                                emotion=_emotion(r), recipe=recipe))
        held_budget = 0.1 * target
        used = 0.0
        for c in held_clips:
            secs = _g722_seconds(c.path)
            if used + secs > held_budget:
                break
            used += secs
            for k, recipe in enumerate([augment.Recipe(), augment.draw_recipe(np.random.default_rng(seed()), 0.0)]):
                jobs.append(Job(f"real-{c.name}-{k}", "heldout", "real", seed(), secs, clip=c.name,
                                text=c.transcript, recipe=recipe))
    # Synthetic speech fills the rest.
    tts_target = max(0.0, target - sum(j.est_seconds for j in jobs))
    engines = [e for e in ENGINE_WEIGHTS if e in voices and voices[e]["train"]]
    if not engines and tts_target > 0:
        raise InputError("no text-to-speech engine is usable here; run scripts/setup.sh (espeak-ng, flite, festival, piper)")
    weights = [ENGINE_WEIGHTS[e] for e in engines]
    held_engines = [e for e in engines if voices[e]["heldout"]]
    made = {"train": 0.0, "heldout": 0.0}
    i = 0
    while made["train"] + made["heldout"] < tts_target:
        # Keep the running share of held-out voices at HELDOUT_TTS_SHARE.
        split = "heldout" if held_engines and made["heldout"] < HELDOUT_TTS_SHARE * (made["train"] + made["heldout"]) else "train"
        eng = r.choice(held_engines) if split == "heldout" else r.choices(engines, weights)[0]
        voice = r.choice(voices[eng][split])
        speed = round(r.uniform(0.8, 1.35), 2)
        pitch = None if eng == "piper" or r.random() < 0.3 else round(r.uniform(-4.0, 4.0), 1)
        text = sentence(r)
        s = seed()
        recipe = augment.draw_recipe(np.random.default_rng(s), clean_fraction=0.25)
        est = _estimate(text, speed)
        jobs.append(Job(f"tts-{i:06d}", split, "tts", s, est, engine=eng, voice=voice, speed=speed, pitch=pitch,
                        text=text, emotion=_emotion(r), recipe=recipe))
        made[split] += est
        i += 1
    return jobs


def _g722_seconds(path: Path) -> float:
    return path.stat().st_size * 8 / 64000.0  # G.722 is 64 kbit/s


# ------------------------------------------------------------------------------ one job
def make_utterance(job: Job, fps: float) -> CorpusUtterance:
    """Synthesize or load, augment, extract features, teach the motion. Runs in a worker process."""
    from marionette.core.audio import extract_features, load_audio, to_mono_16k
    from marionette.core.types import AudioChunk, Emotion, Phoneme

    if job.source == "tts":
        clean, phones = synthesize_sentences(job.text, job.engine, job.voice, speed=job.speed, pitch=job.pitch)
    else:
        clip = _CLIPS.get(job.clip) or next(c for c in real.clips("all") if c.name == job.clip)
        clean = load_audio(clip.path).samples
        phones, _ = real.aligned(clip)
    if job.recipe.formant or job.recipe.pitch or job.recipe.speed:
        # Another speaker first: the teacher then sees the phones on the perturbed timeline.
        clean = augment.perturb_speaker(clean, job.recipe)
        v = job.recipe.speed or 1.0
        phones = [Phoneme(p.symbol, p.start / v, p.end / v) for p in phones]
    clean_feats = extract_features(AudioChunk(clean, AUDIO_RATE))
    phones = checked_phones(phones, clean_feats, clean.size / AUDIO_RATE)
    peak = float(np.max(np.abs(clean))) if clean.size else 0.0
    if peak > 0:
        # Engines differ wildly in level; gain is augmentation's job. Features scale with it (log-mel
        # shifts, F0/VAD barely move), so the clean features used for prosody are recomputed.
        clean = clean * np.float32(min(1.0, 0.9 / peak))
        clean_feats = extract_features(AudioChunk(clean, AUDIO_RATE))
    rng = np.random.default_rng(job.seed)
    heard = augment.apply(clean, job.recipe, rng)
    feats = extract_features(AudioChunk(heard, AUDIO_RATE)) if job.recipe != augment.CLEAN else clean_feats
    motion = teach_track(phones, fps=fps, duration=clean.size / AUDIO_RATE, features=clean_feats,
                         emotion=Emotion(*job.emotion), seed=job.seed)
    meta = job.meta()
    meta["seconds"] = round(clean.size / AUDIO_RATE, 3)
    return CorpusUtterance(job.uid, feats, motion, list(phones), meta)


_CLIPS: dict = {}


def synthesize_sentences(text: str, engine: str, voice: str | None, *, speed: float = 1.0,
                         pitch: float | None = None) -> tuple[np.ndarray, list]:
    """16 kHz audio and phones for ``text``, one synthesis per sentence, joined.

    flite times only the first sentence of a multi-sentence text; speaking sentence by sentence keeps
    every engine's timings whole (each sentence brings its own leading/trailing silence: a natural pause).
    """
    from marionette.core.audio import to_mono_16k
    from marionette.core.speech import synthesize
    from marionette.core.types import Phoneme

    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+", text) if p.strip()]
    audio, phones, t = [], [], 0.0
    for sentence_text in parts:
        chunk, ph = synthesize(sentence_text, engine, voice, speed=speed, pitch=pitch)
        x = to_mono_16k(chunk.samples, chunk.sample_rate)
        phones += [Phoneme(p.symbol, p.start + t, p.end + t) for p in ph]
        audio.append(x)
        t += x.size / AUDIO_RATE
    return (np.concatenate(audio) if audio else np.zeros(0, np.float32)), phones
COVERAGE_SLACK = 0.25  # s of audible speech allowed outside the phones before an utterance is refused


class PhoneCoverageError(InputError):
    """Phone timings that do not cover the audible speech (an engine that timed only part of it)."""


def checked_phones(phones, features, duration: float) -> list:
    """The phones with silence filled in at both ends, after checking they cover the audible speech.

    Some engines time only part of what they say (flite: only the first sentence of a multi-sentence
    text) or stop the last phone before the audio ends (espeak); a motion target taught from such
    phones would hold the mouth still while the voice goes on, so those utterances are refused.
    """
    from marionette.core.speech import SIL
    from marionette.core.types import Phoneme

    spoken = [p for p in phones if p.symbol != SIL]
    if not spoken:
        raise PhoneCoverageError("no phones but silence")
    loud = np.asarray(features.loudness)
    audible = np.flatnonzero((loud > -50.0) & (loud > loud.max() - 35.0)) / features.frame_rate
    if audible.size:
        late = audible[-1] - spoken[-1].end
        early = spoken[0].start - audible[0]
        if late > COVERAGE_SLACK or early > COVERAGE_SLACK:
            raise PhoneCoverageError(
                f"phones cover {spoken[0].start:.2f}-{spoken[-1].end:.2f} s but speech is audible "
                f"{audible[0]:.2f}-{audible[-1]:.2f} s")
    out = list(phones)
    if out[0].start > 1e-3:
        out.insert(0, Phoneme(SIL, 0.0, out[0].start))
    if out[-1].end < duration - 1e-3:
        out.append(Phoneme(SIL, out[-1].end, duration))
    return out


def teach_track(phones, *, fps: float, duration: float, **kwargs):
    """The teacher's motion over exactly ``duration`` s (ceil(duration * fps) frames)."""
    from marionette.core.teacher import teach

    return teach(phones, fps=fps, duration=duration, **kwargs)


_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _worker_init() -> None:
    if real.available() is None:
        _CLIPS.update({c.name: c for c in real.clips("all")})


class _Lanes:
    """Worker processes with a fixed share of the work: job i always runs in process i % n, after the
    same jobs as in every other build. espeak-ng (and piper) keep synthesis state across calls inside
    a process, so a pool handing jobs to whichever worker is free would make the corpus depend on
    timing; lanes keep it a function of the seed (and the worker count)."""

    def __init__(self, n: int, window: int = 8) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.window = window
        # One BLAS thread per worker (the workers already fill the cores). Spawned children read the
        # environment at start, before numpy loads, so it is set around their creation.
        saved = {k: os.environ.get(k) for k in _ONE_THREAD}
        os.environ.update(_ONE_THREAD)
        try:
            ctx = mp.get_context("spawn")
            self.pools = [ProcessPoolExecutor(1, mp_context=ctx, initializer=_worker_init) for _ in range(n)]
            for p in self.pools:
                p.submit(int).result()  # start the process now, while the environment is set
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def map(self, fn, items):
        """fn over items, in order, at most ``window`` jobs queued per lane (bounded memory)."""
        from collections import deque

        pending: deque = deque()
        for i, item in enumerate(items):
            if len(pending) >= self.window * len(self.pools):
                yield pending.popleft().result()
            pending.append(self.pools[i % len(self.pools)].submit(fn, item))
        while pending:
            yield pending.popleft().result()

    def kill(self) -> None:
        for p in self.pools:
            for proc in list(getattr(p, "_processes", {}).values()):
                proc.terminate()
            p.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        for p in self.pools:
            p.shutdown(wait=True)


def _run(args: tuple[Job, float]) -> CorpusUtterance | tuple[str, str]:
    job, fps = args
    try:
        return make_utterance(job, fps)
    except InputError as e:  # one odd sentence or clip must not sink a two-hour build
        return job.uid, str(e)


# ------------------------------------------------------------------------------ the build
def build(cfg: BuildConfig) -> dict:
    """Build the corpus into cfg.out; returns the manifest (also written as manifest.json)."""
    t0 = time.monotonic()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("*.npz")):
        raise InputError(f"{out} already holds shards; pass an empty or new --out directory")
    voices = voice_split(cfg.engines)
    real_reason = real.available()
    clips = real.clips("all") if real_reason is None else []
    jobs = plan(cfg, voices, clips)
    manifest = _execute(cfg, jobs, out)
    manifest.update(
        voices={e: v["train"] for e, v in voices.items()},
        heldout_voices={e: v["heldout"] for e, v in voices.items() if v["heldout"]},
        real_speech=real.LICENSE if real_reason is None else f"absent: {real_reason}",
        build_seconds=round(time.monotonic() - t0, 1),
    )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _execute(cfg: BuildConfig, jobs: list[Job], out: Path) -> dict:
    from tqdm import tqdm

    buffers: dict[str, list[CorpusUtterance]] = {"train": [], "heldout": []}
    shards: dict[str, list[str]] = {"train": [], "heldout": []}
    seconds: dict[str, float] = {"train": 0.0, "heldout": 0.0}
    stats = {"train": Counter(), "heldout": Counter()}
    real_clips: dict[str, set] = {"train": set(), "heldout": set()}
    real_seconds: dict[str, float] = {"train": 0.0, "heldout": 0.0}
    failed: list[dict] = []

    def flush(split: str, force: bool = False) -> None:
        buf = buffers[split]
        if buf and (force or sum(u.duration for u in buf) >= cfg.shard_seconds):
            name = f"{split}-{len(shards[split]):05d}.npz"
            write_shard(out / name, buf)
            shards[split].append(name)
            buffers[split] = []

    total = 0.0
    for j in jobs:  # summed in the order of the updates, so the bar ends exactly at its total
        total += j.est_seconds / 60
    bar = tqdm(total=total, unit="min", desc="corpus", disable=not cfg.progress,
               bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} est. min [{elapsed}<{remaining}]")
    lanes = _Lanes(cfg.workers) if cfg.workers > 1 else None
    if lanes is None:
        _worker_init()
        results = (_run((j, cfg.fps)) for j in jobs)
    else:
        results = lanes.map(_run, [(j, cfg.fps) for j in jobs])
    try:
        for job, res in zip(jobs, results):
            bar.update(job.est_seconds / 60)
            if isinstance(res, tuple):
                failed.append({"uid": res[0], "error": res[1]})
                continue
            split = job.split
            buffers[split].append(res)
            seconds[split] += res.duration
            st = stats[split]
            st[f"source:{job.source}"] += 1
            st[f"emotion:{job.emotion[0]}"] += 1
            for k in ("noise", "codec", "band"):
                if getattr(job.recipe, k):
                    st[f"augment:{k}:{getattr(job.recipe, k)}"] += 1
            if job.recipe.reverb_rt60:
                st["augment:reverb"] += 1
            if job.recipe == augment.CLEAN or not job.recipe.to_dict().keys() - {"gain_db"}:
                st["augment:clean"] += 1
            if job.source == "tts":
                st[f"voice:{job.engine}:{job.voice}"] += 1
            else:
                real_clips[split].add(job.clip)
                real_seconds[split] += res.duration
            flush(split)
    except BaseException:
        if lanes is not None:
            lanes.kill()  # Ctrl-C or an error: don't wait for the queued utterances
        raise
    finally:
        bar.close()
        if lanes is not None:
            lanes.close()
    for split in buffers:
        flush(split, force=True)
    return {
        "format": "marionette.corpus",
        "version": 1,
        "seed": cfg.seed,
        "hours_requested": cfg.hours,
        "hours": round(sum(seconds.values()) / 3600, 4),
        "train_hours": round(seconds["train"] / 3600, 4),
        "heldout_hours": round(seconds["heldout"] / 3600, 4),
        "motion_fps": cfg.fps,
        "feature_rate": 100.0,
        "utterances": {s: sum(v for k, v in stats[s].items() if k.startswith("source:")) for s in stats},
        "real_minutes": {s: round(real_seconds[s] / 60, 2) for s in real_seconds},
        "real_unique_clips": {s: len(real_clips[s]) for s in real_clips},
        "tts_voices_used": {s: len([k for k in stats[s] if k.startswith("voice:")]) for s in stats},
        "composition": {s: dict(sorted(stats[s].items())) for s in stats},
        "split_rule": {"tts": f"held-out voices {json.dumps({k: sorted(v) if isinstance(v, set) else {kk: sorted(vv) for kk, vv in v.items()} for k, v in HELDOUT_VOICES.items()})}",
                       "real": f"{real.HELDOUT_PERCENT}% of clips by sha256 of the clip name (corpus.real.is_heldout_clip)"},
        "text_source": "marionette.core.corpus.text: seeded template grammar written for this project",
        "nondeterministic": ["piper (VITS noise is drawn unseeded inside its ONNX graph)"],
        "failed": failed,
        "shards": shards,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
    }
