"""espeak-ng through libespeak-ng's synth callback, which reports each phone as it is spoken.

ctypes against the C API (no compiled extension): the library is initialised once per process
in synchronous mode with IPA phoneme events, and a lock serialises synthesis because the
library keeps global state. Timings come from the engine itself, so they are exact to the
sample position it reports (ms resolution).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import subprocess
import threading

import numpy as np

from ..types import AudioChunk, Phoneme
from .errors import EngineUnavailableError
from .phonesets import phoneset

NAME = "espeak"
INSTALL_HINT = "install the Debian package libespeak-ng1 (apt-get install espeak-ng)"
DEFAULT_VOICE = "en-us"

# espeak_EVENT_TYPE values from speak_lib.h.
_EV_END_LIST, _EV_WORD, _EV_SENTENCE, _EV_MARK, _EV_PLAY, _EV_END, _EV_MSG_END, _EV_PHONEME = range(8)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS, _INIT_PHONEME_IPA = 0x1, 0x2
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3
_DEFAULT_WPM = 175


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
        ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p), ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))

_lock = threading.Lock()
_lib = None
_rate = 0
_collect: dict = {}


def _load():
    global _lib, _rate, _cb
    if _lib is not None:
        return _lib
    path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        raise EngineUnavailableError(f"espeak-ng engine: libespeak-ng not found; {INSTALL_HINT}") from None
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200, None, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA)
    if rate <= 0:
        raise EngineUnavailableError(f"espeak-ng engine: initialisation failed (no espeak-ng-data?); {INSTALL_HINT}")
    _cb = _CALLBACK(_on_audio)  # kept referenced: the library calls it after we return
    lib.espeak_SetSynthCallback(_cb)
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    _lib, _rate = lib, rate
    return lib


def _on_audio(wav, n, events) -> int:
    if n > 0 and wav:
        _collect["audio"].append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
    i = 0
    while events[i].type != _EV_END_LIST:
        ev = events[i]
        if ev.type == _EV_PHONEME:
            raw = bytes(ev.id.string).split(b"\0", 1)[0]
            _collect["events"].append((raw.decode("utf-8", "replace"), ev.audio_position / 1000.0))
        i += 1
    return 0  # 0 = continue synthesis


def available() -> str | None:
    """None when usable, else the reason and how to fix it."""
    try:
        _load()
    except EngineUnavailableError as e:
        return str(e)
    return None


@functools.lru_cache(maxsize=None)
def _language_files(language: str = "") -> tuple[tuple[str, str], ...]:
    """(language code, voice file) pairs from `espeak-ng --voices`, mbrola and variants left out."""
    out = subprocess.run(["espeak-ng", f"--voices={language}" if language else "--voices"],
                         capture_output=True, text=True).stdout
    pairs = []
    for line in out.splitlines()[1:]:
        cols = line.split()
        # mbrola voices need non-free data; "!v/" rows are variants, listed separately.
        if len(cols) >= 5 and not cols[4].startswith(("mb/", "!v/")):
            pairs.append((cols[1], cols[4]))
    return tuple(pairs)


def voices(language: str = "en") -> list[str]:
    """Voice names for a language prefix, each also with the engine's voice variants (+f1 ...)."""
    _load()
    names = list(dict.fromkeys(lang for lang, _ in _language_files(language)))
    var_out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True).stdout
    variants = [c[4][3:] for c in (ln.split() for ln in var_out.splitlines()[1:]) if len(c) >= 5 and c[4].startswith("!v/")]
    return names + [f"{lang}+{v}" for lang in names for v in variants]


def _voice_id(voice: str) -> str:
    """What espeak_SetVoiceByName accepts: it matches voice files, and some language codes (en-gb)
    name a file with another name (gmw/en), so the language code is swapped for its file."""
    base, plus, variant = voice.partition("+")
    files = dict(_language_files())
    if base in files:
        base = files[base].rpartition("/")[2]
    return base + plus + variant


def synthesize(text: str, voice: str | None = None, speed: float = 1.0, pitch: float | None = None
               ) -> tuple[AudioChunk, list[Phoneme]]:
    lib = _load()
    voice = voice or DEFAULT_VOICE
    with _lock:
        if lib.espeak_SetVoiceByName(_voice_id(voice).encode()) != 0:
            raise EngineUnavailableError(f"espeak-ng has no voice {voice!r}; see list_voices('espeak')")
        lib.espeak_SetParameter(_RATE, int(round(_DEFAULT_WPM * speed)), 0)
        # espeak pitch is 0..100 around 50; about 4 units per semitone for its default voices.
        lib.espeak_SetParameter(_PITCH, int(np.clip(50 + 4.0 * (pitch or 0.0), 0, 100)), 0)
        _collect.update(audio=[], events=[])
        data = text.encode("utf-8") + b"\0"
        lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        audio = np.concatenate(_collect["audio"]) if _collect["audio"] else np.zeros(0, np.int16)
        events = list(_collect["events"])
    samples = (audio.astype(np.float32) / 32768.0)
    duration = len(samples) / _rate
    units = []
    for k, (sym, t) in enumerate(events):
        end = events[k + 1][1] if k + 1 < len(events) else duration
        units.append((sym, t, max(t, end)))
    # espeak reports "_" pauses itself; leading audio before the first phone is silence.
    phones, _unknown = phoneset("ipa").convert([("_", 0.0, units[0][1])] + units if units else [])
    return AudioChunk(samples, _rate), phones
