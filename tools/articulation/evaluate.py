"""`marionette eval articulation`: run a generator on speech it has never heard and score its mouth
against the phone-table truth (phones.py) with the metrics of metrics.py, per speaker and pooled.

Generators: any registry name (envelope, teacher, diffusion, ...; one that takes phones, like the
teacher, gets the transcript's forced alignment, the same phones the truth is built on), plus
``rms`` (the loudness baseline every VTuber tool has), ``truth`` (the truth scored against
itself: the ceiling, and a check on the metric) and the PyPI peers of peers.py (openfacefx with
the words and from loudness). Trade-off: the truth's timing is the aligner's
(about 10-20 ms per phone boundary), so lags within about 10 ms cannot be told apart.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from marionette.core.errors import InputError
from marionette.core.motion_space import CHANNEL_INDEX
from marionette.core.stages import PhoneDriven
from marionette.core.types import NEUTRAL_VECTOR, AudioFeatures

from . import metrics, phones, speech

SPLITS = ("real", "tts")
EXTRA_GENERATORS = ("truth", "rms")
RMS_SMOOTH = 0.03  # s


def _grid(u: speech.Utterance) -> np.ndarray:
    return np.arange(int(np.ceil(u.audio.duration * metrics.FPS))) / metrics.FPS


def rms_track(features: AudioFeatures, n: int) -> np.ndarray:
    """The loudness baseline: jawOpen from the frame's dBFS, 0 at the utterance's floor (10th
    percentile) and 0.7 at its loud end (99th), lightly smoothed; every other channel neutral."""
    loud = np.asarray(features.loudness, np.float64)
    lo, hi = np.percentile(loud, 10), np.percentile(loud, 99)
    jaw = np.clip((loud - lo) / max(hi - lo, 1e-6), 0, 1) * 0.7
    k = max(1, int(round(RMS_SMOOTH * features.frame_rate)))
    jaw = np.convolve(jaw, np.ones(k) / k, mode="same")
    t = features.t + np.arange(loud.size) / features.frame_rate
    out = np.tile(NEUTRAL_VECTOR, (n, 1)).astype(np.float32)
    out[:, CHANNEL_INDEX["jawOpen"]] = np.interp(np.arange(n) / metrics.FPS, t, jaw)
    return out


def _on_grid(t: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """(T, 58) values at times ``t`` (s), interpolated to the scoring grid's n frames."""
    grid = np.arange(n) / metrics.FPS
    return np.stack([np.interp(grid, t, values[:, c]) for c in range(values.shape[1])], axis=1).astype(np.float32)


def _registry_predictor(name: str, fps: float, seed: int, model_dir: str | None = None) -> Callable:
    from marionette.core.generators import get_generator

    gen = get_generator(name, fps=fps, seed=seed, **({"model_dir": model_dir} if model_dir else {}))
    # Phone-driven generators (the teacher) get the transcript's alignment: the ability they declare.
    takes_phones = isinstance(gen, PhoneDriven)

    def predict(u: speech.Utterance, features: AudioFeatures, n: int) -> np.ndarray:
        gen.reset()
        if takes_phones:
            gen.set_phonemes(u.phones)
        frames = gen.push(features) + gen.flush()
        if not frames:
            return np.tile(NEUTRAL_VECTOR, (n, 1)).astype(np.float32)
        t = np.array([f.t for f in frames]) - features.t
        return _on_grid(t, np.stack([f.to_vector() for f in frames]), n)

    predict.takes_phones = takes_phones
    return predict


def _track_files(folder: str) -> Callable:
    """Tracks made elsewhere (another tool, the live path's --motion-out) for the split's audio, as
    written by export(): FOLDER/<utterance>.json or .csv, frame i at i / fps s from the audio's start."""
    from pathlib import Path

    from marionette.core.track import load_track

    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"tracks folder {folder!r} does not exist; expected motion tracks named like the "
                         "utterances that `eval articulation --export DIR` writes")

    def predict(u: speech.Utterance, features: AudioFeatures, n: int) -> np.ndarray:
        stem = u.name.replace(":", "_")
        path = next((root / f"{stem}{ext}" for ext in (".json", ".csv") if (root / f"{stem}{ext}").is_file()), None)
        if path is None:
            raise InputError(f"no track for utterance {u.name!r} in {folder} (expected {stem}.json or .csv)")
        track, _ = load_track(path)
        return _on_grid(np.arange(len(track)) / track.fps, track.values, n)

    predict.takes_phones = False
    return predict


def export(split: str, folder: str, limit: int | None = None) -> list[str]:
    """The split's audio (16 kHz wav) and transcripts (.txt) into ``folder``, one pair per utterance,
    so any generator (a peer tool, the live path with a file source) can make tracks for them."""
    from pathlib import Path

    import soundfile as sf

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for u in utterances(split, limit):
        stem = u.name.replace(":", "_")
        sf.write(root / f"{stem}.wav", np.asarray(u.audio.samples, np.float32), u.audio.sample_rate)
        (root / f"{stem}.txt").write_text(u.text + "\n")
        names.append(stem)
    return names


