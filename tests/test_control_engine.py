"""Every control command against the real live engine (portrait renderer, espeak-ng TTS), checked
by analysing the rendered frames with the face analyzer: the picture must show what was asked."""

import asyncio
import contextlib
import json
import threading
import time

import numpy as np
import pytest

from marionette.core.clock import MonotonicClock
from marionette.plugin.control.server import ControlServer, ServerConfig, ServerThread

from test_control_server import TOKEN, Client, ok

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack():
    from marionette.core.face import FaceAnalyzer
    from marionette.plugin.config import load_config
    from marionette.plugin.live import build_live

    # The envelope: the controls are under test, and it shows them with no lookahead (run's default
    # shows an emotion as the generator's condition, a lookahead later: tests/test_per_source.py).
    cfg = load_config(None, {"audio.source": "tts", "audio.tts_engine": "espeak", "audio.play": False,
                             "audio.say": "", "sinks.virtualcam": False, "sinks.mjpeg": False,
                             "engine.generator": "envelope",
                             "engine.width": 256, "engine.height": 256})
    app = build_live(cfg)
    runner = threading.Thread(target=lambda: asyncio.run(app.run(None)), daemon=True)
    runner.start()
    server = ControlServer(app, token=TOKEN, clock=app.clock, config=ServerConfig(port=0))
    thread = ServerThread(server).start()
    analyzer = FaceAnalyzer.load()
    try:
        yield app, server, analyzer
    finally:
        thread.stop()
        app.stop()
        runner.join(10)
        with contextlib.suppress(Exception):
            asyncio.run(app.close())


@pytest.fixture
def client(stack):
    c = Client(stack[1])
    yield c
    ok(c.request("interrupt"))  # a failed test must not leave speech running into the next one
    ok(c.request("reset", transition=0))
    ok(c.request("clear", transition=0))
    time.sleep(0.3)
    c.close()


def measures(app, analyzer):
    """Geometry of the newest rendered frame, in face widths (cheek to cheek)."""
    frame = app.engine.last_frame
    p = analyzer.analyze(frame.image).points
    width = p[454, 0] - p[234, 0]
    iris_r = (p[468, 0] - p[33, 0]) / (p[133, 0] - p[33, 0])  # 0 = outer corner, 1 = inner corner
    return {
        "frame": frame.index,
        "mouth_gap": (p[14, 1] - p[13, 1]) / width,
        "mouth_width": (p[291, 0] - p[61, 0]) / width,
        "nose_x": (p[1, 0] - (p[234, 0] + p[454, 0]) / 2) / width,  # + = nose to image right
        "eye_open": (p[145, 1] - p[159, 1]) / width,
        "iris_r": iris_r,
    }


def record(app, seconds):
    """(jawOpen, image) of every frame the engine emits for ``seconds`` (an on_frame listener)."""
    frames = []
    remove = app.engine.on_frame(lambda video, motion: frames.append((motion["jawOpen"], video.image)))
    time.sleep(seconds)
    remove()
    return frames


def gap_range(analyzer, frames):
    """Mouth gap measured on the pictures with the least and the most jawOpen."""
    lo = min(frames, key=lambda f: f[0])
    hi = max(frames, key=lambda f: f[0])

    def gap(image):
        p = analyzer.analyze(image).points
        return (p[14, 1] - p[13, 1]) / (p[454, 0] - p[234, 0])

    return gap(lo[1]), gap(hi[1])


def analyze_motion(app, analyzer):
    """What `marionette analyze` reads from the newest frame: the MotionFrame the picture shows."""
    from marionette.core.face.extract import MotionExtractor, MotionReference

    if not hasattr(app, "_test_extractor"):
        app._test_extractor = MotionExtractor(MotionReference.from_renderer(app.engine.renderer, analyzer))
    return app._test_extractor.extract(analyzer.analyze(app.engine.last_frame.image)).motion


def after(app, analyzer, frames=3):
    """Measures on a frame rendered at least ``frames`` frames after now."""
    start = app.engine.frames
    deadline = time.monotonic() + 5
    while app.engine.frames < start + frames and time.monotonic() < deadline:
        time.sleep(0.01)
    return measures(app, analyzer)


def test_set_expression_jaw_open_shows_in_the_picture(stack, client):
    app, _, an = stack
    before = after(app, an)
    ok(client.request("set_expression", values={"jawOpen": 1.0}, transition=0))
    shown = after(app, an)
    assert shown["mouth_gap"] > before["mouth_gap"] + 0.05, (before, shown)
    assert analyze_motion(app, an)["jawOpen"] > 0.25  # motion extraction reads the jaw open too
    ok(client.request("clear", channels=["jawOpen"], transition=0))
    assert after(app, an)["mouth_gap"] < before["mouth_gap"] + 0.02


