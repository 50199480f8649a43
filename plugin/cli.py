"""The `marionette` command line: one subcommand per job, heavy imports inside each."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from importlib.metadata import PackageNotFoundError, version

from ..core.errors import MarionetteError


def _version() -> str:
    try:
        return version("marionette")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marionette",
        description="Realtime talking-head engine: one portrait, live audio, a named motion space.",
    )
    parser.add_argument("--version", action="version", version=f"marionette {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Every module in plugin/commands registers its own subcommands, so adding a command
    # never edits this file. Modules import their heavy dependencies inside the handler.
    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (MarionetteError, FileNotFoundError) as e:
        print(f"marionette {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
