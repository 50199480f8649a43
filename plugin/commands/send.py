"""`marionette send`: one control message to the running engine from the shell (scripts, quick checks)."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "send", help="send one control message to the running engine and print the reply",
        description="Send one control protocol message (docs/protocol.md) and print the reply as JSON. Fields are "
                    "key=value pairs (values parsed as JSON when they can be, else taken as text) or one JSON object. "
                    "Examples: marionette send speak text='[happy] Hello!'; marionette send gesture name=nod; "
                    "marionette send set_expression '{\"values\": {\"jawOpen\": 0.8}, \"hold\": 2}'")
    p.add_argument("type", help="message type (speak, set_expression, gesture, get_state, ...)")
    p.add_argument("fields", nargs="*", help="key=value pairs, or one JSON object")
    p.add_argument("--url", default=None, help="control websocket (default ws://127.0.0.1:8768/)")
    p.add_argument("--token", default=None, help="control token (default: read from the config directory)")
    p.add_argument("--wait", metavar="EVENT", help="after the reply, wait for this event (e.g. speech_end) and print it")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the reply or event (default 30)")
    p.set_defaults(func=_run)


def parse_fields(items: list[str]) -> dict:
    from ...core.errors import InputError

    if len(items) == 1 and items[0].lstrip().startswith("{"):
        try:
            obj = json.loads(items[0])
        except ValueError as e:
            raise InputError(f"fields {items[0]!r} are not a JSON object ({e})") from None
        if not isinstance(obj, dict):
            raise InputError("fields must be one JSON object or key=value pairs")
        return obj
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise InputError(f"field {item!r}: expected key=value (e.g. text='Hello' or intensity=0.5)")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value  # plain text
    return out


def _check_url(url: str) -> None:
    """A ws:// or wss:// URL with a port in 0..65535, said in one line otherwise."""
    from urllib.parse import urlsplit

    from ...core.errors import InputError

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port outside 0..65535
    except ValueError as e:
        raise InputError(f"--url {url!r}: {e}; expected ws://host:port/ with a port 0..65535") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise InputError(f"--url {url!r}, expected ws://host:port/ (the control websocket `marionette run` prints)")


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from ..control.auth import read_token
    from ..control.client import ControlClient, RemoteError
    from ..control.server import ServerConfig
    from ...core.errors import InputError

    fields = parse_fields(args.fields)
    url = args.url or f"ws://127.0.0.1:{ServerConfig().port}/"
    _check_url(url)
    token = args.token or read_token()

    async def main() -> int:
        from websockets.exceptions import InvalidStatus

        try:
            client = await ControlClient(url, token).connect(timeout=args.timeout)
        except InvalidStatus as e:
            raise InputError(f"the engine at {url} refused the connection (HTTP {e.response.status_code}): "
                             "check the token (--token, or the token file `marionette run` prints)") from None
        except OSError as e:
            raise InputError(f"cannot reach the engine at {url} ({e}); start it with `marionette run`") from None
        try:
            if args.wait:
                await client.request("subscribe", events=["speech", "errors", "status", "stats", "motion"],
                                     timeout=args.timeout)
            try:
                result = await client.request(args.type, timeout=args.timeout, **fields)
            except RemoteError as e:
                raise InputError(str(e)) from None
            print(json.dumps(result, indent=2))
            if args.wait:
                print(json.dumps(await client.next_event(args.wait, timeout=args.timeout), indent=2))
        finally:
            await client.close()
        return 0

    return asyncio.run(main())
