"""`marionette mcp` driven by the official `mcp` client SDK over stdio, against a running engine;
`marionette tools` and `marionette schema` output checked."""

import asyncio
import json
import subprocess
import sys
import time

import jsonschema
import pytest

from marionette.plugin.control.messages import MESSAGES
from marionette.plugin.control.tools import TOOL_MESSAGES, tool_definitions

from test_control_server import TOKEN, running, wait_frame

mcp = pytest.importorskip("mcp")


def test_tools_in_three_formats_match_the_protocol():
    for fmt, key in (("openai", "parameters"), ("anthropic", "input_schema"), ("mcp", "inputSchema")):
        out = subprocess.run([sys.executable, "-m", "marionette.plugin.cli", "tools", "--format", fmt],
                             capture_output=True, text=True, check=True)
        tools = json.loads(out.stdout)
        assert tools == tool_definitions(fmt)
        names = [t["function"]["name"] if fmt == "openai" else t["name"] for t in tools]
        assert names == list(TOOL_MESSAGES)
        for t in tools:
            params = t["function"][key] if fmt == "openai" else t[key]
            jsonschema.Draft202012Validator.check_schema(params)
            name = t["function"]["name"] if fmt == "openai" else t["name"]
            example = {k: v for k, v in MESSAGES[name].EXAMPLE.items() if k not in ("id", "type") and v is not None}
            jsonschema.validate(example, params)  # the documented example is a valid tool call


def test_schema_command_prints_every_schema():
    out = subprocess.run([sys.executable, "-m", "marionette.plugin.cli", "schema"], capture_output=True, text=True,
                         check=True)
    doc = json.loads(out.stdout)
    assert doc["protocol"] == 1 and set(MESSAGES) | {"reply", "error", "event"} == set(doc["schemas"])


def test_mcp_server_driven_by_the_mcp_client_sdk():
    from mcp import Client, StdioServerParameters

    with running() as (engine, server):
        params = StdioServerParameters(command=sys.executable, args=["-m", "marionette.plugin.cli", "mcp", "--url",
                                                                     server.url, "--token", TOKEN])

        async def session():
            async with Client(params) as client:
                tools = await client.list_tools()
                assert {t.name for t in tools.tools} == set(TOOL_MESSAGES)
                r = await client.call_tool("set_expression", {"values": {"jawOpen": 1.0}, "transition": 0})
                assert not r.is_error, r
                await asyncio.to_thread(wait_frame, engine, lambda f: f["jawOpen"] == 1.0)
                r = await client.call_tool("gesture", {"name": "nod"})
                assert not r.is_error
                await asyncio.to_thread(wait_frame, engine, lambda f: f.pitch > 3.0)
                r = await client.call_tool("set_emotion", {"label": "sad", "intensity": 0.8})
                assert not r.is_error
                r = await client.call_tool("speak", {"text": "[happy] Hello from an agent."})
                assert not r.is_error and json.loads(r.content[0].text)["speech_ids"]
                r = await client.call_tool("look_at", {"x": -1, "y": 0})
                await asyncio.to_thread(wait_frame, engine, lambda f: f["eyeLookOutRight"] > 0.9)
                r = await client.call_tool("set_pose", {"yaw": 5.0})
                assert not r.is_error
                r = await client.call_tool("interrupt", {})
                assert not r.is_error
                r = await client.call_tool("gesture", {"name": "wave"})  # refused by the engine, said clearly
                assert r.is_error and "expected one of" in r.content[0].text
                r = await client.call_tool("get_state", {})
                state = json.loads(r.content[0].text)
                assert state["controls"]["gaze"] == {"x": -1.0, "y": 0.0}

        t0 = time.monotonic()
        asyncio.run(asyncio.wait_for(session(), 60))
        assert time.monotonic() - t0 < 60


def test_mcp_server_says_why_when_the_engine_refuses_or_is_absent():
    from mcp import Client, StdioServerParameters

    with running() as (engine, server):
        async def call(url, token):
            params = StdioServerParameters(command=sys.executable, args=["-m", "marionette.plugin.cli", "mcp", "--url",
                                                                         url, "--token", token])
            async with Client(params) as client:
                return await client.call_tool("gesture", {"name": "nod"})

        r = asyncio.run(asyncio.wait_for(call(server.url, "wrong-token-0123456789"), 60))
        assert r.is_error and "HTTP 401" in r.content[0].text
        r = asyncio.run(asyncio.wait_for(call("ws://127.0.0.1:9/", TOKEN), 60))
        assert r.is_error and "cannot reach" in r.content[0].text
