"""Motion generators by name: `envelope` and `teacher` baselines here, `diffusion` (the learned
model) when its weights are present, and `auto` (per_source.py: teacher for speech with phone
timings, diffusion for audio without; the live default). Each implements core.stages.MotionGenerator; modules are
imported only when asked for, so a missing optional dependency breaks only its own generator."""

from __future__ import annotations

import importlib

from ..errors import InputError
from ..stages import MotionGenerator
from ..track import MotionTrack
from ..types import AudioChunk, AudioFeatures, Phoneme

# name -> (module, factory); factories take (fps=, seed=, **options).
_FACTORIES: dict[str, tuple[str, str]] = {
    "envelope": ("envelope", "create"),
    "teacher": ("teacher", "create"),
    "diffusion": ("diffusion", "load_generator"),
    "auto": ("per_source", "create"),
}


def _diffusion_ready() -> bool:
    try:
        mod = importlib.import_module(f"{__name__}.diffusion")
        return bool(mod.model_available())
    except Exception:  # noqa: BLE001 - any failure to import or find weights means "not available"
        return False


def available_generators() -> list[str]:
    """Names that get_generator() can build here, best first."""
    names = ["envelope", "teacher"]
    if _diffusion_ready():
        names.insert(0, "diffusion")
    return names


def get_generator(name: str, *, fps: float = 30.0, seed: int = 0, **options) -> MotionGenerator:
    if name not in _FACTORIES:
        raise InputError(f"unknown generator {name!r}; expected one of {', '.join(_FACTORIES)}")
    if name == "diffusion" and not _diffusion_ready():
        raise InputError("the diffusion generator has no trained model here (models/diffusion); "
                         "train one with `marionette train` or use --generator envelope or teacher")
    module, factory = _FACTORIES[name]
    mod = importlib.import_module(f"{__name__}.{module}")
    return getattr(mod, factory)(fps=fps, seed=seed, **options)


def generate_track(generator: MotionGenerator, audio: AudioChunk, text: str | None = None, *,
                   features: AudioFeatures | None = None, phonemes: list[Phoneme] | None = None) -> MotionTrack:
    """Offline helper: the whole track for one audio clip (features extracted if not given).

    With ``text`` the audio is force-aligned and the phones handed to the generator (the teacher
    needs them; others ignore them); ``phonemes`` skips the alignment."""
    from ..audio import extract_features

    if phonemes is None and text:
        from ..speech import force_align

        phonemes = force_align(audio, text)
    generator.reset()
    if phonemes:
        generator.set_phonemes(phonemes)
    if features is None:
        features = extract_features(audio)
    frames = generator.push(features) + generator.flush()
    return MotionTrack.from_frames(frames, generator.fps)


__all__ = ["available_generators", "generate_track", "get_generator"]