def _live_predictor() -> Callable:
    """`marionette run`'s live path on a fake clock (tools/live_path.py): the clip as a file source,
    the default per-source generator, the mixer and the MotionTrackSink of `--motion-out`."""
    from marionette.tools.live_path import live_track

    def predict(u: speech.Utterance, features: AudioFeatures, n: int) -> np.ndarray:
        track = live_track(u.audio)
        return _on_grid(np.arange(len(track)) / track.fps, track.values, n)

    predict.takes_phones = False
    return predict


def predictor(name: str, *, fps: float = 30.0, seed: int = 0, model_dir: str | None = None) -> Callable:
    """A function (utterance, features, n frames) -> float32 (n, 58) at metrics.FPS."""
    if name == "truth":
        f = lambda u, feats, n: phones.truth_track(u.phones, np.arange(n) / metrics.FPS)  # noqa: E731
        f.takes_phones = True
        return f
    if name == "rms":
        f = lambda u, feats, n: rms_track(feats, n)  # noqa: E731
        f.takes_phones = False
        return f
    if name.startswith("tracks:"):
        return _track_files(name.partition(":")[2])
    from . import peers

    if name in peers.PEERS:
        return peers.predictor(name)
    if name == "live":
        return _live_predictor()
    if model_dir and name != "diffusion":
        raise InputError(f"--model is the diffusion model's directory; generator {name!r} takes none")
    return _registry_predictor(name, fps, seed, model_dir)


def utterances(split: str, limit: int | None = None) -> list[speech.Utterance]:
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    items = speech.real_utterances(limit) if split == "real" else speech.tts_utterances(limit)
    if not items:
        raise InputError(f"no utterances in the {split} split")
    return items


def evaluate(generator: str, split: str = "real", *, fps: float = 30.0, seed: int = 0,
             limit: int | None = None, progress: bool = False, model_dir: str | None = None) -> dict:
    """Scores (metrics.Tally.scores) pooled and per speaker, with the context that produced them."""
    from marionette.core.audio import extract_features

    t0 = time.monotonic()
    items = utterances(split, limit)
    prep = time.monotonic() - t0
    predict = predictor(generator, fps=fps, seed=seed, model_dir=model_dir)
    pooled, per = metrics.Tally(), {}
    t1 = time.monotonic()
    for u in items:
        feats = extract_features(u.audio)
        n = _grid(u).size
        pred = predict(u, feats, n)
        truth = phones.truth_track(u.phones, _grid(u))
        t = metrics.tally(pred, truth, u.phones)
        pooled.add(t)
        per.setdefault(u.speaker, metrics.Tally()).add(t)
        if progress:
            import sys

            print(f"{u.name}: {t.scores()}", file=sys.stderr)
    out = {
        "generator": generator,
        "model": model_dir,
        "split": split,
        "fps": fps,
        "phones_given": bool(getattr(predict, "takes_phones", False)),
        **pooled.scores(),
        "n_speakers": len(per),
        "per_speaker": {k: v.scores() for k, v in sorted(per.items())},
        "prepare_seconds": round(prep, 1),
        "generate_seconds": round(time.monotonic() - t1, 1),
        "definitions": {
            "closed": f"jawOpen < {metrics.CLOSED_JAW} or jawOpen - mouthClose < {metrics.CLOSED_GAP} or mouthClose "
                      f">= {metrics.CLOSED_CLOSE} or mouthPress* >= {metrics.CLOSED_PRESS}",
            "r": "opening (jawOpen - mouthClose) vs the phone-table truth, first to last non-silence phone",
            "lag": "+ = generator late",
        },
    }
    if split == "real":
        out["tts_voice_in_training"] = {k: s.tts_voice_in_training for k, s in speech.SPEAKERS.items()
                                        if s.tts_voice_in_training and k in per}
    return out


TABLE_KEYS = ("r_within_speech", "bilabial_recall", "bilabial_precision", "open_vowel_closed",
              "open_vowel_jaw_median", "nonlabial_closed", "lag_ms")


def format_report(r: dict) -> str:
    lines = [f"articulation {r['generator']} on {r['split']} ({r['n_utterances']} utterances, {r['n_speakers']} "
             f"speakers, {r['minutes']} min, {r['n_bilabials']} bilabials{', phones given' if r['phones_given'] else ''}):"]
    lines.append("  " + "speaker".ljust(22) + " ".join(k[:12].rjust(12) for k in TABLE_KEYS))
    rows = [("pooled", r)] + list(r["per_speaker"].items())
    for name, s in rows:
        cells = ["-" if s[k] is None else f"{s[k]}" for k in TABLE_KEYS]
        lines.append("  " + name[:21].ljust(22) + " ".join(c.rjust(12) for c in cells))
    return "\n".join(lines)
