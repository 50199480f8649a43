"""The run-time OBS bridge against a real headless OBS: captions, hotkeys, custom events, reconnects.

The engine side is a small fake of the EngineControl interface holding a real ControlMixer, so
these tests check the OBS half in seconds; test_obs_live.py runs the real engine.
"""

import threading
import time

import pytest

from marionette.core.clock import FakeClock
from marionette.core.control import ControlMixer, SpeechEvent
from marionette.plugin.obs import Backoff, ObsClient
from marionette.plugin.obs.bridge import BridgeConfig, ObsBridge, caption_pages, page_at, two_lines
from marionette.plugin.obs.scene import SceneSpec, setup_scene, teardown_scene

from obs_fixture import HeadlessObs, obs, obs_missing_reason  # noqa: F401 - `obs` is a fixture

pytest.importorskip("obswebsocket", reason="obs-websocket-py not installed (pip install 'marionette[obs]')")


class FakeEngine:
    """EngineControl with a real mixer; say() announces speech start like the engine does."""

    def __init__(self) -> None:
        self.mixer = ControlMixer(clock=FakeClock())
        self.said: list[str] = []
        self.interrupted = 0
        self._subs: list = []

    def say(self, text, *, emotion=None, voice=None, owner=None) -> str:
        self.said.append(text)
        sid = f"s{len(self.said)}"
        self.emit(SpeechEvent("start", sid, text))
        return sid

    def push_audio(self, chunk) -> None:
        pass

    def end_segment(self) -> None:
        pass

    def interrupt(self) -> None:
        self.interrupted += 1

    def subscribe(self, callback):
        self._subs.append(callback)
        return lambda: self._subs.remove(callback)

    def status(self) -> dict:
        return {"speaking": False}

    def emit(self, event) -> None:
        for cb in list(self._subs):
            cb(event)


