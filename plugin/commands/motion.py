"""`marionette motion`: the motion track for an audio file, as JSON or CSV.

Useful on its own to drive a 3D avatar elsewhere (ARKit channel names), and the same code makes
the track behind `marionette render --audio`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "motion",
        help="make a motion track (ARKit blendshapes + head pose) from an audio file",
        description="Generate a motion track for AUDIO with a named generator and write it as .json or .csv. "
        "With --text the audio is force-aligned to the words (the teacher generator needs this).",
    )
    p.add_argument("audio", metavar="AUDIO", help="audio file (wav, flac, mp3, ...)")
    add_generation_options(p)
    p.add_argument("-o", "--output", required=True, help="output track, .json or .csv")
    p.set_defaults(func=run)


def add_generation_options(p: argparse.ArgumentParser) -> None:
    """Options shared with `render --audio`."""
    p.add_argument("--text", help="what is said in the audio (enables forced alignment and the teacher)")
    p.add_argument("--text-file", help="read the transcript from this file")
    p.add_argument("--generator", default="auto",
                   help="envelope, teacher or diffusion (default: diffusion when its model is present, "
                        "else teacher when --text is given, else envelope)")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second of the track (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed for blinks and head motion (default 0)")
    p.add_argument("--emotion", default=None, help="emotion label[:intensity], e.g. happy or sad:0.5")


def parse_emotion(text: str | None):
    from ...core.errors import InputError
    from ...core.motion_space import EMOTIONS
    from ...core.types import Emotion

    if not text:
        return None
    label, _, level = text.partition(":")
    if label not in EMOTIONS:
        raise InputError(f"--emotion {text!r}: unknown label {label!r}; expected one of {', '.join(EMOTIONS)}")
    try:
        intensity = float(level) if level else 1.0
    except ValueError:
        raise InputError(f"--emotion {text!r}: intensity {level!r} is not a number (expected 0..1)") from None
    if not 0.0 <= intensity <= 1.0:
        raise InputError(f"--emotion {text!r}: intensity {intensity}, expected 0..1")
    return Emotion(label, intensity)


def track_for_audio(args: argparse.Namespace, audio):
    """(MotionTrack, generator name) for an AudioChunk using the generation options in ``args``."""
    from ...core.errors import InputError
    from ...core.generators import available_generators, generate_track, get_generator

    text = args.text
    if args.text_file:
        if text:
            raise InputError("give the transcript once: --text or --text-file, not both")
        text = Path(args.text_file).read_text(encoding="utf-8")
    name = args.generator
    if name == "auto":
        have = available_generators()
        name = "diffusion" if "diffusion" in have else ("teacher" if text else "envelope")
    emotion = parse_emotion(args.emotion)
    generator = get_generator(name, fps=args.fps, seed=args.seed)
    if emotion is not None:
        if hasattr(generator, "set_emotion"):
            generator.set_emotion(emotion)
        else:
            print(f"marionette: the {name} generator does not take an emotion; --emotion ignored", file=sys.stderr)
    return generate_track(generator, audio, text=text), name


def run(args: argparse.Namespace) -> int:
    from ...core.audio import load_audio
    from ...core.errors import InputError

    out = Path(args.output)
    if out.suffix.lower() not in (".json", ".csv"):
        raise InputError(f"output {out}: expected a .json or .csv file name")
    if not (args.fps > 0 and args.fps <= 240):
        raise InputError(f"--fps {args.fps}: expected 1..240")
    audio = load_audio(args.audio)
    track, name = track_for_audio(args, audio)
    out.parent.mkdir(parents=True, exist_ok=True)
    track.save(out)
    print(f"{out}: {len(track)} frames at {track.fps:g} fps ({track.duration:.2f} s) from the {name} generator")
    return 0
