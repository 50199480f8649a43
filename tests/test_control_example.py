"""examples/agent_presenter.py runs start to end against a running (simulated) engine, and its
emotions, gestures and gaze show up in the frames."""

import subprocess
import sys
from pathlib import Path

from test_control_server import TOKEN, running

ROOT = Path(__file__).resolve().parents[1]


def test_agent_presenter_gives_its_talk():
    with running(seconds_per_char=0.004) as (engine, server):
        seen = {"smile": 0.0, "eyes_right": 0.0, "pitch": 0.0, "roll": 0.0, "brow_down": 0.0, "wink": 0.0}

        def watch(frame, t):
            seen["smile"] = max(seen["smile"], frame["mouthSmileLeft"])
            seen["eyes_right"] = max(seen["eyes_right"], frame["eyeLookOutLeft"])
            seen["pitch"] = max(seen["pitch"], frame.pitch)
            seen["roll"] = max(seen["roll"], frame.roll)
            seen["wink"] = max(seen["wink"], frame["eyeBlinkRight"] - frame["eyeBlinkLeft"])

        engine.frame_hooks.append(watch)
        out = subprocess.run([sys.executable, str(ROOT / "examples" / "agent_presenter.py"), "--url", server.url,
                              "--token", TOKEN], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "slide 3: A word of caution" in out.stdout and "done (6 lines" in out.stdout
        said = [text for text, _, _ in engine.said]
        assert said[0] == "Hello everyone, and welcome!" and len(said) == 9  # tags split 6 lines into 9 segments
        assert seen["smile"] > 0.5  # [happy], [smile_flash]
        assert seen["eyes_right"] > 0.7  # looked at the slide
        assert seen["pitch"] > 2.5  # nods and the set_pose
        assert seen["roll"] > 3.0  # tilt
        assert seen["wink"] > 0.8  # wink on the right eye
        assert engine.mixer.state()["overrides"] == {}  # it reset at the end
