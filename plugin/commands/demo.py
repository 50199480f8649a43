"""`marionette demo`: the built-in portrait speaks the greeting into out/demo.mp4. Offline (text to
speech, then `render --audio --text`), so it needs no microphone, speaker or camera and every frame
is drawn even on a busy machine; the price is that it is not live (see `marionette run` for that).
"""

from __future__ import annotations

import argparse

DEFAULT_OUT = "out/demo.mp4"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help=f"make the built-in portrait say a greeting ({DEFAULT_OUT})",
        description="Synthesise a sentence and render the built-in portrait (or --portrait) saying it, "
                    f"with the sound, into {DEFAULT_OUT}. Needs no sound card or camera.")
    p.add_argument("-o", "--output", default=DEFAULT_OUT, help=f"output .mp4 (default {DEFAULT_OUT})")
    p.add_argument("--say", help="text to speak (default: the greeting of `marionette run`)")
    p.add_argument("--portrait", help="portrait image (default: the built-in one)")
    p.add_argument("--tts-engine", choices=("piper", "espeak", "flite", "festival"),
                   help="voice engine (default piper, else the first one installed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    import soundfile as sf

    from marionette.core.speech.errors import EngineUnavailableError
    from marionette.core.speech.tts import ENGINES, available_engines, synthesize
    from marionette.plugin.cli import main
    from marionette.plugin.config import GREETING

    text = args.say or GREETING
    reasons = available_engines()
    engine = args.tts_engine or next((e for e in ENGINES if reasons[e] is None), None)
    if engine is None or reasons[engine] is not None:
        why = reasons.get(engine) if engine else "; ".join(f"{e}: {r}" for e, r in reasons.items())
        raise EngineUnavailableError(f"demo needs a voice engine: {why} (scripts/setup.sh installs them)")
    audio, _ = synthesize(text, engine=engine)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "say.wav"
        sf.write(wav, audio.samples, audio.sample_rate)
        argv = ["render", "--audio", str(wav), "--text", text, "-o", args.output]
        argv += ["--portrait", args.portrait] if args.portrait else []
        argv += ["--no-progress"] if args.no_progress else []
        print(f"marionette demo: {engine} voice, {len(audio.samples) / audio.sample_rate:.1f} s", flush=True)
        return main(argv)
