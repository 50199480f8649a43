"""`marionette serve`: host many avatar sessions in one process (plugin/serve/host.py)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="host many independent avatars in one process, created and ended over a websocket",
        description="Host avatar sessions for agents. Each session has its own portrait, motion, controls (a "
                    "control websocket of its own, docs/protocol.md) and MJPEG stream; portraits are analysed once "
                    "and shared. Sessions are created and ended on the host websocket: "
                    "{\"type\": \"create_session\", \"portrait\": \"face.jpg\"}, {\"type\": \"end_session\", "
                    "\"session_id\": \"...\"}, {\"type\": \"list_sessions\"} (docs/agents.md). "
                    "`marionette bench density` says how many hold 30 fps here.")
    p.add_argument("--host", default="127.0.0.1", help="interface for every socket (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8770, help="host websocket port (default 8770; 0 = any free one)")
    p.add_argument("--max-sessions", type=int, default=16, help="sessions at most (default 16)")
    p.add_argument("--portraits", metavar="DIR", help="folder of photos clients may name (default: only the bundled portrait)")
    p.add_argument("--sessions", type=int, default=0, help="sessions to start at once with the bundled portrait")
    p.add_argument("--token-file", help="control token file (default: the one `marionette run` uses)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from pathlib import Path

    from ...core.errors import InputError
    from ..control.auth import load_or_create_token, token_path
    from ..serve.host import AvatarHost

    if not 1 <= args.max_sessions <= 256:
        raise InputError(f"--max-sessions {args.max_sessions}, expected 1..256")
    if args.portraits and not Path(args.portraits).is_dir():
        raise InputError(f"--portraits {args.portraits!r} is not a folder")
    path = Path(args.token_file) if args.token_file else token_path()
    host = AvatarHost(token=load_or_create_token(path), host=args.host, max_sessions=args.max_sessions,
                      portrait_dir=Path(args.portraits) if args.portraits else None)

    async def main() -> None:
        server = await host.serve_host(args.port)
        port = server.sockets[0].getsockname()[1] if hasattr(server, "sockets") else args.port
        print(f"marionette serve: ws://{args.host}:{port}/ (token in {path}); up to {args.max_sessions} sessions",
              flush=True)
        for _ in range(args.sessions):
            print(json.dumps(await host.create()), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            server.close()
            await host.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    return 0
