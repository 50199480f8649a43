"""`marionette bench NAME [--json]`: one micro-benchmark per stage, figures as a flat dict.

Benchmarks are registered by name below as "module:function" (the function returns a dict of
figures); adding one is one line, and its heavy imports happen only when it runs.
"""

from __future__ import annotations

import importlib
import json

BENCHMARKS: dict[str, tuple[str, str]] = {
    # name: ("module:function", one-line description)
    "features": ("marionette.core.audio.bench:bench_features",
                 "audio features (log-mel, loudness, F0, VAD): x realtime on one core, whole file and 20 ms pushes"),
    "generator": ("marionette.core.generators.diffusion:bench_generator",
                  "diffusion generator: amortised ms per frame on one core, first-frame delay, lookahead, per step count"),
}


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="micro-benchmarks of pipeline stages",
                              description="\n".join(f"{k}: {v[1]}" for k, v in BENCHMARKS.items()))
    p.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.set_defaults(func=_run)


def _run(args) -> int:
    target, _ = BENCHMARKS[args.name]
    module, func = target.split(":")
    figures = getattr(importlib.import_module(module), func)()
    if args.json:
        print(json.dumps({"benchmark": args.name, **figures}))
    else:
        for key, value in figures.items():
            print(f"{key:32s} {value}")
    return 0
