"""`marionette serve`'s host (plugin/serve/host.py), for real: sessions created and ended over the
host websocket, each with its own portrait, MJPEG stream and control websocket; a control sent to
one session moves only that avatar (judged on the pixels of both streams)."""

from __future__ import annotations

import asyncio
import json
import shutil
import urllib.request

import cv2
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from marionette.plugin.serve.host import AvatarHost
from marionette.plugin.session import AvatarOptions

TOKEN = "t" * 32
SIZE = 256


def snapshot(url: str) -> np.ndarray:
    snap = url.replace("/stream.mjpg", "/snapshot.jpg")
    with urllib.request.urlopen(snap, timeout=5) as r:
        img = cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@pytest.fixture()
def portraits(tmp_path):
    from matplotlib import cbook

    shutil.copy(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), tmp_path / "hopper.jpg")
    return tmp_path


def test_sessions_are_independent_avatars_created_and_ended_over_the_websocket(portraits):
    from marionette.tools.bench.pipeline import MouthMeter

    async def main() -> dict:
        host = AvatarHost(token=TOKEN, max_sessions=2, portrait_dir=portraits)
        server = await host.serve_host(0)
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        seen: dict = {}
        with pytest.raises(InvalidStatus):
            async with connect(url + "?token=wrong"):
                pass
        try:
            async with connect(url + f"?token={TOKEN}", open_timeout=10) as ws:
                async def ask(**msg) -> dict:
                    await ws.send(json.dumps(msg))
                    return json.loads(await asyncio.wait_for(ws.recv(), 60))

                a = await ask(id=1, type="create_session", width=SIZE, height=SIZE, session_id="alice")
                b = await ask(id=2, type="create_session", width=SIZE, height=SIZE, portrait="hopper.jpg")
                seen["full"] = await ask(id=3, type="create_session", width=SIZE, height=SIZE)
                seen["escape"] = await ask(id=4, type="create_session", portrait="../hopper.jpg")
                seen["junk"] = await ask(id=5, type="dance")
                assert a["ok"] and b["ok"], (a, b)
                a, b = a["result"], b["result"]
                seen["a"], seen["b"] = a, b
                await asyncio.sleep(1.0)
                seen["a0"] = await asyncio.to_thread(snapshot, a["mjpeg_url"])
                seen["b0"] = await asyncio.to_thread(snapshot, b["mjpeg_url"])
                # Open alice's jaw through her own control websocket.
                async with connect(a["control_url"] + f"?token={TOKEN}", open_timeout=10) as ctl:
                    await ctl.send(json.dumps({"id": 1, "type": "set_expression", "values": {"jawOpen": 1.0},
                                               "transition": 0.05}))
                    while (reply := json.loads(await asyncio.wait_for(ctl.recv(), 10)))["type"] != "reply":
                        pass  # the server's hello first
                    seen["ctl"] = reply
                    await asyncio.sleep(0.8)
                    seen["a1"] = await asyncio.to_thread(snapshot, a["mjpeg_url"])
                    seen["b1"] = await asyncio.to_thread(snapshot, b["mjpeg_url"])
                seen["views"] = [h.session.engine.renderer for h in host.sessions.values()]
                seen["ended"] = await ask(id=6, type="end_session", session_id="alice")
                seen["again"] = await ask(id=7, type="end_session", session_id="alice")
                seen["list"] = await ask(id=8, type="list_sessions")
                try:
                    async with connect(a["control_url"] + f"?token={TOKEN}", open_timeout=3):
                        seen["control_after_end"] = "open"
                except OSError:
                    seen["control_after_end"] = "refused"
        finally:
            server.close()
            await host.close()
        seen["ra"] = host.assets.shared(AvatarOptions(width=SIZE, height=SIZE))
        seen["rb"] = host.assets.shared(AvatarOptions(portrait=str(portraits / "hopper.jpg"), width=SIZE, height=SIZE))
        seen["portraits"] = host.assets.portraits()
        return seen

    seen = asyncio.run(main())
    a, b = seen["a"], seen["b"]
    assert a["session_id"] == "alice" and b["session_id"] != "alice"
    assert len({a["control_url"], b["control_url"]}) == 2 and len({a["mjpeg_url"], b["mjpeg_url"]}) == 2
    assert seen["full"]["code"] == "full" and "end one first" in seen["full"]["message"]
    assert seen["escape"]["code"] == "bad_value" and "without a path" in seen["escape"]["message"]
    assert seen["junk"]["code"] == "unknown_type" and "create_session" in seen["junk"]["message"]
    # Two portraits: two different pictures.
    assert np.abs(seen["a0"].astype(int) - seen["b0"].astype(int)).mean() > 20
    # Alice's jaw opened on her stream only (the MouthMeter reads open cavity pixels).
    assert seen["ctl"]["ok"], seen["ctl"]
    meter_a, meter_b = MouthMeter(seen["ra"]), MouthMeter(seen["rb"])
    print(f"serve: alice mouth {meter_a(seen['a0']):.2f} -> {meter_a(seen['a1']):.2f}, "
          f"other {meter_b(seen['b0']):.2f} -> {meter_b(seen['b1']):.2f}; start {a['start_seconds']} s / {b['start_seconds']} s")
    assert meter_a(seen["a1"]) > 0.6 and meter_a(seen["a1"]) > meter_a(seen["a0"]) + 0.4
    assert meter_b(seen["b1"]) < 0.3
    # The portraits' precomputation is shared: each session renders through a view of it.
    assert len(seen["portraits"]) == 2
    assert {id(v.bases) for v in seen["views"]} == {id(seen["ra"].bases), id(seen["rb"].bases)}
    assert not any(v is seen["ra"] or v is seen["rb"] for v in seen["views"])
    assert seen["ended"]["ok"] and seen["again"]["code"] == "not_found"
    assert [s["session_id"] for s in seen["list"]["result"]["sessions"]] == [b["session_id"]]
    assert seen["control_after_end"] == "refused"


def test_bad_options_say_what_was_expected():
    with pytest.raises(ValueError, match="expected 64..2048"):
        AvatarOptions(width=10)
    host = AvatarHost(token=TOKEN)
    reply = asyncio.run(host.handle(json.dumps({"id": 1, "type": "create_session", "portrait": "x.jpg"})))
    assert reply["code"] == "bad_value" and "--portraits" in reply["message"]
    reply = asyncio.run(host.handle(json.dumps({"id": 2, "type": "create_session", "fps": 500})))
    assert reply["code"] == "bad_value" and "expected 1..60" in reply["message"]
    assert asyncio.run(host.handle("{nope"))["code"] == "bad_message"


def test_bench_density_reports_avatars_held_cpu_and_memory():
    import argparse

    from marionette.tools.bench.density import bench_density

    args = argparse.Namespace(size="96x96", fps=15.0, max=2, seconds=1.0, settle=0.5, generator="envelope", silent=False)
    out = bench_density(args)
    assert out["benchmark"] == "density" and out["size"] == "96x96" and 1 <= len(out["steps"]) <= 2
    step = out["steps"][0]
    assert step["avatars"] == 1 and step["fps_mean"] > 5 and step["cpu_cores"] > 0 and step["rss_mb"] > 50
    assert out["avatars_held"] == sum(s["held"] for s in out["steps"])
    if out["avatars_held"]:
        assert out["cpu_cores_per_avatar"] > 0
