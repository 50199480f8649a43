"""`marionette render`: a motion track (or a contact sheet) rendered on a portrait."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render",
        help="render a motion track on a portrait to an mp4 (or PNG frames, or contact sheets)",
        description="Render a motion track (JSON or CSV, see `marionette` track format) on a portrait. "
        "Without --portrait the bundled default portrait is used.",
    )
    p.add_argument("--portrait", help="photo with one face (default: the bundled portrait)")
    p.add_argument("--face-index", type=int, default=0, help="which face when the photo has several (0 = largest)")
    p.add_argument("--motion", help="motion track, .json or .csv")
    p.add_argument("--audio", help="audio to lip-sync to and mux into the mp4; without --motion the track is "
                   "generated from it (see --generator, --text)")
    p.add_argument("-o", "--output", help="output .mp4")
    p.add_argument("--frames", metavar="DIR", help="write PNG frames into DIR instead of (or as well as) an mp4")
    p.add_argument("--size", default="512x512", help="output size: 512x512 (default), 1280x720, 1920x1080")
    p.add_argument("--framing", default="head-and-shoulders", metavar="SHOT",
                   help="head-and-shoulders (default) or close-up: the photo is cropped to fill the frame")
    p.add_argument("--background", default="keep", metavar="MODE",
                   help="keep (default: the photo's own, still while the head moves), blur, green, "
                        "color:#RRGGBB, image:PATH, transparent (PNG frames carry the alpha)")
    p.add_argument("--contact-sheet", metavar="DIR",
                   help="write one PNG per portrait: every supported channel at 0, 0.5, 1 and the pose extremes")
    p.add_argument("--gallery", metavar="DIR",
                   help="write the README gallery into DIR (faces neutral/speaking/blink/turned, background "
                        "modes, a short clip; e.g. docs/img/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from .motion import add_generation_options

    add_generation_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ...core.errors import InputError
    from ...core.render.background import BackgroundSpec
    from ...core.render.framing import parse_shot, parse_size

    size = parse_size(args.size)
    args.framing = parse_shot(args.framing)
    BackgroundSpec.parse(args.background)  # a bad mode fails before any work
    if args.gallery:
        from ...tools.gallery import write_gallery

        for path in write_gallery(args.gallery, progress=not args.no_progress):
            print(path)
        return 0
    if args.contact_sheet:
        from ...tools.contact_sheet import write_contact_sheets

        for path in write_contact_sheets(args.contact_sheet, args.portrait, progress=not args.no_progress):
            print(path)
        return 0
    if not args.motion and not args.audio:
        raise InputError("render needs --motion TRACK.json or --audio AUDIO (or --contact-sheet DIR); "
                         "see `marionette render --help`")
    if not args.output and not args.frames:
        raise InputError("render needs somewhere to write: -o OUT.mp4 and/or --frames DIR")
    if args.output and Path(args.output).suffix.lower() != ".mp4":
        raise InputError(f"output {args.output}: expected a .mp4 file name (or use --frames DIR for PNGs)")
    return render_track(args, size)


def render_track(args: argparse.Namespace, size: tuple[int, int]) -> int:
    import cv2
    import numpy as np
    from tqdm import tqdm

    from ...core.render.portrait import load_renderer
    from ...core.render.video import write_video
    from ...core.track import load_track

    audio = None
    if args.audio:
        from ...core.audio import load_audio

        audio = load_audio(args.audio)
    if args.motion:
        track, report = load_track(args.motion)
        if report:
            print(f"marionette render: {report.summary()}", file=sys.stderr)
    else:
        from .motion import track_for_audio

        track, generator = track_for_audio(args, audio)
        print(f"marionette render: {len(track)} frames of motion from the {generator} generator", file=sys.stderr)
    renderer, times = load_renderer(args.portrait, size, face_index=args.face_index,
                                    shot=args.framing, background=args.background)
    frames_dir = Path(args.frames) if args.frames else None
    if frames_dir:
        frames_dir.mkdir(parents=True, exist_ok=True)
    pose_clamps: dict[str, tuple[int, float]] = {}

    def frames():
        for i, motion in enumerate(tqdm(track.frames(), total=len(track), unit="frame",
                                        disable=args.no_progress, desc="render")):
            img = renderer.render(motion)
            for c in renderer.last_stats.clamps:
                n, worst = pose_clamps.get(c.channel, (0, c.requested))
                worst = c.requested if abs(c.requested - c.applied) > abs(worst) else worst
                pose_clamps[c.channel] = (n + 1, worst)
            if frames_dir:
                bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
                if renderer.last_alpha is not None:  # --background transparent: RGBA PNGs
                    bgr = np.dstack([bgr, renderer.last_alpha])
                cv2.imwrite(str(frames_dir / f"{i:06d}.png"), bgr)
            yield img

    if args.output:
        n = write_video(frames(), args.output, track.fps, audio=audio)
        where = args.output
    else:
        n = sum(1 for _ in frames())
        where = str(frames_dir)
    for name, (count, worst) in pose_clamps.items():
        lo, hi = renderer.pose_range.get(name, (0.0, 1.0))
        print(f"marionette render: {name} clamped in {count} frames to the renderer's range {lo:g}..{hi:g} "
              f"(e.g. {worst:g})", file=sys.stderr)
    unsupported = [c for c in renderer.unsupported_channels if abs(track.channel(c)).max() > 0]
    if unsupported:
        print(f"marionette render: channels this renderer cannot show were ignored: {', '.join(unsupported)}",
              file=sys.stderr)
    print(f"{where}: {n} frames at {size[0]}x{size[1]}, {track.fps:g} fps "
          f"(analysis {times.analysis * 1000:.0f} ms, precompute {times.precompute * 1000:.0f} ms)")
    return 0
