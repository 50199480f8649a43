"""A scripted agent presenter: three slides' worth of talk with emotions, gestures and gaze.

It is what an LLM agent does through the control protocol, without the LLM: it speaks each line
(inline [emotion] and [gesture] tags included), waits for the speech_end event before moving on,
looks at the "slides" and back at the audience, nods and smiles. Start the avatar first:

    marionette run                        # serves ws://127.0.0.1:8768/ and writes the token
    python examples/agent_presenter.py    # reads the token from the config directory

--url and --token point it elsewhere. Nothing here calls a network LLM.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field

from marionette.plugin.control.auth import read_token
from marionette.plugin.control.client import ControlClient


@dataclass
class Beat:
    """One step of the talk: something to say (may be empty) and controls to send before it."""

    say: str = ""
    controls: list[dict] = field(default_factory=list)


SLIDES: list[tuple[str, list[Beat]]] = [
    ("Welcome", [
        Beat("[happy] Hello everyone, and welcome! [nod] I am Marionette, and I will walk you through three slides.",
             [{"type": "look_at", "x": 0.0, "y": 0.0}, {"type": "gesture", "name": "brow_raise", "intensity": 0.7}]),
        Beat("Everything you see me do is sent by a program, one message at a time.",
             [{"type": "set_emotion", "label": "neutral", "intensity": 1.0}]),
    ]),
    ("How it works", [
        Beat("", [{"type": "look_at", "x": 0.8, "y": -0.1, "transition": 0.4}]),  # glance at the slide
        Beat("On this slide: a small diffusion model turns speech into head and face motion, on an ordinary processor.",
             [{"type": "clear", "gaze": True, "transition": 0.4}]),
        Beat("[surprised:0.6] No graphics card needed! [smile_flash] Agents steer me through named channels.",
             [{"type": "gesture", "name": "tilt", "side": "left", "intensity": 0.6}]),
    ]),
    ("A word of caution", [
        Beat("[sad:0.5] Of course, a single photo cannot turn very far. [shake] So I keep my head movements small.",
             [{"type": "set_pose", "pitch": 3.0, "transition": 0.6, "hold": 3.0}]),
        Beat("[happy] That is all for today. Thank you for listening! [nod]",
             [{"type": "look_at", "x": 0.0, "y": 0.0}, {"type": "gesture", "name": "wink", "side": "right"}]),
    ]),
]


async def present(url: str, token: str, *, speech_timeout: float = 60.0, log=print) -> dict:
    """Give the talk; returns counts of what was sent (for tests and the curious)."""
    sent = {"speak": 0, "controls": 0, "speech_end": 0}
    async with ControlClient(url, token) as client:
        await client.request("reset", transition=0.3)
        await client.request("subscribe", events=["speech", "errors"])
        for i, (title, beats) in enumerate(SLIDES, 1):
            log(f"slide {i}: {title}")
            for beat in beats:
                for control in beat.controls:
                    fields = {k: v for k, v in control.items() if k != "type"}
                    await client.request(control["type"], **fields)
                    sent["controls"] += 1
                if beat.say:
                    result = await client.request("speak", text=beat.say)
                    sent["speak"] += 1
                    last = result["speech_ids"][-1]
                    # Wait until the last segment of this line has been heard before the next beat.
                    while True:
                        ev = await client.next_event("speech_end", timeout=speech_timeout)
                        sent["speech_end"] += 1
                        if ev["speech_id"] == last:
                            break
                else:
                    await asyncio.sleep(0.8)
        await client.request("reset", transition=0.5)
    return sent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="ws://127.0.0.1:8768/", help="the engine's control websocket")
    p.add_argument("--token", help="control token (default: read from the Marionette config directory)")
    args = p.parse_args(argv)
    token = args.token or read_token()
    from websockets.exceptions import InvalidStatus

    try:
        counts = asyncio.run(present(args.url, token))
    except InvalidStatus as e:
        print(f"agent_presenter: {args.url} refused the connection (HTTP {e.response.status_code}); check --token",
              file=sys.stderr)
        return 1
    except OSError as e:
        print(f"agent_presenter: cannot reach {args.url} ({e}); start the avatar with `marionette run`", file=sys.stderr)
        return 1
    print(f"agent_presenter: done ({counts['speak']} lines, {counts['controls']} controls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