def test_set_expression_eyes_closed(stack, client):
    app, _, an = stack
    before = after(app, an)
    ok(client.request("set_expression", values={"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}, transition=0))
    shown = after(app, an)
    assert shown["eye_open"] < 0.7 * before["eye_open"], (before, shown)  # the mesh never reads lids fully shut
    read = analyze_motion(app, an)
    assert read["eyeBlinkLeft"] > 0.6 and read["eyeBlinkRight"] > 0.6, (read["eyeBlinkLeft"], read["eyeBlinkRight"])


def test_set_pose_yaw_turns_the_head(stack, client):
    app, _, an = stack
    before = after(app, an)
    ok(client.request("set_pose", yaw=12, transition=0))
    right = after(app, an)
    assert abs(analyze_motion(app, an).yaw - 12) < 3  # extraction reads the commanded angle
    ok(client.request("set_pose", yaw=-12, transition=0))
    left = after(app, an)
    # yaw + turns the face to the subject's left = image right: the nose moves right
    assert right["nose_x"] > before["nose_x"] + 0.02 and left["nose_x"] < before["nose_x"] - 0.02, (left, before, right)


def test_look_at_moves_the_irises(stack, client):
    app, _, an = stack
    ok(client.request("look_at", x=1.0, y=0.0, transition=0))
    right = after(app, an)
    ok(client.request("look_at", x=-1.0, y=0.0, transition=0))
    left = after(app, an)
    # the subject's right eye (image left): looking to image right moves its iris toward its inner corner
    assert right["iris_r"] > left["iris_r"] + 0.05, (left, right)


def test_set_emotion_happy_widens_the_mouth(stack, client):
    app, _, an = stack
    before = after(app, an)
    ok(client.request("set_emotion", label="happy", intensity=1.0, transition=0))
    shown = after(app, an)
    assert shown["mouth_width"] > before["mouth_width"] + 0.02, (before, shown)


def test_gesture_nod_and_shake_move_the_head(stack, client):
    """Every frame the renderer drew during the gestures (an on_frame listener: robust on a busy machine)."""
    app, _, an = stack
    drawn = []
    remove = app.engine.on_frame(lambda video, motion: drawn.append((motion.yaw, motion.pitch)))
    try:
        ok(client.request("gesture", name="shake", intensity=1.0, duration=1.0))
        time.sleep(1.3)
        yaws = [y for y, _ in drawn]
        assert max(yaws) > 2.0 and min(yaws) < -2.0 and max(yaws) - min(yaws) > 8.0, yaws  # both ways
        drawn.clear()
        ok(client.request("gesture", name="nod", intensity=1.0, duration=1.0))
        time.sleep(1.3)
        pitches = [p for _, p in drawn]
        assert max(pitches) > 4.0, pitches
        assert abs(drawn[-1][0]) < 2.0 and abs(drawn[-1][1]) < 2.0  # back to idle sway once over
    finally:
        remove()
    # and the picture follows the pose: a shake frame held still is turned
    ok(client.request("set_pose", yaw=10, transition=0, hold=1.0))
    assert after(app, an)["nose_x"] > 0.0


def test_speak_moves_the_lips_and_reports_speech(stack, client):
    app, _, an = stack
    rest = after(app, an)["mouth_gap"]
    ok(client.request("subscribe", events=["speech"]))
    result = ok(client.request("speak", text="[happy] Hello there, I am speaking now."))
    sid = result["speech_ids"][0]
    start = client.event("speech_start", timeout=10)
    assert start["speech_id"] == sid
    closed, opened = gap_range(an, record(app, 1.5))
    assert opened > rest + 0.03 and opened > closed, (rest, closed, opened)  # the lips move, in the picture
    end = client.event("speech_end", timeout=10)
    assert end["speech_id"] == sid and not end["interrupted"]
    assert app.mixer.emotion.label == "happy"


def test_interrupt_stops_speech(stack, client):
    app, _, _ = stack
    ok(client.request("subscribe", events=["speech"]))
    sid = ok(client.request("speak", text="This sentence is long enough to be interrupted well before its end."))["speech_ids"][0]
    assert client.event("speech_start", timeout=10)["speech_id"] == sid
    ok(client.request("interrupt"))
    end = client.event("speech_end", timeout=5)
    assert end["speech_id"] == sid and end["interrupted"]
    time.sleep(0.3)
    assert app.status()["speaking"] is None and app.status()["queued_seconds"] == 0.0


def test_push_audio_moves_the_lips(stack, client):
    app, _, an = stack
    before = after(app, an)["mouth_gap"]
    sr = 16000
    t = np.arange(int(1.5 * sr)) / sr
    # a voiced, syllable-like signal: 150 Hz buzz with a 4 Hz loudness envelope
    sig = np.sign(np.sin(2 * np.pi * 150 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) * 0.5
    pcm = (sig * 32767).astype("<i2").tobytes()
    ok(client.request("push_audio", sample_rate=sr))
    for i in range(0, len(pcm), 6400):
        client.ws.send(pcm[i:i + 6400])
    ok(client.request("push_audio", end=True))
    _, opened = gap_range(an, record(app, 2.0))
    assert opened > before + 0.03, (before, opened)


def test_get_state_reports_the_engine(stack, client):
    state = ok(client.request("get_state"))
    assert state["engine"]["target_fps"] == 30 and "controls" in state


def test_back_to_back_segments_each_start_and_end(stack, client):
    """speak with tags queues several segments; every one gets its own start and end, in order."""
    ok(client.request("subscribe", events=["speech"]))
    ids = ok(client.request("speak", text="[happy] One. [nod] Two. [sad] Three."))["speech_ids"]
    assert len(ids) == 3
    events = []
    while len(events) < 6:
        m = json.loads(client.ws.recv(timeout=15))
        if m.get("type") == "event" and m["event"] in ("speech_start", "speech_end"):
            events.append((m["event"], m["data"]["speech_id"]))
    assert events == [(k, i) for i in ids for k in ("speech_start", "speech_end")], events
