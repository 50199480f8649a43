"""`marionette obs setup|teardown|status`: put the avatar into OBS (or take it out) over obs-websocket.

The password may come from --password or, to keep it out of the process list, from the
MARIONETTE_OBS_PASSWORD environment variable.
"""

from __future__ import annotations

import argparse
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    obs = subparsers.add_parser("obs", help="set up or remove Marionette's scene in OBS Studio")
    sub = obs.add_subparsers(dest="obs_command", metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        from ..config import port_number
        from ..obs.client import DEFAULT_PORT
        from ..obs.scene import DEFAULT_SCENE

        p.add_argument("--host", default="127.0.0.1", help="OBS websocket host (default 127.0.0.1)")
        p.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                       help=f"OBS websocket port (default {DEFAULT_PORT})")
        p.add_argument("--password", default=None,
                       help="OBS websocket password (default: $MARIONETTE_OBS_PASSWORD, else none)")
        p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for OBS to answer (default 3)")
        p.add_argument("--scene", default=DEFAULT_SCENE, help=f"scene name (default {DEFAULT_SCENE!r})")

    setup = sub.add_parser("setup", help="create or update the scene: avatar stream, captions, optional camera")
    common(setup)
    setup.add_argument("--stream-url", default=None,
                       help="MJPEG stream the avatar source reads (default: the one `marionette run` serves, "
                            "http://127.0.0.1:8765/stream.mjpg?token=<its watch-only token>; a URL you give "
                            "must carry ?token= too)")
    setup.add_argument("--token-file", default=None, metavar="PATH",
                       help="the control token file `run` uses (default: the one in the Marionette config "
                            "directory); the stream's watch-only token is derived from it")
    setup.add_argument("--camera-device", default=None, metavar="DEV",
                       help="also add a (hidden) v4l2 source for the virtual camera, e.g. /dev/video10")
    setup.add_argument("--no-captions", action="store_true", help="do not add the caption text source")
    setup.add_argument("--no-activate", action="store_true", help="do not switch OBS to the scene")
    setup.add_argument("--no-triggers", action="store_true",
                       help="do not add the '<scene> Triggers' scene of hidden sources whose Show hotkeys "
                            "fire gestures and emotions")
    setup.set_defaults(func=_setup)

    teardown = sub.add_parser("teardown", help="remove the scene and its sources")
    common(teardown)
    teardown.set_defaults(func=_teardown)

    status = sub.add_parser("status", help="check that OBS answers and show its version and scenes")
    common(status)
    status.set_defaults(func=_status)
    obs.set_defaults(func=lambda args: obs.print_help() or 0)


def _config(args: argparse.Namespace):
    from ..obs.client import ObsConfig

    password = args.password if args.password is not None else os.environ.get("MARIONETTE_OBS_PASSWORD", "")
    return ObsConfig(host=args.host, port=args.port, password=password,
                     connect_timeout=args.timeout, request_timeout=max(args.timeout, 5.0))


def _setup(args: argparse.Namespace) -> int:
    from ..obs.client import ObsClient
    from ..obs.scene import DEFAULT_STREAM_URL, SceneSpec, setup_scene

    stream_url = args.stream_url
    if stream_url is None:
        from ..control.auth import stream_tokens

        view, _ = stream_tokens(args.token_file)  # stable across runs: OBS keeps a working URL
        stream_url = f"{DEFAULT_STREAM_URL}?token={view}"
    spec = SceneSpec(scene=args.scene, stream_url=stream_url,
                     captions=not args.no_captions, camera_device=args.camera_device,
                     activate=not args.no_activate, triggers=not args.no_triggers)
    with ObsClient(_config(args)).connect() as client:
        report = setup_scene(client, spec)
    print(report.summary())
    print(f"avatar source reads {spec.stream_url}; start `marionette run` to feed it")
    if spec.triggers:
        print(f"hotkeys: bind keys to \"Show '{spec.scene}: nod'\" etc. in OBS Settings > Hotkeys")
    return 0


def _teardown(args: argparse.Namespace) -> int:
    from ..obs.client import ObsClient
    from ..obs.scene import SceneSpec, teardown_scene

    with ObsClient(_config(args)).connect() as client:
        report = teardown_scene(client, SceneSpec(scene=args.scene))
    print(report.summary())
    return 0


def _status(args: argparse.Namespace) -> int:
    from ..obs.client import ObsClient

    with ObsClient(_config(args)).connect() as client:
        version = client.request("GetVersion")
        scenes = client.request("GetSceneList")
    names = ", ".join(s["sceneName"] for s in reversed(scenes["scenes"]))
    print(f"OBS {version['obsVersion']} (obs-websocket {version['obsWebSocketVersion']}) at {args.host}:{args.port}")
    print(f"program scene: {scenes['currentProgramSceneName']}; scenes: {names}")
    return 0
