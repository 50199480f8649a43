"""The run-time bridge between a live engine and OBS: captions, speaking scenes, hotkeys and events.

Engine -> OBS: speech start/end events drive the caption text source (paged for long text),
optional program-scene switching, and an optional "on air" source. OBS -> engine: custom events
(BroadcastCustomEvent, e.g. from a Stream Deck) and OBS hotkeys bound to the hidden trigger
sources that `obs setup` creates become gestures and emotions in the ControlMixer. All OBS work
runs on the ObsLink thread; losing OBS is a status event, never an error in the frame loop.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...core.clock import Clock, MonotonicClock
from ...core.control.api import EngineControl, SpeechEvent
from ...core.engine.stats import StatusEvent
from ...core.errors import InputError
from ..control.commands import OBS_COMMANDS, Commands, Session, command_from_object
from .client import ObsClient, ObsConfig, ObsRequestError
from .link import Backoff, ObsLink, ObsStatus
from .scene import DEFAULT_SCENE, SceneSpec, trigger_actions

if TYPE_CHECKING:
    from ..config import ObsRunConfig
    from ..live import LiveApp

log = logging.getLogger(__name__)

COMPONENT = "obs"
_TAG = re.compile(r"\[[A-Za-z_ ]{1,24}\]\s*")  # inline emotion tags such as "[happy] "


@dataclass(frozen=True, kw_only=True)
class BridgeConfig:
    """What the bridge does during a run. Scene/source names must match `obs setup`."""

    scene: str = DEFAULT_SCENE
    captions: bool = True
    caption_line_chars: int = 36  # a caption page is at most two such lines (fits 16:9 at the default font)
    chars_per_second: float = 15.0  # paging pace: typical TTS speaks 13-17 characters per second
    caption_linger: float = 1.0  # seconds the last caption stays after speech ends
    speaking_scene: str | None = None  # program scene while speaking ...
    idle_scene: str | None = None  # ... and when not
    speaking_source: str | None = None  # a source in `scene` shown only while speaking ("on air")
    events: bool = True  # obey CustomEvents {"marionette": {...}} and trigger-source hotkeys
    watch_stream: float = 3.0  # seconds between checks that OBS's avatar source still plays (0 = off)


# ---------------------------------------------------------------------- captions
def caption_pages(text: str, max_chars: int) -> list[str]:
    """Split speech into caption pages of at most max_chars, at sentence ends where possible,
    else at word boundaries. Inline emotion tags are not shown."""
    clean = " ".join(_TAG.sub("", text).split())
    if not clean:
        return []
    pages: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", clean):
        current = ""
        for word in sentence.split(" "):
            while len(word) > max_chars:  # a monster token: cut it
                if current:
                    pages.append(current)
                    current = ""
                pages.append(word[:max_chars])
                word = word[max_chars:]
            candidate = f"{current} {word}".strip()
            if len(candidate) > max_chars:
                pages.append(current)
                current = word
            else:
                current = candidate
        if current:
            if pages and len(pages[-1]) + 1 + len(current) <= max_chars and not pages[-1].endswith((".", "!", "?")):
                pages[-1] = f"{pages[-1]} {current}"
            else:
                pages.append(current)
    return [p for p in pages if p]


def two_lines(page: str, line_chars: int) -> str:
    """Break a page into two lines at the space nearest its middle when it is too long for one."""
    if len(page) <= line_chars or " " not in page:
        return page
    mid = len(page) // 2
    spaces = [i for i, ch in enumerate(page) if ch == " "]
    cut = min(spaces, key=lambda i: abs(i - mid))
    return f"{page[:cut]}\n{page[cut + 1:]}"


def page_at(pages: list[str], elapsed: float, chars_per_second: float) -> str:
    """The page to show ``elapsed`` seconds into speech, pacing pages by their length.
    Trade-off: the engine reports speech start/end, not word timings, so paging is an estimate;
    the last page holds until the end event."""
    if not pages:
        return ""
    t = 0.0
    for page in pages[:-1]:
        t += max(len(page), 1) / chars_per_second
        if elapsed < t:
            return page
    return pages[-1]


# ---------------------------------------------------------------------- commands from OBS
OBS_SESSION = Session(owner="obs")  # OBS's queued speech counts against its own limits
def apply_command(commands: Commands, cmd: Any) -> str:
    """Run one command object from OBS ({"type": ..., ...}: the websocket protocol's messages,
    checked by the same parser and applied by the same command layer as the websocket's);
    returns a short description. Raises ProtocolError (an InputError) on a bad command."""
    parsed = command_from_object(cmd, allowed=OBS_COMMANDS)
    return commands.execute(parsed.message, OBS_SESSION).summary


# ---------------------------------------------------------------------- the bridge
class ObsBridge:
    """Connects one engine to OBS for a run. start() returns at once; OBS may come later."""

    def __init__(
        self,
        control: EngineControl,
        obs: ObsConfig,
        config: BridgeConfig | None = None,
        *,
        report: Callable[[StatusEvent], None] | None = None,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        config = config or BridgeConfig()
        self.control = control
        self.config = config
        self._report = report
        self._clock = clock or MonotonicClock()
        self.commands = Commands(control, self._clock)  # the websocket's command layer, not a copy of it
        self._spec = SceneSpec(scene=config.scene)
        self.link = ObsLink(obs, on_status=self._on_status, on_connect=self._on_connect,
                            on_event=self._on_obs_event, backoff=backoff)
        self._lock = threading.Lock()
        self._pages: list[str] = []
        self._speech_start: float | None = None
        self._clear_at: float | None = None
        self._shown: str | None = None
        self._speaking = False
        self._triggers: dict[int, dict] = {}
        self._stream_cursor: int | None = None  # scene item id in the triggers scene -> command
        self._was_connected = False
        self._unsubscribe: Callable[[], None] | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.commands_applied: list[str] = []  # for status and tests

    def start(self) -> "ObsBridge":
        self._unsubscribe = self.control.subscribe(self._on_engine_event)
        self.commands.start()
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="obs-captions", daemon=True)
        self._ticker.start()
        self.link.start()
        return self

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.commands.close()
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(2.0)
            self._ticker = None
        self.link.stop()

    def __enter__(self) -> "ObsBridge":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ engine -> OBS
    def _on_engine_event(self, event: Any) -> None:
        if not isinstance(event, SpeechEvent):
            return
        cfg = self.config
        started = ended = False
        with self._lock:
            if event.kind == "start":
                n = cfg.caption_line_chars
                self._pages = [two_lines(p, n) for p in caption_pages(event.text, 2 * n)]
                self._speech_start = self._clock.now()
                self._clear_at = None
                started = not self._speaking
                self._speaking = True
            else:
                self._speech_start = None
                if self._pages:
                    self._pages = self._pages[-1:]  # hold the last page, then clear
                self._clear_at = self._clock.now() + cfg.caption_linger
                ended = self._speaking
                self._speaking = False
        if event.kind == "start" and started:
            self._on_speaking(True)
        elif event.kind == "end" and ended:
            self._on_speaking(False)
        self._refresh_caption()

    def _on_speaking(self, speaking: bool) -> None:
        cfg = self.config
        scene = cfg.speaking_scene if speaking else cfg.idle_scene
        if scene:
            self.link.submit(lambda c: _soft(c.request, "SetCurrentProgramScene", sceneName=scene), key="program-scene")
        if cfg.speaking_source:
            self.link.submit(lambda c: self._set_source_visible(c, cfg.speaking_source, speaking), key="on-air")

    def _set_source_visible(self, client: ObsClient, source: str, visible: bool) -> None:
        scene = self.config.scene
        try:
            item = client.request("GetSceneItemId", sceneName=scene, sourceName=source)["sceneItemId"]
        except ObsRequestError as e:
            self._status(f"no source {source!r} in scene {scene!r} to show while speaking ({e.comment})", "warning")
            return
        client.request("SetSceneItemEnabled", sceneName=scene, sceneItemId=item, sceneItemEnabled=visible)

    def _current_caption(self) -> str:
        with self._lock:
            now = self._clock.now()
            if self._clear_at is not None and now >= self._clear_at:
                self._pages, self._clear_at = [], None
            if self._speech_start is None:
                return self._pages[-1] if self._pages else ""
            return page_at(self._pages, now - self._speech_start, self.config.chars_per_second)

    def _refresh_caption(self) -> None:
        if not self.config.captions:
            return
        text = self._current_caption()
        if text == self._shown:
            return
        self._shown = text
        self.link.submit(lambda c: self._write_caption(c, text), key="caption")

    def _write_caption(self, client: ObsClient, text: str) -> None:
        try:
            client.request("SetInputSettings", inputName=self._spec.caption_source,
                           inputSettings={"text": text}, overlay=True)
        except ObsRequestError as e:
            self._status(f"cannot write captions to {self._spec.caption_source!r} ({e.comment}); "
                         "run `marionette obs setup` to create it", "warning")

    def _tick_loop(self) -> None:
        # Pages advance and captions clear with time, not only with events.
        next_watch = self._clock.now() + self.config.watch_stream
        while not self._stop.wait(0.1):
            try:
                self._refresh_caption()
                if self.config.watch_stream > 0 and self._clock.now() >= next_watch:
                    next_watch = self._clock.now() + self.config.watch_stream
                    if self.link.connected:
                        self.link.submit(self._watch_stream, key="watch-stream")
            except Exception:
                log.exception("caption tick failed")

    # ------------------------------------------------------------------ the avatar stream in OBS
    def _restart_stream(self, client: ObsClient, why: str) -> None:
        # Re-applying the settings is what re-opens it: OBS 29's RESTART media action does nothing
        # to a media source whose reconnects failed (it sits at PLAYING, cursor 0).
        name = self._spec.avatar_source
        try:
            settings = client.request("GetInputSettings", inputName=name)["inputSettings"]
            if "input" not in settings:
                return
            client.request("SetInputSettings", inputName=name, inputSettings={"input": settings["input"]}, overlay=True)
        except ObsRequestError:
            return  # no avatar source (setup not run, or another scene name): nothing to restart
        self._stream_cursor = None
        log.info("re-opened OBS source %r: %s", name, why)

    def _watch_stream(self, client: ObsClient) -> None:
        """OBS 29's media source gives up reconnecting after some failures (a stream that started
        late, a restart of Marionette): when its cursor stops moving, restart it."""
        try:
            status = client.request("GetMediaInputStatus", inputName=self._spec.avatar_source)
        except ObsRequestError:
            return
        cursor, state = status.get("mediaCursor"), status.get("mediaState", "")
        # ENDED/STOPPED/ERROR/NONE: it gave up; PLAYING with a cursor that did not move: it hangs.
        gave_up = state in ("OBS_MEDIA_STATE_ENDED", "OBS_MEDIA_STATE_STOPPED", "OBS_MEDIA_STATE_ERROR",
                            "OBS_MEDIA_STATE_NONE")
        stalled = gave_up or (cursor is not None and cursor == self._stream_cursor)
        self._stream_cursor = cursor
        if stalled:
            self._restart_stream(client, "its picture had stopped")
            self._status(f"restarted OBS source {self._spec.avatar_source!r}: it had stopped showing the avatar", "info")

    # ------------------------------------------------------------------ OBS -> engine
    def _on_connect(self, client: ObsClient) -> None:
        self._triggers = {}
        if self.config.events:
            scene = self._spec.trigger_scene
            try:
                items = client.request("GetSceneItemList", sceneName=scene)["sceneItems"]
            except ObsRequestError:
                items = []  # no trigger scene: hotkeys off, custom events still work
            actions = trigger_actions(self._spec.scene)
            for item in items:
                cmd = actions.get(item["sourceName"])
                if cmd is not None:
                    self._triggers[int(item["sceneItemId"])] = cmd
        self._shown = None  # OBS may have restarted with a stale caption: write it again
        self._refresh_caption()
        # Our stream has just come up (or OBS has): open it now instead of waiting for OBS's retry.
        self._restart_stream(client, "Marionette or OBS (re)started")

    def _on_obs_event(self, event_type: str, data: dict) -> None:
        if not self.config.events:
            return
        if event_type == "CustomEvent":
            cmd = data.get("marionette")
            if cmd is not None:
                self._run_command(cmd, "custom event")
        elif event_type == "SceneItemEnableStateChanged":
            if data.get("sceneName") != self._spec.trigger_scene or not data.get("sceneItemEnabled"):
                return
            item = int(data.get("sceneItemId", -1))
            cmd = self._triggers.get(item)
            if cmd is None:
                return
            self._run_command(cmd, "hotkey")
            # Hide the trigger again so the next key press shows it (and fires) again.
            scene = self._spec.trigger_scene
            self.link.submit(lambda c: _soft(c.request, "SetSceneItemEnabled", sceneName=scene,
                                             sceneItemId=item, sceneItemEnabled=False))

    def _run_command(self, cmd: Any, origin: str) -> None:
        try:
            done = apply_command(self.commands, cmd)
        except InputError as e:
            self._status(f"ignored OBS {origin}: {e}", "warning")
            return
        self.commands_applied.append(done)
        log.info("OBS %s: %s", origin, done)

    # ------------------------------------------------------------------ status
    def _on_status(self, status: ObsStatus) -> None:
        if status.state == "connected":
            level = "recovered" if self._was_connected else "info"
            self._was_connected = True
        elif status.state == "lost":
            level = "error"
        elif status.state == "unreachable":
            level = "warning"
        else:
            level = "info"
        self._status(status.message, level, status.retrying)

    def _status(self, message: str, level: str, retrying: bool = False) -> None:
        if self._report is None:
            return
        try:
            self._report(StatusEvent(COMPONENT, message, level, retrying, self._clock.now()))  # type: ignore[arg-type]
        except Exception:
            log.exception("status report failed")


def _soft(fn: Callable[..., dict], *args: Any, **kwargs: Any) -> dict | None:
    """A request whose refusal is logged, not raised (a missing scene must not stop the link)."""
    try:
        return fn(*args, **kwargs)
    except ObsRequestError as e:
        log.warning("%s", e)
        return None


def start_bridge(app: LiveApp, section: ObsRunConfig) -> ObsBridge:
    """Start the bridge for `marionette run` from its [obs] config section (plugin.config.ObsRunConfig).
    Status goes to the engine's status bus (the panel and the terminal show it); OBS need not be up."""
    import os

    password = section.password if section.password else os.environ.get("MARIONETTE_OBS_PASSWORD", "")
    obs = ObsConfig(host=section.host, port=section.port, password=password)
    cfg = BridgeConfig(scene=section.scene, captions=section.captions, speaking_scene=section.speaking_scene or None,
                       idle_scene=section.idle_scene or None, speaking_source=section.speaking_source or None,
                       events=section.events)
    return ObsBridge(app, obs, cfg, report=app.engine.report, clock=app.clock).start()
