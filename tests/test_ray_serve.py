"""Avatar sessions on Ray Serve (plugin/ray_serve.py), on a real local Ray cluster (this machine,
one node): two sessions in two replicas, frames over Serve HTTP and each replica's MJPEG, a
control through the deployment handle, one replica killed and replaced by Serve (the session
comes back in a new process; the other one never stops), a session ended. Prints the session
start time and the recovery time."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

pytest.importorskip("ray.serve", reason="the ray extra is not installed (pip install -e '.[ray]')")

import ray  # noqa: E402
from ray import serve  # noqa: E402

from marionette.plugin.ray_serve import AvatarSessions, kill_replica  # noqa: E402
from marionette.plugin.session import AvatarOptions  # noqa: E402

pytestmark = pytest.mark.slow
SIZE = 128  # small pictures: the cluster shares two cores with the test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def cluster():
    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="marionette-test",
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()
    ray.shutdown()


def test_sessions_as_replicas_recover_after_a_kill_and_end(cluster):
    sessions = AvatarSessions(token="ray-test-token-123456")
    opts = AvatarOptions(width=SIZE, height=SIZE)
    a = sessions.create("alice", opts)
    b = sessions.create("bob", opts)
    assert a["pid"] != b["pid"], "each session runs in a replica of its own"

    status, body = get(f"{cluster}/avatars/alice/frame.jpg")
    img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert status == 200 and img.shape == (SIZE, SIZE, 3)
    status, body = get(f"{cluster}/avatars/bob/info")
    assert status == 200 and json.loads(body)["session_id"] == "bob"
    with urllib.request.urlopen(a["mjpeg_url"].replace("/stream.mjpg", "/snapshot.jpg"), timeout=10) as r:
        assert r.status == 200 and r.read()[:2] == b"\xff\xd8"
    assert sessions.call("alice", "control", {"type": "set_emotion", "label": "happy"})["ok"]
    bad = sessions.call("alice", "control", {"type": "set_emotion", "label": "ecstatic"})
    assert not bad["ok"] and "ecstatic" in bad["error"]

    bob_before = sessions.call("bob", "info")
    t_kill = time.monotonic()
    kill_replica("alice")
    deadline, back = t_kill + 120, None
    while time.monotonic() < deadline:
        try:
            info = sessions.call("alice", "info")
            if info["pid"] != a["pid"] and info["frames"] > 0:
                back = info
                break
        except Exception:  # noqa: BLE001 - the replica is being replaced
            pass
        time.sleep(0.2)
    recovery = time.monotonic() - t_kill
    assert back is not None, "Serve did not bring the session back"
    bob_after = sessions.call("bob", "info")
    print(f"ray serve: session start {a['create_seconds']} s / {b['create_seconds']} s (replica's own "
          f"{a['start_seconds']} s); recovered in {recovery:.1f} s after the kill (pid {a['pid']} -> {back['pid']}); "
          f"bob {bob_before['frames']} -> {bob_after['frames']} frames meanwhile")
    assert bob_after["pid"] == bob_before["pid"] and bob_after["frames"] > bob_before["frames"]

    sessions.end("alice")
    assert sessions.list() == ["bob"]
    deadline = time.monotonic() + 30
    while get(f"{cluster}/avatars/alice/info")[0] == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert get(f"{cluster}/avatars/alice/info")[0] == 404
    sessions.end("bob")
