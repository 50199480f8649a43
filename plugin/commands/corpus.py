"""`marionette corpus build --out DIR --hours H --seed S`: the training corpus for audio -> motion."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("corpus", help="build the speech -> motion training corpus")
    sub = p.add_subparsers(dest="corpus_command", metavar="ACTION")
    b = sub.add_parser("build", help="synthesize and collect speech, augment it, teach motion, write shards",
                       description="Shards of (audio features, teacher motion, phones, metadata) from many TTS voices "
                                   "plus real recorded speech (Debian asterisk-core-sounds-en), with held-out voices/clips.")
    b.add_argument("--out", required=True, help="output directory (new or empty)")
    b.add_argument("--hours", type=float, default=2.0, help="hours of audio to make (default 2)")
    b.add_argument("--seed", type=int, default=0, help="the same seed gives the same corpus")
    b.add_argument("--fps", type=float, default=25.0, help="motion frames per second (default 25)")
    b.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    b.add_argument("--real-copies", type=int, default=3, help="augmented copies of each training clip of real speech")
    b.add_argument("--engines", default="piper,espeak,flite,festival", help="comma-separated TTS engines to use")
    b.add_argument("--json", action="store_true", help="print the manifest as JSON")
    b.set_defaults(func=_build)
    r = sub.add_parser("relabel", help="re-teach the mouth of a built corpus with the current teacher",
                       description="Copies a corpus with every utterance's jaw/mouth channels recomputed by the current "
                                   "teacher from the stored phones (minutes, not the hours of a build).")
    r.add_argument("--corpus", required=True, help="a directory made by `marionette corpus build`")
    r.add_argument("--out", required=True, help="output directory (new or empty)")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.set_defaults(func=_relabel)
    p.set_defaults(func=lambda args: p.print_help() or 0)


def _build(args) -> int:
    from pathlib import Path

    from ...tools.corpus.build import BuildConfig, build
    from ...core.errors import InputError

    if not args.hours > 0:
        raise InputError(f"--hours {args.hours}, expected a positive number of hours")
    cfg = BuildConfig(out=Path(args.out), hours=args.hours, seed=args.seed, fps=args.fps, workers=max(1, args.workers),
                      real_copies=max(1, args.real_copies), engines=tuple(e.strip() for e in args.engines.split(",") if e.strip()))
    import signal

    def _stop(signum, frame):  # `kill` stops the workers too, as Ctrl-C does
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        m = build(cfg)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.json:
        print(json.dumps({k: v for k, v in m.items() if k != "composition"}))
    else:
        print(f"corpus: {m['hours']:.2f} h ({m['train_hours']:.2f} train, {m['heldout_hours']:.2f} held out), "
              f"{sum(m['utterances'].values())} utterances, real speech {m['real_minutes']} min, "
              f"{sum(len(v) for v in m['voices'].values())} training voices, built in {m['build_seconds']:.0f} s -> {args.out}")
        if m["failed"]:
            print(f"  {len(m['failed'])} utterances failed (see manifest.json 'failed')")
    return 0


def _relabel(args) -> int:
    from ...tools.corpus.relabel import relabel

    summary = relabel(args.corpus, args.out)
    print(json.dumps(summary) if args.json else
          f"relabelled {summary['utterances']} utterances in {summary['shards']} shards -> {args.out} "
          f"(mean |mouth change| {summary['mean_abs_mouth_change']})")
    return 0
