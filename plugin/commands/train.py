"""`marionette train`: train the motion diffusion model on a corpus, export ONNX, write loss curves.

Needs the `train` extra (torch); everything heavy is imported inside the handler. Resumable: pass
--resume with a checkpoint written by an earlier run (its configs and statistics win).
"""

from __future__ import annotations

from pathlib import Path

from ...core.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train the motion diffusion model on a corpus (needs the `train` extra)",
        description="Train the motion diffusion generator on `marionette corpus build` output, then export "
                    "diffusion.onnx + diffusion.json (the runtime's files) next to the checkpoint.")
    p.add_argument("--corpus", type=Path, required=True, help="corpus directory (marionette corpus build --out)")
    p.add_argument("--out", type=Path, required=True, help="where diffusion.pt/.onnx/.json and loss.csv/.png go")
    p.add_argument("--steps", type=int, default=4000, help="optimiser steps (default 4000)")
    p.add_argument("--minutes", type=float, default=60.0, help="stop once the total training time, resumed runs included, reaches this (default 60)")
    p.add_argument("--batch", type=int, default=128, help="windows per step (default 128)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--mouth-weight", type=float, default=1.0,
                   help="loss weight of the lip channels (jaw, closure, press, rounding...) against the rest "
                        "(default 1; a fresh run or --init-from only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--size", choices=("small", "base"), default="base", help="network size (default base)")
    p.add_argument("--mel-norm", type=float, default=None, metavar="FRAMES",
                   help="speaker normalisation of the audio features: rows of speech (10 ms) the corpus prior "
                        "counts as at a stream's start; 0 = off (default 50 for a new model; with --resume the "
                        "checkpoint's setting, unless given: then it is switched on for the fine-tune)")
    p.add_argument("--resume", type=Path, help="continue from this checkpoint (diffusion.pt)")
    p.add_argument("--init-from", type=Path, metavar="CKPT",
                   help="a fresh run whose weights and statistics start from this checkpoint (another "
                        "--lookahead is allowed: the audio context is mapped by offset)")
    p.add_argument("--lookahead", type=float, default=None, metavar="MS",
                   help="audio the model hears after each frame, in ms (default 120; the live delay is this "
                        "plus the rest of a hop)")
    p.add_argument("--export-only", action="store_true", help="skip training; export --resume (or OUT/diffusion.pt)")
    p.add_argument("--hop", type=int, default=2, help="runtime default: frames per model call (default 2)")
    p.add_argument("--sample-steps", type=int, default=4, help="runtime default: DDIM steps (default 4)")
    p.add_argument("--guidance", type=float, default=1.0, help="runtime default: guidance scale (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import os

    # Passive OpenMP waits: spinning threads collapse on a shared CPU (see models/diffusion/__init__.py).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise InputError("`marionette train` needs torch, which is not installed; "
                         "install the extra: pip install 'marionette[train]'") from None
    from ...models.diffusion.corpus import load_corpus
    from ...models.diffusion.export import export
    from ...models.diffusion.network import NetConfig
    from ...models.diffusion.train import RuntimeDefaults, TrainConfig, train

    if args.resume is not None and args.init_from is not None:
        raise InputError("--resume continues a run as it was; --init-from starts a new one from its weights: pick one")
    for flag, path in (("--resume", args.resume), ("--init-from", args.init_from)):
        if path is not None and not path.exists():
            raise InputError(f"{flag} {path}: no such checkpoint; expected a diffusion.pt from an earlier run")
    if args.lookahead is not None and not 0 <= args.lookahead <= 400:
        raise InputError(f"--lookahead {args.lookahead:g}: expected 0..400 ms")
    if args.resume is not None and not args.resume.exists():
        raise InputError(f"--resume {args.resume}: no such checkpoint; expected a diffusion.pt from an earlier run")
    runtime = RuntimeDefaults(hop=args.hop, steps=args.sample_steps, guidance=args.guidance)
    ckpt = args.resume or args.out / "diffusion.pt"
    corpus = load_corpus(args.corpus)
    if not args.export_only:
        if not corpus.train:
            raise InputError(f"corpus {args.corpus} has no training utterances; build one with "
                             "`marionette corpus build --out DIR --hours H`")
        sizes = {"small": NetConfig(d_model=96, n_layers=3, d_ff=192), "base": NetConfig()}
        cfg = TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                          max_minutes=args.minutes, threads=args.threads, mouth_weight=args.mouth_weight)
        print(f"train: {len(corpus.train)} utterances ({corpus.train_minutes:.1f} min) for training, "
              f"{len(corpus.heldout)} held out")
        ckpt = train(corpus.train, corpus.heldout, args.out, train_cfg=cfg,
                     data_cfg=_data_config(args, corpus.fps), net_cfg=sizes[args.size], resume=args.resume,
                     progress=not args.quiet, init_from=args.init_from)
    onnx = export(ckpt, args.out, runtime=runtime, centre_offset=corpus.centre_offset)
    print(f"train: wrote {ckpt}, {onnx}, {args.out / 'diffusion.json'}, {args.out / 'loss.csv'}, "
          f"{args.out / 'loss.png'}")
    return 0


def _data_config(args, fps: float):
    from dataclasses import replace

    from ...models.diffusion.data import DataConfig

    frames = args.mel_norm if args.mel_norm is not None else (0.0 if args.resume else 50.0)
    if frames < 0:
        raise InputError(f"--mel-norm {frames:g}: expected 0 (off) or a positive number of 10 ms rows")
    cfg = DataConfig(fps=fps, mel_norm_frames=frames)
    if args.lookahead is not None:
        cfg = replace(cfg, lookahead=args.lookahead / 1000.0)
    return cfg
