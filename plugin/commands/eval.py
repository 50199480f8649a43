"""`marionette eval NAME ...`: evaluations with fixed, documented yardsticks, one subcommand each.

Each evaluation is a (register, run) pair in EVALUATIONS; adding one (e.g. `eval control`) is a
function that adds its arguments and a line in the table. Heavy imports happen inside run.
"""

from __future__ import annotations

import json


def _lipsync_args(p) -> None:
    p.add_argument("--generator", default="envelope", help="generator to judge (envelope, teacher, diffusion)")
    p.add_argument("--split", default="heldout-real", choices=("heldout-real", "heldout-tts"),
                   help="held-out recorded speech (default) or held-out TTS voices")
    p.add_argument("--fps", type=float, default=30.0, help="generator frame rate (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="only the first N utterances (quick look)")
    p.add_argument("--noisy", action="store_true",
                   help="the generator hears the audio through reverb/noise/codec (ground truth stays clean)")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")


def _lipsync_run(args) -> int:
    from ...tools.corpus.lipsync import evaluate

    r = evaluate(args.generator, args.split, fps=args.fps, seed=args.seed, limit=args.limit, noisy=args.noisy)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"lipsync {r['generator']} on {r['split']} ({r['n_utterances']} utterances, {r['minutes']} min"
          f"{', text given' if r['text_given'] else ''}{', noisy audio' if r['noisy'] else ''}):")
    for k in ("jaw_open_r", "bilabial_recall", "bilabial_precision", "rounded_recall", "offset_ms", "mouth_mae"):
        print(f"  {k:20s} {r[k]}")
    return 0


def _articulation_args(p) -> None:
    p.add_argument("--generator", default="diffusion",
                   help="generator to judge: a registry name (envelope, teacher, diffusion, ...), rms (loudness "
                        "baseline), truth (the phone table itself), live (`marionette run`'s whole live path "
                        "on a fake clock, as `--motion-out` writes it), or a PyPI peer: openfacefx (with the words), "
                        "openfacefx-energy (loudness); peers need `pip install marionette[peers]`; "
                        "tracks:DIR scores motion tracks made elsewhere for the files --export wrote")
    p.add_argument("--split", default="real", choices=("real", "tts"),
                   help="recorded sentences of speakers never trained on (default) or held-out TTS voices")
    p.add_argument("--fps", type=float, default=30.0, help="generator frame rate (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="only the first N utterances (quick look)")
    p.add_argument("--model", metavar="DIR", help="the diffusion model's directory (default: the shipped one), "
                                                    "e.g. the --out of `marionette train`")
    p.add_argument("--progress", action="store_true", help="print each utterance's scores to stderr")
    p.add_argument("--export", metavar="DIR",
                   help="write the split's audio (.wav) and transcripts (.txt) into DIR instead of scoring, for "
                        "tools outside Marionette or the live path (score their tracks with --generator tracks:DIR)")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")


def _articulation_run(args) -> int:
    from ...tools.articulation.evaluate import evaluate, export, format_report

    if args.export:
        names = export(args.split, args.export, args.limit)
        print(f"{len(names)} utterances of the {args.split} split in {args.export} (<name>.wav, <name>.txt)")
        return 0
    r = evaluate(args.generator, args.split, fps=args.fps, seed=args.seed, limit=args.limit, progress=args.progress,
                 model_dir=args.model)
    print(json.dumps(r) if args.json else format_report(r))
    return 0


def _control_args(p) -> None:
    p.add_argument("--portrait", action="append", metavar="IMAGE",
                   help="portrait to evaluate (repeatable; default: the sample faces astronaut, hopper, obama)")
    p.add_argument("--faces", choices=("portraits", "evaluation"), default="portraits",
                   help="without --portrait: 'portraits' (astronaut, hopper, obama; default) or 'evaluation' "
                        "(seven faces: those three, Obama mid-word and standing, a tight crop, a landscape cut)")
    p.add_argument("--size", default="512x512", help="render size (default 512x512)")
    p.add_argument("--json", action="store_true", help="print the whole report as one JSON object")
    p.add_argument("--out", metavar="FILE", help="also write the JSON report to FILE")


def _control_run(args) -> int:
    """Render commanded motions on real portraits, re-analyse every frame (tools/control_eval.py)."""
    import sys
    from pathlib import Path

    from ...core.face import load_image
    from ...tools.control_eval import TRACKERS, evaluate_control
    from ...core.render.framing import parse_size

    if args.portrait:
        portraits = {Path(p).stem: load_image(p) for p in args.portrait}
    elif args.faces == "evaluation":
        from ...core.face.samples import evaluation_faces

        portraits = evaluation_faces()
    else:
        from ...core.face.samples import portrait_faces

        portraits = portrait_faces()
    report = evaluate_control(portraits, parse_size(args.size)).to_json()
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    if args.json:
        print(json.dumps(report))
        return 0
    t = report["targets"]
    print(f"control on {', '.join(portraits)}; targets: channel <= {t['channel_error']}, "
          f"pose <= {t['pose_error_deg']} deg, neutral PSNR >= {t['psnr_db']} dB")
    for tracker in TRACKERS:
        r = report[tracker]
        print(f"[{tracker}] max channel error {r['max_channel_error']}, max pose error {r['max_pose_error_deg']} deg, "
              f"passed {r['passed']}")
        for case, v in r["per_case_max"].items():
            print(f"  {case:22s} channel {v['channel_error']:.3f}  pose {v['pose_error_deg']:.2f} deg  "
                  f"landmark gain >= {v['min_landmark_gain']:.2f}")
    print(f"neutral PSNR (face crop): {report['psnr_neutral_db']}")
    if report["analysis_failures"]:
        print("analysis failures: " + "; ".join(report["analysis_failures"]), file=sys.stderr)
    return 0


# name -> (help, add_arguments, run)
EVALUATIONS = {
    "lipsync": ("a generator's mouth against force-aligned ground truth on held-out speech", _lipsync_args, _lipsync_run),
    "articulation": ("a generator's mouth on unseen speakers against a phone-table truth (no teacher involved): "
                     "r, bilabial recall/precision, open vowels, lag", _articulation_args, _articulation_run),
    "control": ("render commanded motions on real portraits, re-analyse them: channel and pose errors, neutral PSNR",
                _control_args, _control_run),
}


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate generators and controls against fixed yardsticks")
    sub = p.add_subparsers(dest="eval_command", metavar="EVALUATION")
    for name, (help_text, add_args, run) in EVALUATIONS.items():
        e = sub.add_parser(name, help=help_text, description=help_text)
        add_args(e)
        e.set_defaults(func=run)
    p.set_defaults(func=lambda args: p.print_help() or 0)
