"""Configuration of `marionette run`: one layer of frozen, keyword-only dataclasses (STYLE.md 6).

Loaded from one TOML file (sections [engine], [audio], [sinks]) plus CLI flags given as dotted
keys ("audio.source"). Unknown sections or keys are errors that list the valid ones; values are
type-checked. Defaults do no I/O. Trade-off: no environment-variable layer, on purpose.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from marionette.core.errors import InputError

GREETING = ("Hello! I am Marionette, a talking head that runs on an ordinary processor. "
            "Speak to me, or send me text, and I will say it.")


class ConfigError(InputError):
    """A config file or flag that cannot be used; the message names the key and what is valid."""


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """fps: 25 or 30 (or any 1..60). width/height: output pixels. portrait: image path, None = the
    built-in portrait. generator: 'auto' (speech we synthesize: teacher from its phones; microphone
    and pushed audio: diffusion), 'envelope', 'teacher' (envelope for audio without phones) or
    'diffusion'. duration: seconds, None = until Ctrl-C. framing: 'head-and-shoulders' or 'close-up'.
    background: 'keep', 'blur', 'green', 'transparent', 'color:#RRGGBB' or 'image:PATH'
    (core/render/background.py)."""

    fps: float = 30.0
    width: int = 512
    height: int = 512
    portrait: str | None = None
    generator: str = "auto"
    seed: int = 0
    duration: float | None = None
    framing: str = "head-and-shoulders"
    background: str = "keep"


@dataclass(frozen=True, kw_only=True)
class AudioConfig:
    """source: 'auto' (microphone if there is one, else text-to-speech), 'mic', 'file', 'tts' or 'none'.
    say: text spoken once at start ('' for none). tts_engine: 'piper' (espeak as fallback) or 'espeak'.
    play: play the audio we speak to the output device. av_delay: seconds every sound output (speaker,
    recording, virtual microphone) is held back so lips and sound agree; None = the measured latency
    of the picture. max_queued_chars / max_queued_seconds: text (and its estimated speech) one
    control connection may have waiting; more is refused with `rate_limited` (core/speech/stream.py)."""

    source: str = "auto"
    device: str | int | None = None
    file: str | None = None
    loop: bool = False
    say: str = GREETING
    tts_engine: str = "piper"
    voice: str | None = None
    play: bool = True
    output_device: str | int | None = None
    av_delay: float | None = None
    max_queued_chars: int = 20_000
    max_queued_seconds: float = 1800.0


@dataclass(frozen=True, kw_only=True)
class SinksConfig:
    """virtualcam: try a virtual webcam (skipped with a message when none exists). mjpeg: serve
    http://mjpeg_host:mjpeg_port/stream.mjpg. preview: WebSocket JPEG preview. record: mp4 path.
    virtual_mic: create "Marionette Microphone" on the PulseAudio/PipeWire server (the avatar's
    voice, in sync with its picture, for call apps; skipped with a message when there is no server).
    motion_out: write the motion as rendered to this .json/.csv track (and the sound heard to .wav)."""

    virtualcam: bool = True
    virtualcam_backend: str | None = None
    virtualcam_device: str | None = None
    mjpeg: bool = True
    mjpeg_host: str = "127.0.0.1"
    mjpeg_port: int = 8765
    preview: bool = False
    preview_host: str = "127.0.0.1"
    preview_port: int = 8766
    webrtc: bool = False  # WebRTC out (plugin/sinks/webrtc.py, extra webrtc); the panel's preview uses it
    webrtc_host: str = "127.0.0.1"
    webrtc_port: int = 8769
    record: str | None = None
    virtual_mic: bool = True
    motion_out: str | None = None


@dataclass(frozen=True, kw_only=True)
class ControlConfig:
    """The agents' control websocket (docs/protocol.md). enabled: serve it. host/port: where (0 = any
    free port). allow_origins: comma-separated extra browser origins allowed to connect (our own
    pages always are). rate: messages per second per connection. token_file: None = the user's
    config directory (created 0600 on first run). vmc_in_port: receive VMC (OSC/UDP) motion on this
    port (39539 by convention; None = off). vmc_out: send our motion as VMC to "host:port" (None = off)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8768
    allow_origins: str = ""
    rate: float = 100.0
    token_file: str | None = None
    vmc_in_port: int | None = None
    vmc_out: str | None = None


@dataclass(frozen=True, kw_only=True)
class PanelConfig:
    """The web control panel (control_panel/): served on control.host at this port (0 = any free)
    when the control websocket runs; `run` prints its URL with the token in the #fragment."""

    enabled: bool = True
    port: int = 8767


