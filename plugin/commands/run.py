"""`marionette run`: the live avatar. Microphone or text-to-speech in; virtual camera, MJPEG,
WebSocket preview and mp4 out. What cannot be opened here is said once, and the rest runs.

Flags override the TOML config (--config); --print-config shows the result as TOML.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", help="run the live avatar (microphone or TTS in; virtual camera, MJPEG, preview, mp4 out)",
        description="Run the live avatar. With no arguments: the built-in portrait, the microphone if there "
                    "is one, a spoken greeting, a virtual camera if one exists and MJPEG on "
                    "http://127.0.0.1:8765/stream.mjpg. --duration S stops after S seconds and records out/run.mp4.")
    p.add_argument("--config", metavar="TOML", help="config file ([engine], [audio], [sinks]; see --print-config)")
    p.add_argument("--print-config", action="store_true", help="print the resulting config as TOML and exit")
    p.add_argument("--duration", type=float, help="stop after this many seconds (then also records out/run.mp4)")
    p.add_argument("--portrait", help="portrait image (default: the built-in one)")
    p.add_argument("--fps", type=float, help="frames per second (default 30)")
    p.add_argument("--size", metavar="WxH", help="output size (default 512x512)")
    p.add_argument("--framing", metavar="SHOT", help="head-and-shoulders (default) or close-up")
    p.add_argument("--background", metavar="MODE",
                   help="keep (default), blur, green, color:#RRGGBB, image:PATH, transparent; "
                        "switch live with the control message set_background")
    p.add_argument("--generator", choices=("auto", "envelope", "teacher", "diffusion"),
                   help="motion generator (default auto): speech we synthesize (say/--say, speak) moves the lips "
                        "from its own phone timings (lips close on M/B/P); microphone and pushed audio go through "
                        "the diffusion model; both share one latency, so sound and picture stay together. "
                        "teacher: the same with the loudness envelope for audio without phones. envelope: "
                        "loudness only (the lowest latency). diffusion: the model for everything")
    p.add_argument("--source", choices=("auto", "mic", "file", "tts", "none", "camera"),
                   help="audio in: auto (microphone if present), mic (required), file, tts, none; or camera: "
                        "your face drives the portrait (no microphone unless --drive camera+audio)")
    p.add_argument("--camera", metavar="NAME|INDEX", help="camera by name (substring) or index (implies --source camera)")
    p.add_argument("--camera-file", metavar="VIDEO",
                   help="a video file standing in for the camera (implies --source camera)")
    p.add_argument("--drive", choices=("camera", "camera+audio", "camera+controls"),
                   help="with a camera: camera (the face drives everything, default), camera+audio (lips from the "
                        "audio, the rest from the face), camera+controls (agent and panel controls on top)")
    p.add_argument("--calibrate", action="store_true", default=None,
                   help="take a new 2 s neutral-face calibration (look at the camera, relaxed)")
    p.add_argument("--camera-motion-out", metavar="TRACK",
                   help="write the camera's tracked motion (motion capture) to this .json/.csv track")
    p.add_argument("--device", help="microphone by name (substring) or index")
    p.add_argument("--audio-file", help="audio file to play (implies --source file)")
    p.add_argument("--loop", action="store_true", default=None, help="loop the audio file")
    p.add_argument("--say", help="text to speak at start (default: a greeting)")
    p.add_argument("--no-say", action="store_true", help="speak nothing at start")
    p.add_argument("--tts-engine", choices=("piper", "espeak", "flite", "festival"), help="voice engine (default piper)")
    p.add_argument("--no-play", action="store_true", help="do not play our speech to the speaker")
    p.add_argument("--av-delay", type=float, help="seconds our played audio is delayed for lip sync (default: measured)")
    p.add_argument("--no-virtualcam", action="store_true", help="do not try a virtual camera")
    p.add_argument("--no-mjpeg", action="store_true", help="do not serve MJPEG")
    p.add_argument("--mjpeg-port", type=int, help="MJPEG port (default 8765; 0 = any free)")
    p.add_argument("--preview", action="store_true", default=None, help="serve the WebSocket JPEG preview")
    p.add_argument("--preview-port", type=int, help="preview port (default 8766)")
    p.add_argument("--webrtc", action="store_true", default=None,
                   help="serve WebRTC (picture and sound in one stream; the panel's preview uses it; "
                        "needs pip install 'marionette[webrtc]')")
    p.add_argument("--webrtc-port", type=int, help="WebRTC offer port (default 8769)")
    p.add_argument("--record", metavar="MP4", help="record to this mp4 (with audio)")
    p.add_argument("--no-virtual-mic", action="store_true",
                   help="do not create the virtual microphone 'Marionette Microphone' (your voice, delayed to "
                        "match the avatar's lips, for call apps; needs a PulseAudio or PipeWire server)")
    p.add_argument("--motion-out", metavar="TRACK",
                   help="write the motion exactly as rendered to this .json/.csv motion track, timed against the "
                        "sound as heard (the sound goes next to it as .wav); score it with the offline tools")
    p.add_argument("--no-control", action="store_true", help="do not serve the agents' control websocket")
    p.add_argument("--control-port", type=int, help="control websocket port (default 8768; 0 = any free)")
    p.add_argument("--no-panel", action="store_true", help="do not serve the web control panel")
    p.add_argument("--panel-port", type=int, help="control panel port (default 8767; 0 = any free)")
    p.add_argument("--obs", action="store_true", default=None,
                   help="connect to OBS Studio for captions, hotkeys and events (see `marionette obs setup`)")
    p.add_argument("--obs-port", type=int, help="OBS websocket port (default 4455; password from $MARIONETTE_OBS_PASSWORD)")
    p.add_argument("--stats-every", type=float, default=5.0, help="print live statistics every S seconds (0: never)")
    p.set_defaults(func=_run)


def overrides_from_args(args: argparse.Namespace) -> dict:
    from marionette.plugin.config import ConfigError

    o: dict = {}
    simple = {"portrait": "engine.portrait", "fps": "engine.fps", "generator": "engine.generator",
              "duration": "engine.duration", "source": "audio.source", "audio_file": "audio.file",
              "loop": "audio.loop", "say": "audio.say", "tts_engine": "audio.tts_engine", "av_delay": "audio.av_delay",
              "mjpeg_port": "sinks.mjpeg_port", "preview": "sinks.preview", "preview_port": "sinks.preview_port", "webrtc": "sinks.webrtc", "webrtc_port": "sinks.webrtc_port",
              "record": "sinks.record", "motion_out": "sinks.motion_out", "control_port": "control.port", "panel_port": "panel.port",
              "obs": "obs.enabled", "obs_port": "obs.port"}
    for attr, key in simple.items():
        v = getattr(args, attr, None)
        if v is not None:
            o[key] = v
    if args.device is not None:
        o["audio.device"] = int(args.device) if args.device.isdigit() else args.device
    if args.source == "camera" or getattr(args, "camera", None) is not None or getattr(args, "camera_file", None):
        if args.source == "camera":
            # The camera is not an audio source. Unless the lips come from the audio (camera+audio),
            # no microphone: its generated lips would be computed for nothing (the camera drives
            # them); speech we synthesize still plays.
            o["audio.source"] = "auto" if args.drive == "camera+audio" else "tts"
        o["camera.enabled"] = True
    for attr, key in (("camera_file", "camera.file"), ("drive", "camera.drive"), ("calibrate", "camera.calibrate"),
                      ("camera_motion_out", "camera.motion_out")):
        if getattr(args, attr, None) is not None:
            o[key] = getattr(args, attr)
    if getattr(args, "camera", None) is not None:
        o["camera.device"] = int(args.camera) if args.camera.isdigit() else args.camera
    if args.audio_file and args.source is None:
        o["audio.source"] = "file"
    if args.size:
        try:
            w, h = (int(x) for x in args.size.lower().split("x"))
        except ValueError as e:
            raise ConfigError(f"--size {args.size!r}, expected WIDTHxHEIGHT such as 512x512") from e
        o["engine.width"], o["engine.height"] = w, h
    for attr in ("framing", "background"):
        if getattr(args, attr, None) is not None:
            o[f"engine.{attr}"] = getattr(args, attr)
    if args.no_say:
        o["audio.say"] = ""
    if args.no_play:
        o["audio.play"] = False
    if args.no_virtualcam:
        o["sinks.virtualcam"] = False
    if args.no_mjpeg:
        o["sinks.mjpeg"] = False
    if getattr(args, "no_virtual_mic", False):
        o["sinks.virtual_mic"] = False
    if getattr(args, "no_control", False):
        o["control.enabled"] = False
    if getattr(args, "no_panel", False):
        o["panel.enabled"] = False
    return o


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from marionette.plugin.config import load_config, to_toml

    cfg = load_config(args.config, overrides_from_args(args))
    if cfg.engine.duration is not None and cfg.sinks.record is None:
        from dataclasses import replace

        cfg = replace(cfg, sinks=replace(cfg.sinks, record="out/run.mp4"))
    if args.print_config:
        print(to_toml(cfg))
        return 0

    from marionette.plugin.live import build_live

    print("marionette run: starting", flush=True)
    app = build_live(cfg, report=lambda n: print(n, flush=True))
    app.engine.subscribe(lambda ev: print(f"  {ev}", flush=True))
    if cfg.audio.say and app.playback is not None and cfg.audio.source != "file":
        app.say(cfg.audio.say)
    panel = None
    if cfg.control.enabled and cfg.panel.enabled:
        # The panel binds first: the control server must know its port to allow its Origin.
        from marionette.control_panel.server import panel_for_app

        panel = panel_for_app(app, host=cfg.control.host, port=cfg.panel.port)
    control = None
    if cfg.control.enabled:
        from marionette.plugin.control.live import start_control

        control, url, token_file = start_control(app, cfg.control, clock=app.clock,
                                                  page_ports=(panel.port,) if panel is not None else ())
        print(f"marionette run: control websocket {url} (token in {token_file}; see docs/protocol.md)", flush=True)
        if panel is not None:
            from marionette.plugin.control.auth import read_token

            panel.connect_to(url)
            print(f"marionette run: control panel {panel.url(read_token(token_file))} "
                  "(the #token part never leaves your browser)", flush=True)
    bridge = None
    if cfg.obs.enabled:
        from marionette.plugin.obs.bridge import start_bridge

        bridge = start_bridge(app, cfg.obs)
        print(f"marionette run: OBS at {cfg.obs.host}:{cfg.obs.port}, scene {cfg.obs.scene!r} "
              "(captions, hotkeys; reconnects by itself)", flush=True)
    mj = app.sinks.get("mjpeg")
    where = f"watch {mj.url}" if mj else "no viewer configured"
    until = f"for {cfg.engine.duration:g} s" if cfg.engine.duration else "until Ctrl-C"
    print(f"marionette run: running at {cfg.engine.fps:g} fps {until}; {where}", flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, app.stop)
            except (NotImplementedError, RuntimeError):  # not the main thread / Windows
                pass
        ticker = asyncio.create_task(_print_stats(app, args.stats_every))
        try:
            await app.run(cfg.engine.duration)
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            await app.close()

    from marionette.core.render.threads import single_thread

    try:
        with single_thread():  # one BLAS/OpenCV thread: the engine owns the cores (core/render/threads.py)
            asyncio.run(main())
    finally:
        if bridge is not None:
            bridge.stop()
        if control is not None:
            control.stop()
        if panel is not None:
            panel.close()
    st = app.engine.stats()
    print(f"marionette run: stopped after {st.frames} frames; {st.summary()}", flush=True)
    rec = app.sinks.get("record")
    failed = rec is not None and rec.failure is not None
    if failed:  # a recording that did not happen is a failure, said last so it is seen
        print(f"marionette run: error: recording failed: {rec.failure}",
              file=sys.stderr, flush=True)
    elif rec is not None:
        print(f"marionette run: recorded {rec.path} ({rec.frames} frames, {rec.audio_seconds:.1f} s of audio)", flush=True)
    mo = app.sinks.get("motion_out")
    if mo is not None:
        print(f"marionette run: motion track {mo.path} ({mo.frames} frames at {mo.fps:g} fps) and the sound heard "
              f"in {mo.wav_path}", flush=True)
    return 1 if failed else 0


async def _print_stats(app, every: float) -> None:
    import asyncio

    from marionette.core.memory import rss_mb

    if every <= 0:
        return
    while True:
        await asyncio.sleep(every)
        print(f"  stats: {app.engine.stats().summary()}, memory {rss_mb():.0f} MB", file=sys.stdout, flush=True)
