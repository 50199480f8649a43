"""`marionette demo` (the README's first command) writes an mp4 with picture and sound, offline."""

from __future__ import annotations

import av
import pytest

from marionette.core.speech.tts import available_engines
from marionette.plugin.cli import main


def test_demo_writes_a_talking_mp4(tmp_path, capsys):
    if available_engines()["espeak"]:
        pytest.skip(available_engines()["espeak"])
    out = tmp_path / "sub" / "demo.mp4"
    rc = main(["demo", "--say", "Hello there.", "--tts-engine", "espeak", "-o", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    with av.open(str(out)) as c:
        video = next(s for s in c.streams if s.type == "video")
        audio = next(s for s in c.streams if s.type == "audio")
        assert video.width == 512 and video.height == 512
        frames = sum(1 for _ in c.decode(video=0))
        c.seek(0)
        sound = sum(f.samples for f in c.decode(audio=0))
    # "Hello there." lasts about a second: ~30 frames at 30 fps, and the sound is muxed in.
    assert 15 <= frames <= 90
    assert 0.5 < sound / audio.rate < 3.0


def test_demo_refuses_a_missing_engine_with_a_reason(tmp_path, capsys, monkeypatch):
    import marionette.core.speech.tts as tts

    monkeypatch.setattr(tts, "available_engines", lambda: {e: f"{e} not installed" for e in tts.ENGINES})
    assert main(["demo", "-o", str(tmp_path / "d.mp4")]) == 2
    assert "needs a voice engine" in capsys.readouterr().err and not (tmp_path / "d.mp4").exists()
