"""Starts the control websocket next to the live engine (`marionette run`), on its own thread.

The server runs on a separate event loop so protocol work never shares a loop with the frame
loop's pacing; it only touches the engine through EngineControl (LiveApp).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...core.clock import Clock
from ...core.control.api import EngineControl
from ...core.errors import InputError
from .auth import load_or_create_token, token_path
from .server import ControlServer, ServerConfig, ServerThread

if TYPE_CHECKING:
    from ..config import ControlConfig


def start_control(engine: EngineControl, cfg: ControlConfig, *, clock: Clock, page_ports: tuple[int, ...] = ()) -> tuple[ServerThread, str, Path]:
    """Serve ``engine`` as ``cfg`` (plugin.config.ControlConfig) says, plus the VMC bridges it asks
    for (closed with the server thread). Returns (thread, url, token file)."""
    path = Path(cfg.token_file) if cfg.token_file else token_path()
    token = load_or_create_token(path)
    origins = tuple(o.strip() for o in cfg.allow_origins.split(",") if o.strip())
    config = ServerConfig(host=cfg.host, port=cfg.port, allowed_origins=origins, page_ports=page_ports,
                          rate=cfg.rate, burst=2 * cfg.rate)
    server = ControlServer(engine, token=token, clock=clock, config=config)
    try:
        thread = ServerThread(server).start()
    except OSError as e:
        raise InputError(f"cannot serve the control websocket on {cfg.host}:{cfg.port} ({e.strerror or e}); "
                         "pass --control-port 0 for any free port, or --no-control") from None
    bridges = _start_vmc(engine, cfg, clock)
    if bridges:
        stop = thread.stop

        def stop_all() -> None:
            for b in bridges:
                b.close()
            stop()

        thread.stop = stop_all  # type: ignore[method-assign]
    return thread, server.url, path


def _start_vmc(engine: EngineControl, cfg: ControlConfig, clock: Clock) -> list:
    from .vmc import VmcReceiver, VmcSender

    bridges: list = []
    if cfg.vmc_in_port is not None:
        try:
            bridges.append(VmcReceiver(engine.mixer, clock=clock, host=cfg.host, port=cfg.vmc_in_port).start())
        except OSError as e:
            raise InputError(f"cannot receive VMC on {cfg.host}:{cfg.vmc_in_port} ({e.strerror or e}); "
                             "pick another [control] vmc_in_port") from None
    if cfg.vmc_out:
        host, _, port = cfg.vmc_out.rpartition(":")
        if not host or not port.isdigit():
            raise InputError(f"[control] vmc_out = {cfg.vmc_out!r}, expected host:port such as 127.0.0.1:39540")
        bridges.append(VmcSender(engine.subscribe, clock=clock, host=host, port=int(port)))
    return bridges
