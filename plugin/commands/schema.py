"""`marionette schema`: the JSON Schemas of the control protocol (one per message type)."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser("schema", help="print the JSON Schemas of the control protocol",
                              description="Print the JSON Schema (draft 2020-12) of every control protocol message, "
                                          "or of one type. Clients can validate against these before sending.")
    p.add_argument("type", nargs="?", help="one message type (speak, set_expression, reply, event, ...); default: all")
    p.add_argument("--out", metavar="DIR", help="write one NAME.json per schema into DIR instead of printing")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..control.messages import PROTOCOL_VERSION
    from ..control.schema import all_schemas
    from ...core.errors import InputError

    schemas = all_schemas()
    if args.type is not None:
        if args.type not in schemas:
            raise InputError(f"no message type {args.type!r}; expected one of {', '.join(schemas)}")
        schemas = {args.type: schemas[args.type]}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, schema in schemas.items():
            (out / f"{name}.json").write_text(json.dumps(schema, indent=2) + "\n")
        print(f"wrote {len(schemas)} schemas (protocol v{PROTOCOL_VERSION}) to {out}")
    elif args.type is not None:
        print(json.dumps(schemas[args.type], indent=2))
    else:
        print(json.dumps({"protocol": PROTOCOL_VERSION, "schemas": schemas}, indent=2))
    return 0
