"""The OBS client and link against a real, headless OBS Studio (tests/obs_fixture.py)."""

import random
import socket
import time

import pytest

from marionette.plugin.obs import (
    Backoff, ObsClient, ObsConfig, ObsConnectionError, ObsLink, ObsRequestError,
)
from marionette.plugin.obs.client import RESOURCE_NOT_FOUND

from obs_fixture import HeadlessObs, obs, obs_missing_reason  # noqa: F401 - `obs` is a fixture

pytest.importorskip("obswebsocket", reason="obs-websocket-py not installed (pip install 'marionette[obs]')")


def test_connect_and_request(obs):
    with ObsClient(obs.config()).connect() as c:
        assert c.server_version.startswith("5.")
        video = c.request("GetVideoSettings")
        assert (video["baseWidth"], video["baseHeight"]) == (640, 360)


def test_request_error_keeps_obs_code(obs):
    with ObsClient(obs.config()).connect() as c:
        with pytest.raises(ObsRequestError) as info:
            c.request("GetInputSettings", inputName="no such input here")
        assert info.value.code == RESOURCE_NOT_FOUND
        assert "GetInputSettings" in str(info.value)


def test_wrong_password_is_a_clear_connection_error(obs):
    with pytest.raises(ObsConnectionError, match="password"):
        ObsClient(obs.config(password="wrong")).connect()


def test_silent_port_times_out_instead_of_hanging():
    """A port that accepts TCP and never speaks hung obs-websocket-py forever."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        t0 = time.monotonic()
        with pytest.raises(ObsConnectionError, match="timed out"):
            ObsClient(ObsConfig(port=port, connect_timeout=0.5)).connect()
        assert time.monotonic() - t0 < 3.0
    finally:
        server.close()


def test_closed_port_fails_fast_with_a_fix():
    with pytest.raises(ObsConnectionError, match="Enable WebSocket server"):
        ObsClient(ObsConfig(port=_closed_port(), connect_timeout=1.0)).connect()


def test_backoff_grows_and_caps():
    d = Backoff(initial=0.5, factor=2.0, maximum=3.0, jitter=0.0).delays(random.Random(0))
    assert [next(d) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    j = Backoff(initial=1.0, jitter=0.1).delays(random.Random(1))
    assert all(0.9 <= next(j) <= 1.1 for _ in range(1))


def test_link_reports_unreachable_and_keeps_trying():
    statuses = []
    link = ObsLink(ObsConfig(port=_closed_port(), connect_timeout=0.3),
                   on_status=statuses.append, backoff=Backoff(initial=0.05, maximum=0.1))
    with link:
        time.sleep(0.6)
        with pytest.raises(ObsConnectionError):
            link.call("GetVersion", timeout=0.2)
    states = [s.state for s in statuses]
    assert states[0] == "connecting" and "unreachable" in states and states[-1] == "stopped"
    unreachable = next(s for s in statuses if s.state == "unreachable")
    assert unreachable.retrying and unreachable.component == "obs"
    assert link.connects == 0


@pytest.mark.slow
def test_link_survives_obs_killed_and_restarted():
    reason = obs_missing_reason()
    if reason:
        pytest.skip(reason)
    peer = HeadlessObs()
    statuses, connected = [], []
    try:
        peer.start()
        link = ObsLink(peer.config(connect_timeout=1.0), on_status=statuses.append,
                       on_connect=lambda c: connected.append(c.request("GetVersion")["obsVersion"]),
                       backoff=Backoff(initial=0.2, maximum=1.0))
        with link:
            assert link.wait_connected(10)
            assert link.call("GetSceneList")["currentProgramSceneName"]
            peer.kill()  # a crash: no close frame
            _wait_for(lambda: not link.connected, 10, "link never noticed OBS died")
            with pytest.raises(ObsConnectionError):
                link.call("GetVersion", timeout=0.5)
            peer.start()
            _wait_for(lambda: link.connected, 20, f"no reconnect; statuses {statuses}")
            assert link.call("GetVersion")["obsVersion"].startswith("29")
            assert link.connects == 2 and len(connected) == 2
        states = [s.state for s in statuses]
        assert states.index("lost") < len(states) - 1 - states[::-1].index("connected")
    finally:
        peer.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(cond, timeout, msg):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(msg)