def wait_until(fn, timeout: float, msg: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(msg() if callable(msg) else msg)


def caption_text(client, spec) -> str:
    return client.request("GetInputSettings", inputName=spec.caption_source)["inputSettings"].get("text", "")


@pytest.fixture
def scene(obs):
    spec = SceneSpec(scene="Bridge Test", stream_url="http://127.0.0.1:9/stream.mjpg", activate=False)
    with ObsClient(obs.config()).connect() as c:
        setup_scene(c, spec)
    yield spec
    with ObsClient(obs.config()).connect() as c:
        teardown_scene(c, spec)


def test_caption_paging():
    pages = caption_pages("[happy] Hello there! This is a rather long sentence that will need two pages to show.", 40)
    assert pages[0] == "Hello there!"
    assert all(len(p) <= 40 for p in pages) and len(pages) == 3
    assert " ".join(pages) == "Hello there! This is a rather long sentence that will need two pages to show."
    assert page_at(pages, 0.0, 15) == pages[0]
    assert page_at(pages, 100.0, 15) == pages[-1]
    assert caption_pages("   ", 40) == []
    assert two_lines("short one", 36) == "short one"
    assert two_lines("This is a rather long sentence that will", 36) == "This is a rather long\nsentence that will"


def test_captions_follow_speech(obs, scene):
    engine = FakeEngine()
    statuses = []
    cfg = BridgeConfig(scene=scene.scene, caption_linger=0.3)
    with ObsBridge(engine, obs.config(), cfg, report=statuses.append) as bridge, ObsClient(obs.config()).connect() as c:
        assert bridge.link.wait_connected(10)
        engine.say("[happy] Hello from the avatar.")
        wait_until(lambda: caption_text(c, scene) == "Hello from the avatar.", 5,
                   lambda: f"caption is {caption_text(c, scene)!r}")
        engine.emit(SpeechEvent("end", "s1"))
        wait_until(lambda: caption_text(c, scene) == "", 5, "caption not cleared after speech ended")
    assert statuses[0].component == "obs" and any(s.message.startswith("connected") for s in statuses)


def test_custom_events_and_hotkeys_drive_the_mixer(obs, scene):
    engine = FakeEngine()
    statuses = []
    with ObsBridge(engine, obs.config(), BridgeConfig(scene=scene.scene), report=statuses.append) as bridge, \
            ObsClient(obs.config()).connect() as c:
        assert bridge.link.wait_connected(10)
        # A Stream Deck or script broadcasting a custom event through OBS:
        c.request("BroadcastCustomEvent", eventData={"marionette": {"type": "gesture", "name": "nod", "intensity": 0.7}})
        c.request("BroadcastCustomEvent", eventData={"marionette": {"type": "set_emotion", "label": "happy"}})
        c.request("BroadcastCustomEvent", eventData={"marionette": {"type": "speak", "text": "Hi chat"}})
        wait_until(lambda: len(bridge.commands_applied) >= 3, 5, "custom events not applied")
        state = engine.mixer.state()
        assert [g["name"] for g in state["gestures"]] == ["nod"]
        assert state["emotion"]["label"] == "happy"
        assert engine.said == ["Hi chat"]

        # An OBS hotkey: exactly what pressing a key bound to "Show 'Bridge Test: shake'" does.
        c.request("TriggerHotkeyByName", hotkeyName=f"libobs.show_scene_item.{scene.scene}: shake")
        wait_until(lambda: "shake" in [g["name"] for g in engine.mixer.state()["gestures"]], 5, "hotkey ignored")
        item = c.request("GetSceneItemId", sceneName=scene.trigger_scene, sourceName=f"{scene.scene}: shake")["sceneItemId"]
        wait_until(lambda: not c.request("GetSceneItemEnabled", sceneName=scene.trigger_scene,
                                         sceneItemId=item)["sceneItemEnabled"], 5, "trigger not re-armed")
        c.request("TriggerHotkeyByName", hotkeyName=f"libobs.show_scene_item.{scene.scene}: sad")
        wait_until(lambda: engine.mixer.state()["emotion"]["label"] == "sad", 5, "emotion hotkey ignored")

        # A malformed event is reported, not fatal.
        c.request("BroadcastCustomEvent", eventData={"marionette": {"type": "gesture", "name": "moonwalk"}})
        wait_until(lambda: any("moonwalk" in s.message for s in statuses), 5, "bad event not reported")
        assert next(s for s in statuses if "moonwalk" in s.message).level == "warning"
        c.request("BroadcastCustomEvent", eventData={"marionette": {"type": "blink"}})
        c.request("BroadcastCustomEvent", eventData={"someone-else": 1})  # not ours: ignored silently
        wait_until(lambda: any("'blink'" in s.message for s in statuses), 5, "unknown type not reported")


@pytest.mark.slow
def test_bridge_reports_loss_and_recovers_with_captions():
    reason = obs_missing_reason()
    if reason:
        pytest.skip(reason)
    peer = HeadlessObs()
    engine = FakeEngine()
    statuses = []
    seen = threading.Event()
    spec = SceneSpec(scene="Crash Test", stream_url="http://127.0.0.1:9/stream.mjpg")

    def report(s):
        statuses.append(s)
        if s.level == "recovered":
            seen.set()

    try:
        peer.start()
        with ObsClient(peer.config()).connect() as c:
            setup_scene(c, spec)
        bridge = ObsBridge(engine, peer.config(connect_timeout=1.0), BridgeConfig(scene=spec.scene),
                           report=report, backoff=Backoff(initial=0.2, maximum=1.0))
        with bridge:
            assert bridge.link.wait_connected(10)
            # OBS saves its scene collection shortly after a change; a crash keeps only what was saved.
            scenes = peer.home / ".config" / "obs-studio" / "basic" / "scenes"
            wait_until(lambda: any(spec.caption_source in f.read_text(errors="replace") for f in scenes.glob("*.json")),
                       10, "OBS never saved the scene collection")
            peer.kill()  # SIGKILL: a crash, no close frame
            wait_until(lambda: any(s.level == "error" and s.retrying for s in statuses), 10, "loss not reported")
            engine.say("Said while OBS was away.")  # the avatar keeps going; the caption waits
            peer.start()
            assert seen.wait(20), f"never recovered: {[str(s) for s in statuses]}"
            with ObsClient(peer.config()).connect() as c:
                wait_until(lambda: caption_text(c, spec) == "Said while OBS was away.", 5,
                           lambda: f"caption is {caption_text(c, spec)!r}")
        levels = [s.level for s in statuses]
        assert levels.index("error") < levels.index("recovered")
    finally:
        peer.close()


def test_speaking_switches_scene_and_shows_an_on_air_source(obs, scene):
    engine = FakeEngine()
    with ObsClient(obs.config()).connect() as c:
        c.request("CreateScene", sceneName="Bridge Idle")
        c.request("CreateScene", sceneName="Bridge Speaking")
        c.request("CreateInput", sceneName=scene.scene, inputName="On Air", inputKind="color_source_v3",
                  inputSettings={"width": 10, "height": 10}, sceneItemEnabled=False)
        item = c.request("GetSceneItemId", sceneName=scene.scene, sourceName="On Air")["sceneItemId"]
        cfg = BridgeConfig(scene=scene.scene, speaking_scene="Bridge Speaking", idle_scene="Bridge Idle",
                           speaking_source="On Air")

        def program():
            return c.request("GetCurrentProgramScene")["currentProgramSceneName"]

        def on_air():
            return c.request("GetSceneItemEnabled", sceneName=scene.scene, sceneItemId=item)["sceneItemEnabled"]

        try:
            with ObsBridge(engine, obs.config(), cfg) as bridge:
                assert bridge.link.wait_connected(10)
                engine.say("Now I speak.")
                wait_until(lambda: program() == "Bridge Speaking" and on_air(), 5, "speaking did not switch")
                engine.say("And I go on.")  # a second utterance does not switch again
                engine.emit(SpeechEvent("end", "s2"))
                wait_until(lambda: program() == "Bridge Idle" and not on_air(), 5, "silence did not switch back")
        finally:
            c.request("RemoveInput", inputName="On Air")
            c.request("SetCurrentProgramScene", sceneName="Scene")
            c.request("RemoveScene", sceneName="Bridge Idle")
            c.request("RemoveScene", sceneName="Bridge Speaking")


def test_commands_from_obs_are_checked_before_they_reach_the_mixer():
    from marionette.core.clock import MonotonicClock
    from marionette.core.errors import InputError
    from marionette.plugin.control.commands import Commands
    from marionette.plugin.obs.bridge import apply_command

    engine = FakeEngine()
    commands = Commands(engine, MonotonicClock())
    assert apply_command(commands, {"type": "set_expression", "values": {"jawOpen": 0.5}, "hold": 1}) == "expression jawOpen"
    assert engine.mixer.state()["overrides"] == {"jawOpen": 0.5}
    apply_command(commands, {"type": "gesture", "name": "tilt", "side": "left", "duration": 0.5})
    apply_command(commands, {"type": "look_at", "x": 0.5, "y": -0.2})
    assert engine.mixer.state()["gaze"] == {"x": 0.5, "y": -0.2}
    apply_command(commands, {"type": "interrupt"})
    assert engine.interrupted == 1
    apply_command(commands, {"type": "reset"})
    assert engine.mixer.state()["overrides"] == {}
    for bad in ([1, 2], {"type": "gesture"}, {"type": "gesture", "name": "nod", "intensity": "lots"},
                {"type": "gesture", "name": "wink", "side": "up"}, {"type": "set_emotion", "label": "smug"},
                {"type": "set_expression", "values": {"jawOpen": "wide"}}, {"type": "set_expression", "values": {"jaw": 1}},
                {"type": "speak", "text": ""}, {"type": "teleport"}, {"type": "gesture", "name": "nod", "intensity": 10**400},
                {"type": "look_at", "x": True, "y": 0}, {"type": "push_audio", "pcm": "AAAA"}):
        with pytest.raises(InputError):
            apply_command(commands, bad)
    assert engine.said == []
