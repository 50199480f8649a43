"""The control websocket server against a running (simulated) engine: every command, refusals, floods.

A real server on a real socket, a real frame loop on the real clock; frames are checked, not mocks.
"""

import asyncio
import base64
import contextlib
import json
import os
import stat
import threading
import time

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from marionette.core.clock import MonotonicClock
from marionette.plugin.control.auth import load_or_create_token, token_matches
from marionette.plugin.control.server import ControlServer, ServerConfig, ServerThread
from marionette.plugin.control.sim_engine import SimEngine

TOKEN = "test-token-0123456789abcdef"


@contextlib.contextmanager
def running(seconds_per_char=0.06, **config):
    clock = MonotonicClock()
    engine = SimEngine(clock=clock, fps=30, seconds_per_char=seconds_per_char)
    loop_thread = threading.Thread(target=lambda: asyncio.run(engine.run()), daemon=True)
    loop_thread.start()
    server = ControlServer(engine, token=TOKEN, clock=clock, config=ServerConfig(port=0, **config))
    thread = ServerThread(server).start()
    try:
        yield engine, server
    finally:
        thread.stop()
        engine.stop()
        loop_thread.join(5)


class Client:
    """A synchronous test client: request() returns the whole reply or error object."""

    def __init__(self, server, token=TOKEN, origin=None, **kw):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.ws = connect(server.url, additional_headers=headers, origin=origin, compression=None, open_timeout=5, legacy=True, **kw)
        self.welcome = json.loads(self.ws.recv(timeout=5))["data"]
        self.events = []
        self._id = 0

    def request(self, type, **fields):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "type": type, **fields}))
        return self.answer(self._id)

    def answer(self, msg_id, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if msg["type"] in ("reply", "error") and msg.get("id") == msg_id:
                return msg
            self.events.append(msg)

    def event(self, name, timeout=5):
        for i, msg in enumerate(self.events):
            if msg.get("event") == name:
                return self.events.pop(i)["data"]
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if msg.get("type") == "event" and msg.get("event") == name:
                return msg["data"]
            self.events.append(msg)

    def close(self):
        self.ws.close()


def wait_frame(engine, pred, timeout=2.0):
    """The first frame emitted after now that satisfies pred (frames are checked, not state)."""
    start = engine.frames
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        f = engine.last_frame
        if engine.frames > start and f is not None and pred(f):
            return f
        time.sleep(0.005)
    raise AssertionError(f"no frame satisfied the check within {timeout}s; last {engine.last_frame.to_dict(nonzero_only=True)}")


@pytest.fixture(scope="module")
def live():
    with running() as (engine, server):
        yield engine, server


@pytest.fixture
def client(live):
    engine, server = live
    c = Client(server)
    yield c
    c.request("reset", transition=0)
    c.close()


def ok(reply):
    assert reply["type"] == "reply" and reply["ok"] is True, reply
    return reply["result"]


# --- one test per command, checking the frames -------------------------------------------------
def test_welcome_is_versioned(client):
    w = client.welcome
    assert w["protocol"] == 1 and "speak" in w["messages"] and w["limits"]["rate"] > 0


def test_set_expression_shows_on_frames_and_clears(client, live):
    engine, _ = live
    reply = client.request("set_expression", values={"jawOpen": 1.0, "browInnerUp": 0.5}, transition=0)
    ok(reply)
    wait_frame(engine, lambda f: f["jawOpen"] == 1.0 and abs(f["browInnerUp"] - 0.5) < 1e-6)
    ok(client.request("set_expression", values={"browInnerUp": 0.3}, mode="add", transition=0))
    wait_frame(engine, lambda f: abs(f["browInnerUp"] - 0.8) < 1e-6)
    ok(client.request("clear", channels=["jawOpen", "browInnerUp"], transition=0))
    wait_frame(engine, lambda f: f["browInnerUp"] == 0.0 and f["jawOpen"] < 0.01)


def test_set_expression_hold_releases(client, live):
    engine, _ = live
    ok(client.request("set_expression", values={"cheekPuff": 0.9}, transition=0.05, hold=0.2))
    wait_frame(engine, lambda f: abs(f["cheekPuff"] - 0.9) < 1e-6)
    wait_frame(engine, lambda f: f["cheekPuff"] == 0.0, timeout=2)


def test_clamped_values_are_reported(client, live):
    engine, _ = live
    reply = client.request("set_expression", values={"mouthSmileLeft": 4.0}, transition=0)
    assert reply["clamped"] == [{"channel": "mouthSmileLeft", "requested": 4.0, "applied": 1.0}]
    wait_frame(engine, lambda f: f["mouthSmileLeft"] == 1.0)


def test_set_pose(client, live):
    engine, _ = live
    ok(client.request("set_pose", yaw=12, pitch=-5, transition=0))
    wait_frame(engine, lambda f: abs(f.yaw - 12) < 1e-4 and abs(f.pitch + 5) < 1e-4)
    ok(client.request("set_pose", roll=3, mode="add", transition=0))
    wait_frame(engine, lambda f: abs(f.roll - 3) < 1e-4)


def test_set_emotion(client, live):
    engine, _ = live
    ok(client.request("set_emotion", label="happy", intensity=1.0, transition=0.1))
    f = wait_frame(engine, lambda f: f["mouthSmileLeft"] > 0.6 and f["cheekSquintRight"] > 0.4)
    state = ok(client.request("get_state"))
    assert state["controls"]["emotion"] == {"label": "happy", "intensity": 1.0}


def test_look_at(client, live):
    engine, _ = live
    ok(client.request("look_at", x=1.0, y=0.0, transition=0.05))
    wait_frame(engine, lambda f: f["eyeLookOutLeft"] > 0.99 and f["eyeLookInRight"] > 0.99 and f.yaw > 3)
    ok(client.request("clear", gaze=True, transition=0.05))
    wait_frame(engine, lambda f: f["eyeLookOutLeft"] == 0.0)


def test_gesture_nod_moves_pitch_then_returns(client, live):
    engine, _ = live
    ok(client.request("gesture", name="nod", intensity=1.0, duration=0.6))
    wait_frame(engine, lambda f: f.pitch > 3.0)
    wait_frame(engine, lambda f: abs(f.pitch) < 1e-6, timeout=2)


def test_gesture_wink_side(client, live):
    engine, _ = live
    ok(client.request("gesture", name="wink", side="right"))
    f = wait_frame(engine, lambda f: f["eyeBlinkRight"] > 0.9)
    assert f["eyeBlinkLeft"] < 0.1


def test_reset(client, live):
    engine, _ = live
    ok(client.request("set_expression", values={"jawOpen": 1.0}, transition=0))
    ok(client.request("set_emotion", label="angry", transition=0))
    wait_frame(engine, lambda f: f["jawOpen"] == 1.0 and f["browDownLeft"] > 0.5)
    ok(client.request("reset", transition=0.1))
    wait_frame(engine, lambda f: f["browDownLeft"] == 0.0 and f["jawOpen"] < 0.01, timeout=2)
    state = ok(client.request("get_state"))
    assert state["controls"]["overrides"] == {} and state["controls"]["emotion"]["label"] == "neutral"


def test_speak_with_tags_emits_speech_events_and_acts_on_tags(client, live):
    engine, _ = live
    ok(client.request("subscribe", events=["speech"]))
    result = ok(client.request("speak", text="[surprised] Oh! [nod] That is great. [smile_flash]"))
    assert [s["emotion"] for s in result["segments"]] == ["surprised", "surprised"]
    first, second = result["speech_ids"]
    start = client.event("speech_start")
    assert start["speech_id"] == first and start["text"] == "Oh!"
    wait_frame(engine, lambda f: f["eyeWideLeft"] > 0.3)  # the emotion tag shows while speaking
    assert client.event("speech_end")["speech_id"] == first
    assert client.event("speech_start")["speech_id"] == second
    wait_frame(engine, lambda f: f.pitch > 2.0)  # [nod] fires as the second segment starts
    assert client.event("speech_end", timeout=5)["speech_id"] == second
    wait_frame(engine, lambda f: f["mouthSmileLeft"] > 0.3)  # trailing [smile_flash]


def test_interrupt_stops_speech(client, live):
    engine, _ = live
    ok(client.request("subscribe", events=["speech"]))
    sid = ok(client.request("speak", text="This is a very long sentence that will be cut off. " * 3))["speech_ids"][0]
    assert client.event("speech_start")["speech_id"] == sid
    ok(client.request("interrupt"))
    end = client.event("speech_end")
    assert end["speech_id"] == sid and end["interrupted"] is True
    assert not engine.status()["speaking"]


def test_push_audio_base64_and_binary(client, live):
    engine, _ = live
    before, ended = engine.pushed_samples, engine.segments_ended
    pcm = (np.sin(np.arange(1600) / 5) * 8000).astype("<i2").tobytes()
    result = ok(client.request("push_audio", pcm=base64.b64encode(pcm).decode(), sample_rate=16000))
    assert result == {"samples": 1600, "seconds": 0.1}
    client.ws.send(pcm)  # binary frame at the connection's sample rate
    ok(client.request("push_audio", end=True))
    assert engine.pushed_samples - before == 3200 and engine.segments_ended == ended + 1
    err = client.request("push_audio", pcm="@@not base64@@")
    assert err["type"] == "error" and err["code"] == "bad_value"
    client.ws.send(b"\x01\x02\x03")  # odd byte count: an asynchronous error, connection stays
    msg = json.loads(client.ws.recv(timeout=2))
    assert msg["type"] == "error" and msg["code"] == "bad_value" and msg["id"] is None


def test_motion_stream_in_with_mask_and_timeout(client, live):
    engine, _ = live
    for i in range(10):
        client.ws.send(json.dumps({"type": "motion", "values": {"jawOpen": 0.7, "yaw": 20}, "mask": ["jawOpen"],
                                   "timeout": 0.3}))
        time.sleep(1 / 60)
    f = wait_frame(engine, lambda f: abs(f["jawOpen"] - 0.7) < 1e-6)
    assert abs(f.yaw) < 1e-6  # masked out
    wait_frame(engine, lambda f: f["jawOpen"] < 0.01 or engine.status()["speaking"], timeout=2)  # released


def test_subscribe_motion_and_stats_at_chosen_rate(client, live):
    result = ok(client.request("subscribe", events=["motion", "stats"], motion_rate=10, stats_rate=2))
    assert result["events"] == ["motion", "stats"]
    t0 = time.monotonic()
    frames = [client.event("motion") for _ in range(6)]
    elapsed = time.monotonic() - t0
    assert 0.35 < elapsed < 1.2  # ~10 Hz, not the engine's 30
    assert all("values" in f and "t" in f for f in frames)
    stats = client.event("stats")
    assert stats["engine"]["fps"] == 30 and stats["server"]["clients"] >= 1
    ok(client.request("unsubscribe"))


def test_get_state_and_ping(client):
    state = ok(client.request("get_state"))
    assert state["protocol"] == 1 and "controls" in state and state["engine"]["engine"] == "simulated"
    assert ok(client.request("ping"))["pong"] is True


def test_bad_messages_get_errors_and_connection_survives(client):
    for raw in ("garbage", "[]", '{"type": "dance", "id": 7}', '{"type": "ping", "id": 8, "x": 1}'):
        client.ws.send(raw)
        msg = json.loads(client.ws.recv(timeout=2))
        assert msg["type"] == "error" and msg["code"] and msg["message"]
    assert ok(client.request("ping"))["pong"]


# --- refusals ------------------------------------------------------------------------------------
def test_refused_without_token_with_wrong_token_and_foreign_origin(live):
    _, server = live
    with pytest.raises(InvalidStatus) as e:
        Client(server, token=None)
    assert e.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as e:
        Client(server, token=TOKEN[:-1] + "X")
    assert e.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as e:
        Client(server, origin="https://evil.example")
    assert e.value.response.status_code == 403
    # token in the query string (what a browser page can do) and our own origin are accepted
    ws = connect(f"{server.url}?token={TOKEN}", origin=f"http://127.0.0.1:{server.port}", open_timeout=5, legacy=True)
    assert json.loads(ws.recv(timeout=5))["event"] == "welcome"
    ws.close()


def test_oversize_message_closes_with_1009(live):
    _, server = live
    c = Client(server)
    c.ws.send(json.dumps({"type": "speak", "text": "a" * (600 * 1024)}))
    with pytest.raises(ConnectionClosed) as e:
        while True:
            c.ws.recv(timeout=5)
    assert e.value.rcvd.code == 1009


def test_token_file_is_private_and_stable(tmp_path):
    path = tmp_path / "cfg" / "token"
    t1 = load_or_create_token(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(t1) >= 32
    os.chmod(path, 0o644)
    assert load_or_create_token(path) == t1 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert token_matches(t1, t1) and not token_matches(t1, t1[:-1]) and not token_matches(t1, None)


def test_flood_is_rate_limited_and_does_not_stall_frames_or_others():
    with running(rate=50, burst=50) as (engine, server):
        flooder, calm = Client(server), Client(server)
        # the machine may be busy with other work: compare with a quiet second, not with 30 fps
        f, t = engine.frames, time.monotonic()
        time.sleep(1.0)
        quiet_fps = (engine.frames - f) / (time.monotonic() - t)
        frames0, t0 = engine.frames, time.monotonic()
        stop = threading.Event()
        answers = {"rate_limited": 0, "reply": 0, "closed": None}

        def flood():
            # send as fast as possible, read answers on the side
            try:
                while not stop.is_set():
                    for _ in range(50):
                        flooder.ws.send('{"type":"set_expression","values":{"jawOpen":0.5}}')
                    with contextlib.suppress(TimeoutError):
                        while True:
                            msg = json.loads(flooder.ws.recv(timeout=0))
                            answers["rate_limited" if msg.get("code") == "rate_limited" else "reply"] += 1
            except ConnectionClosed as e:
                answers["closed"] = e.rcvd.code if e.rcvd else None  # a persistent flooder is disconnected

        th = threading.Thread(target=flood, daemon=True)
        th.start()
        latencies = []
        for _ in range(20):
            t = time.monotonic()
            ok(calm.request("ping"))
            latencies.append(time.monotonic() - t)
            time.sleep(0.05)
        stop.set()
        th.join(5)
        elapsed = time.monotonic() - t0
        fps = (engine.frames - frames0) / elapsed
        assert server.counters["rate_limited"] > 0  # the flood was refused at its own door
        assert answers["closed"] in (None, 1008)
        assert np.median(latencies) < 0.1 and max(latencies) < 1.0, latencies  # the other client still got answers
        assert fps > 0.8 * quiet_fps, (fps, quiet_fps)  # and the frame loop kept its pace
        flooder.close()
        calm.close()


@pytest.mark.slow
def test_fuzz_over_the_wire_every_message_gets_one_answer():
    """Hypothesis-made messages through the real server: each gets exactly one reply or error
    (a valid id-less motion frame gets none), the connection survives, nothing hangs."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from test_protocol import json_value, mutated_messages

    with running(rate=100000, burst=100000, motion_hz=100000) as (engine, server):
        c = Client(server)
        counter = iter(range(10**9))

        @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
        @given(mutated_messages() | json_value.map(json.dumps) | st.text(max_size=60))
        def check(raw):
            marker = f"fuzz-{next(counter)}"
            c.ws.send(raw)
            c.ws.send(json.dumps({"id": marker, "type": "ping"}))
            answers = []
            while True:
                msg = json.loads(c.ws.recv(timeout=5))
                if msg.get("type") == "event":
                    continue
                if msg.get("id") == marker:
                    break
                answers.append(msg)
            try:
                sent = json.loads(raw)
            except ValueError:
                sent = None
            quiet = isinstance(sent, dict) and sent.get("type") == "motion" and sent.get("id") is None
            assert len(answers) == (0 if quiet and not answers else 1), (raw, answers)
            for a in answers:
                assert a["type"] in ("reply", "error") and (a["type"] == "reply" or a["code"] and a["message"])

        check()
        c.request("reset", transition=0)
        c.close()


def test_status_and_error_events_reach_subscribers(live):
    from marionette.core.engine import StatusEvent

    engine, server = live
    watcher, other = Client(server), Client(server)
    ok(watcher.request("subscribe", events=["status", "errors"]))
    engine._emit(StatusEvent("sink:mjpeg", "client went away", "info"))
    engine._emit(StatusEvent("source:microphone", "device vanished", "error", retrying=True, t=1.0))
    first = watcher.event("status")
    assert first["component"] == "sink:mjpeg" and first["level"] == "info"
    err = watcher.event("error")
    assert err["component"] == "source:microphone" and err["retrying"] is True
    # a connection that did not subscribe gets none of it
    ok(other.request("ping"))
    assert not [m for m in other.events if m.get("type") == "event" and m["event"] in ("status", "error")]
    watcher.close()
    other.close()


def test_too_many_clients_are_refused():
    with running(max_clients=2) as (engine, server):
        a, b = Client(server), Client(server)
        with pytest.raises(InvalidStatus) as e:
            Client(server)
        assert e.value.response.status_code == 503
        a.close()
        time.sleep(0.2)
        c = Client(server)  # a freed slot can be taken again
        c.close()
        b.close()


def test_server_yields_to_a_late_frame_loop_but_still_answers():
    """Frames first: while the loop is late the server pauses between messages (bounded), never stops."""
    with running() as (engine, server):
        c = Client(server)
        ok(c.request("ping"))
        engine.stop()  # the frame loop stops: from now on it is "late"
        time.sleep(0.2)
        t = time.monotonic()
        for _ in range(5):
            ok(c.request("set_expression", values={"jawOpen": 0.5}))
        elapsed = time.monotonic() - t
        assert server.counters["yields"] >= 5 and 0.05 < elapsed < 2.0, (server.counters["yields"], elapsed)
        c.close()
