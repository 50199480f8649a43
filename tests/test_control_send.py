"""`marionette send` against a running (simulated) engine."""

import json
import subprocess
import sys

import pytest

from marionette.plugin.commands.send import parse_fields

from test_control_server import TOKEN, running, wait_frame


def test_parse_fields():
    assert parse_fields(["text=Hello there", "intensity=0.5", "interrupt=true"]) == \
        {"text": "Hello there", "intensity": 0.5, "interrupt": True}
    assert parse_fields(['{"values": {"jawOpen": 1}}']) == {"values": {"jawOpen": 1}}
    with pytest.raises(Exception):
        parse_fields(["novalue"])


def test_send_from_the_shell():
    with running(seconds_per_char=0.01) as (engine, server):
        base = [sys.executable, "-m", "marionette.plugin.cli", "send", "--url", server.url, "--token", TOKEN]
        out = subprocess.run(base + ["set_expression", '{"values": {"jawOpen": 1.0}, "transition": 0}'],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        wait_frame(engine, lambda f: f["jawOpen"] == 1.0)
        out = subprocess.run(base + ["speak", "text=[happy] Hi from the shell.", "--wait", "speech_end"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert '"speech_ids"' in out.stdout and '"interrupted": false' in out.stdout
        out = subprocess.run(base + ["gesture", "name=wave"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and "bad_value" in out.stderr and "expected one of" in out.stderr
        bad = [a if a != TOKEN else "wrong-token-0123456789" for a in base]
        out = subprocess.run(bad + ["ping"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and "HTTP 401" in out.stderr and "Traceback" not in out.stderr