@dataclass(frozen=True, kw_only=True)
class ObsRunConfig:
    """OBS Studio during a run (plugin/obs): captions, speaking scene/source switching, custom events
    and hotkey triggers. host/port/password: OBS's websocket server (password "" = read
    $MARIONETTE_OBS_PASSWORD). scene: the one `marionette obs setup` made. OBS may start later."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 4455
    password: str = ""
    scene: str = "Marionette"
    captions: bool = True
    speaking_scene: str = ""
    idle_scene: str = ""
    speaking_source: str = ""
    events: bool = True


@dataclass(frozen=True, kw_only=True)
class CameraConfig:
    """The camera path (docs/camera.md): your face drives the portrait. enabled: read a camera.
    device: camera name (substring) or index, None = the first. file: a video standing in for the
    camera. loop: loop that file. drive: 'camera' (the face drives everything), 'camera+audio'
    (lips from the audio, the rest from the face) or 'camera+controls' (agent controls on top).
    calibrate: take a new 2 s neutral-face calibration at start (kept in the config directory).
    motion_out: write the tracked motion (motion capture) to this .json/.csv motion track."""

    enabled: bool = False
    device: str | int | None = None
    file: str | None = None
    loop: bool = False
    drive: str = "camera"
    calibrate: bool = False
    motion_out: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    engine: EngineConfig = field(default_factory=EngineConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    sinks: SinksConfig = field(default_factory=SinksConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    panel: PanelConfig = field(default_factory=PanelConfig)
    obs: ObsRunConfig = field(default_factory=ObsRunConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)


SECTIONS: dict[str, type] = {"engine": EngineConfig, "audio": AudioConfig, "sinks": SinksConfig,
                             "control": ControlConfig, "panel": PanelConfig, "obs": ObsRunConfig,
                             "camera": CameraConfig}
CHOICES: dict[str, tuple[str, ...]] = {
    "audio.source": ("auto", "mic", "file", "tts", "none"),
    "audio.tts_engine": ("piper", "espeak", "flite", "festival"),
    "camera.drive": ("camera", "camera+audio", "camera+controls"),
    "engine.generator": ("auto", "envelope", "teacher", "diffusion"),
}


def _check_value(key: str, value: Any, hint: Any) -> Any:
    allowed = typing.get_args(hint) or (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise ConfigError(f"{key} cannot be empty; expected {_type_name(hint)}")
    for typ in allowed:
        if typ is type(None):
            continue
        if typ is bool:
            if isinstance(value, bool):
                return value
            continue
        if typ is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                raise ConfigError(f"{key} = {_short(value)}, expected a finite number")
            return number
        if typ is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if typ is str and isinstance(value, str):
            return value
    raise ConfigError(f"{key} = {_short(value)} ({type(value).__name__}), expected {_type_name(hint)}")


def _short(value: Any, most: int = 40) -> str:
    """repr() cut to ``most`` characters: a 400-digit number is not worth printing whole."""
    text = repr(value)
    return text if len(text) <= most else f"{text[:most - 12]}...({len(text)} chars)"


def _type_name(hint: Any) -> str:
    names = [getattr(t, "__name__", str(t)) for t in (typing.get_args(hint) or (hint,))]
    return " or ".join("nothing (omit it)" if n == "NoneType" else n for n in names)


def _build(section: str, cls: type, values: Mapping[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    out = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"unknown key {section}.{key}; valid keys in [{section}]: {', '.join(valid)}")
        full = f"{section}.{key}"
        out[key] = _check_value(full, value, hints[key])
        if full in CHOICES and out[key] not in CHOICES[full]:
            raise ConfigError(f"{full} = {value!r}, expected one of {', '.join(CHOICES[full])}")
    return cls(**out)


def from_mapping(data: Mapping[str, Any]) -> RunConfig:
    for name, value in data.items():
        if name not in SECTIONS:
            raise ConfigError(f"unknown section [{name}]; valid sections: {', '.join(f'[{s}]' for s in SECTIONS)}")
        if not isinstance(value, Mapping):
            raise ConfigError(f"[{name}] must be a table of keys, got {type(value).__name__}")
    cfg = RunConfig(**{name: _build(name, cls, data.get(name, {})) for name, cls in SECTIONS.items()})
    e = cfg.engine
    if not (1 <= e.fps <= 60):
        raise ConfigError(f"engine.fps = {e.fps}, expected 1..60 (25 or 30 for video)")
    if not (64 <= e.width <= 2048 and 64 <= e.height <= 2048):
        raise ConfigError(f"engine size {e.width}x{e.height}, expected 64..2048 on each side")
    if cfg.audio.source == "file" and not cfg.audio.file:
        raise ConfigError("audio.source = 'file' needs audio.file = 'path/to/audio.wav' (or --audio-file)")
    _check_ranges(cfg)
    _check_picture(e)
    return cfg


def _check_picture(e: EngineConfig) -> None:
    from marionette.core.render.background import BackgroundSpec
    from marionette.core.render.framing import parse_shot

    try:
        parse_shot(e.framing)
        BackgroundSpec.parse(e.background)
    except InputError as err:
        raise ConfigError(f"engine: {err}") from None


# (section.key, low, high, what a user should pass): numbers that parse but mean nothing are
# refused here, before anything starts (a negative duration ran 0 frames and exited 0, NaN ran
# forever, a VMC port of 70000 aborted the process).
RANGES: tuple[tuple[str, float, float, str], ...] = (
    ("engine.duration", 1e-3, 366 * 86400, "seconds > 0 (omit it to run until Ctrl-C)"),
    ("audio.av_delay", 0.0, 2.0, "seconds 0..2 (omit it to measure)"),
    ("audio.max_queued_chars", 1, 10_000_000, "characters >= 1"),
    ("audio.max_queued_seconds", 1.0, 366 * 86400, "seconds >= 1"),
    ("sinks.mjpeg_port", 0, 65535, "a TCP port 0..65535 (0 = any free)"),
    ("sinks.preview_port", 0, 65535, "a TCP port 0..65535 (0 = any free)"),
    ("control.port", 0, 65535, "a TCP port 0..65535 (0 = any free)"),
    ("control.rate", 0.1, 100_000, "messages per second, 0.1..100000"),
    ("control.vmc_in_port", 1, 65535, "a UDP port 1..65535 (39539 by convention)"),
    ("panel.port", 0, 65535, "a TCP port 0..65535 (0 = any free)"),
    ("obs.port", 1, 65535, "a TCP port 1..65535 (OBS's websocket, 4455 by default)"),
)


def _check_ranges(cfg: RunConfig) -> None:
    for dotted, lo, hi, expected in RANGES:
        section, key = dotted.split(".")
        value = getattr(getattr(cfg, section), key)
        if value is not None and not (lo <= value <= hi):
            raise ConfigError(f"{dotted} = {_short(value)}, expected {expected}")
    listed = {dotted for dotted, *_ in RANGES}
    for section in SECTIONS:  # every other port too, including ones added after this table
        for f in dataclasses.fields(getattr(cfg, section)):
            value = getattr(getattr(cfg, section), f.name)
            dotted = f"{section}.{f.name}"
            if (f.name == "port" or f.name.endswith("_port")) and dotted not in listed and isinstance(value, int) \
                    and not (0 <= value <= 65535):
                raise ConfigError(f"{dotted} = {_short(value)}, expected a port 0..65535")
    out = cfg.control.vmc_out
    if out is not None:
        host, _, port = out.rpartition(":")
        if not host or not port.isdigit() or not (1 <= int(port) <= 65535):
            raise ConfigError(f"control.vmc_out = {out!r}, expected host:port with a port 1..65535, "
                              "such as 127.0.0.1:39540")


def port_number(text: str) -> int:
    """argparse type for a port flag: 0..65535, said in one line otherwise."""
    import argparse

    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number; expected 0..65535") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 0..65535")
    return port


MAX_CONFIG_BYTES = 1 << 20


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """The TOML file (if any) with dotted-key overrides applied on top ("sinks.mjpeg_port": 0)."""
    data: dict[str, dict[str, Any]] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file {p} not found; pass an existing TOML file or omit --config")
        if not p.is_file():
            raise ConfigError(f"config file {p} is not a regular file; pass a TOML file")
        try:
            size = p.stat().st_size
            if size > MAX_CONFIG_BYTES:
                raise ConfigError(f"config file {p} is {size} bytes, expected a TOML file under {MAX_CONFIG_BYTES}")
            blob = p.read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read config file {p}: {e.strerror or e}") from None
        try:
            text = blob.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(f"{p} is not UTF-8 text (byte 0x{blob[e.start]:02x} at offset {e.start}); "
                              "TOML files are UTF-8: save it as UTF-8") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p} is not valid TOML: {e}") from e
        data = {k: dict(v) if isinstance(v, Mapping) else v for k, v in raw.items()}
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if not key:
            raise ConfigError(f"override {dotted!r} must be section.key, e.g. audio.source")
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            raise ConfigError(f"[{section}] must be a table of keys")
        data[section][key] = value
    return from_mapping(data)


def to_toml(cfg: RunConfig) -> str:
    """The config as TOML (None values are left out: TOML has no null)."""
    lines = []
    for name in SECTIONS:
        lines.append(f"[{name}]")
        for f in dataclasses.fields(getattr(cfg, name)):
            v = getattr(getattr(cfg, name), f.name)
            if v is None:
                lines.append(f"# {f.name} =")
            elif isinstance(v, bool):
                lines.append(f"{f.name} = {'true' if v else 'false'}")
            elif isinstance(v, str):
                lines.append(f"{f.name} = {json.dumps(v)}")
            else:
                lines.append(f"{f.name} = {v}")
        lines.append("")
    return "\n".join(lines)
