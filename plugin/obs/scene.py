"""Create, update and remove Marionette's OBS scene: avatar media source, captions, optional camera.

Idempotent by name: running setup twice leaves one scene with one of each source, with the
settings of the second run. The avatar comes in as an ffmpeg_source reading our MJPEG stream,
which works with no virtual-camera driver; the v4l2 camera source is optional. Trade-off:
sources are found by name (OBS input names are global), so a user's own input that happens to
carry one of our names is reused if it is the same kind and refused if it is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...core.errors import InputError
from .client import RESOURCE_NOT_FOUND, ObsClient, ObsRequestError

DEFAULT_SCENE = "Marionette"
DEFAULT_STREAM_URL = "http://127.0.0.1:8765/stream.mjpg"

KIND_MEDIA = "ffmpeg_source"
KIND_TEXT = "text_ft2_source_v2"
KIND_V4L2 = "v4l2_input"


@dataclass(frozen=True, kw_only=True)
class SceneSpec:
    """What `marionette obs setup` builds. Source names derive from the scene name."""

    scene: str = DEFAULT_SCENE
    stream_url: str = DEFAULT_STREAM_URL
    captions: bool = True
    caption_font: str = "DejaVu Sans"
    caption_size: int | None = None  # pixels; None = a twelfth of the canvas height
    camera_device: str | None = None  # e.g. "/dev/video10": add a v4l2 source for the virtual camera
    reconnect_delay_sec: int = 1  # ffmpeg_source retries the stream this often when we restart
    activate: bool = True  # make the scene the program scene
    triggers: bool = True  # a scene of hidden sources whose Show hotkeys fire gestures and emotions

    @property
    def avatar_source(self) -> str:
        return f"{self.scene} Avatar"

    @property
    def caption_source(self) -> str:
        return f"{self.scene} Captions"

    @property
    def camera_source(self) -> str:
        return f"{self.scene} Camera"

    @property
    def trigger_scene(self) -> str:
        return f"{self.scene} Triggers"


KIND_TRIGGER = "color_source_v3"


def trigger_actions(scene: str = DEFAULT_SCENE) -> dict[str, dict]:
    """Trigger source name ("<scene>: nod") -> the command it fires. In OBS, Settings > Hotkeys lists
    "Show 'Marionette: nod'" and so on; binding a key there makes the key fire the gesture
    (clicking the source's eye icon does too). look_at needs a target, so it has no trigger."""
    from ...core.control.gestures import GESTURES
    from ...core.motion_space import EMOTIONS

    out: dict[str, dict] = {}
    for name, g in GESTURES.items():
        if not g.uses_target:
            out[f"{scene}: {name}"] = {"type": "gesture", "name": name}
    for label in EMOTIONS:
        out[f"{scene}: {label}"] = {"type": "set_emotion", "label": label, "intensity": 0.8}
    return out


@dataclass
class SetupReport:
    """What setup or teardown did, for the CLI to print."""

    scene: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{verb} {', '.join(names)}" for verb, names in
                 (("created", self.created), ("updated", self.updated), ("removed", self.removed)) if names]
        return f"OBS scene {self.scene!r}: " + ("; ".join(parts) if parts else "nothing to do")


def media_settings(spec: SceneSpec) -> dict:
    # Network input, no buffering (we want the newest frame, not a smooth backlog), reconnect
    # when Marionette restarts, and keep the stream open when the scene is not shown so that
    # switching to it is instant.
    return {
        "is_local_file": False,
        "input": spec.stream_url,
        "input_format": "mpjpeg",
        "reconnect_delay_sec": int(spec.reconnect_delay_sec),
        "buffering_mb": 0,
        "restart_on_activate": False,
        "close_when_inactive": False,
        "clear_on_media_end": False,
        "hw_decode": False,
        "marionette": True,
    }


def caption_settings(spec: SceneSpec, canvas_height: int) -> dict:
    # No word wrap: the bridge breaks captions into two short lines itself, so the block can be
    # centred (text_ft2 left-aligns wrapped text inside a fixed-width box).
    size = spec.caption_size or max(12, canvas_height // 12)
    return {
        "font": {"face": spec.caption_font, "size": int(size), "style": "Regular", "flags": 0},
        "outline": True,
        "drop_shadow": True,
        "word_wrap": False,
        "color1": 0xFFFFFFFF,
        "color2": 0xFFFFFFFF,
        "marionette": True,
    }


def camera_settings(spec: SceneSpec) -> dict:
    return {"device_id": spec.camera_device, "marionette": True}


def setup_scene(client: ObsClient, spec: SceneSpec) -> SetupReport:
    """Create or update the scene and its sources; returns what changed."""
    report = SetupReport(spec.scene)
    video = client.request("GetVideoSettings")
    cw, ch = int(video["baseWidth"]), int(video["baseHeight"])
    scenes = {s["sceneName"] for s in client.request("GetSceneList")["scenes"]}
    if spec.scene not in scenes:
        client.request("CreateScene", sceneName=spec.scene)
        report.created.append(f"scene {spec.scene!r}")
    kinds = {i["inputName"]: i["inputKind"] for i in client.request("GetInputList")["inputs"]}

    avatar = _ensure_input(client, spec.scene, spec.avatar_source, KIND_MEDIA, media_settings(spec), kinds, report)
    # Fit the avatar inside the canvas, centred, whatever size the stream is.
    _transform(client, spec.scene, avatar, {
        "positionX": cw / 2, "positionY": ch / 2, "alignment": 0,
        "boundsType": "OBS_BOUNDS_SCALE_INNER", "boundsWidth": float(cw), "boundsHeight": float(ch),
        "boundsAlignment": 0,
    })
    order = [avatar]
    if spec.camera_device:
        cam = _ensure_input(client, spec.scene, spec.camera_source, KIND_V4L2, camera_settings(spec), kinds, report)
        # Hidden by default: the MJPEG source already shows the avatar; the camera is a fallback.
        client.request("SetSceneItemEnabled", sceneName=spec.scene, sceneItemId=cam, sceneItemEnabled=False)
        _transform(client, spec.scene, cam, {
            "positionX": cw / 2, "positionY": ch / 2, "alignment": 0,
            "boundsType": "OBS_BOUNDS_SCALE_INNER", "boundsWidth": float(cw), "boundsHeight": float(ch),
            "boundsAlignment": 0,
        })
        order.append(cam)
    if spec.captions:
        cap = _ensure_input(client, spec.scene, spec.caption_source, KIND_TEXT,
                            caption_settings(spec, ch), kinds, report)
        # Bottom centre, above everything else; a line too long for the canvas shrinks to fit
        # (MAX_ONLY never enlarges short text).
        _transform(client, spec.scene, cap, {
            "positionX": cw / 2, "positionY": ch - max(6, ch // 30), "alignment": 8,  # OBS_ALIGN_BOTTOM, centred
            "boundsType": "OBS_BOUNDS_MAX_ONLY", "boundsWidth": float(cw * 0.94), "boundsHeight": float(ch * 0.3),
            "boundsAlignment": 8,
        })
        order.append(cap)
    for index, item in enumerate(order):
        client.request("SetSceneItemIndex", sceneName=spec.scene, sceneItemId=item, sceneItemIndex=index)
    if spec.triggers:
        _setup_triggers(client, spec, scenes, kinds, report)
    if spec.activate:
        client.request("SetCurrentProgramScene", sceneName=spec.scene)
    return report


def _setup_triggers(client: ObsClient, spec: SceneSpec, scenes: set[str], kinds: dict[str, str],
                    report: SetupReport) -> None:
    """A scene of 1x1 transparent colour sources, all hidden; their Show hotkeys are the triggers."""
    scene = spec.trigger_scene
    if scene not in scenes:
        client.request("CreateScene", sceneName=scene)
        report.created.append(f"scene {scene!r}")
    settings = {"width": 1, "height": 1, "color": 0, "marionette": True}
    added = 0
    for name in trigger_actions(spec.scene):
        if name in kinds:
            if kinds[name] != KIND_TRIGGER:
                raise InputError(f"OBS already has an input named {name!r} of kind {kinds[name]!r}, expected "
                                 f"{KIND_TRIGGER!r}; rename it in OBS or use --no-triggers")
            try:
                client.request("GetSceneItemId", sceneName=scene, sourceName=name)
                continue
            except ObsRequestError as e:
                if e.code != RESOURCE_NOT_FOUND:
                    raise
            client.request("CreateSceneItem", sceneName=scene, sourceName=name, sceneItemEnabled=False)
        else:
            client.request("CreateInput", sceneName=scene, inputName=name, inputKind=KIND_TRIGGER,
                           inputSettings=settings, sceneItemEnabled=False)
        added += 1
    if added:
        report.created.append(f"{added} hotkey triggers in {scene!r}")


def teardown_scene(client: ObsClient, spec: SceneSpec) -> SetupReport:
    """Remove our sources and the scene. Missing pieces are fine (idempotent)."""
    report = SetupReport(spec.scene)
    kinds = {i["inputName"]: i["inputKind"] for i in client.request("GetInputList")["inputs"]}
    for name, kind in ((spec.avatar_source, KIND_MEDIA), (spec.caption_source, KIND_TEXT), (spec.camera_source, KIND_V4L2)):
        if kinds.get(name) == kind:
            client.request("RemoveInput", inputName=name)
            report.removed.append(name)
    triggers = [n for n in trigger_actions(spec.scene) if kinds.get(n) == KIND_TRIGGER]
    for name in triggers:
        client.request("RemoveInput", inputName=name)
    if triggers:
        report.removed.append(f"{len(triggers)} hotkey triggers")
    ours = (spec.trigger_scene, spec.scene)
    for scene in ours:
        _remove_scene(client, scene, ours, report)
    return report


def _remove_scene(client: ObsClient, scene: str, ours: tuple[str, ...], report: SetupReport) -> None:
    listing = client.request("GetSceneList")
    names = [s["sceneName"] for s in listing["scenes"]]
    if scene not in names:
        return
    # OBS removes scenes asynchronously: one we just removed may still be listed, so never
    # switch to one of ours.
    others = [n for n in names if n not in ours]
    if listing.get("currentProgramSceneName") == scene:
        if not others:
            return  # OBS cannot remove its last scene; leave it empty rather than fail
        client.request("SetCurrentProgramScene", sceneName=others[0])
    client.request("RemoveScene", sceneName=scene)
    report.removed.append(f"scene {scene!r}")


def _ensure_input(client: ObsClient, scene: str, name: str, kind: str, settings: dict,
                  kinds: dict[str, str], report: SetupReport) -> int:
    """The scene item id of input ``name`` in ``scene``, creating or updating it."""
    existing = kinds.get(name)
    if existing is None:
        # Create empty, then configure: a media source that fails its first open while it is
        # still being created never schedules its reconnect (OBS 29), and would wait forever for
        # a stream that Marionette starts later. Opened from an update, it retries as it should.
        out = client.request("CreateInput", sceneName=scene, inputName=name, inputKind=kind,
                             inputSettings={"marionette": True}, sceneItemEnabled=True)
        client.request("SetInputSettings", inputName=name, inputSettings=settings, overlay=True)
        report.created.append(name)
        return int(out["sceneItemId"])
    if existing != kind:
        raise InputError(
            f"OBS already has an input named {name!r} of kind {existing!r}, expected {kind!r}; "
            "rename or remove it in OBS, or pick another scene name with --scene"
        )
    client.request("SetInputSettings", inputName=name, inputSettings=settings, overlay=True)
    report.updated.append(name)
    try:
        return int(client.request("GetSceneItemId", sceneName=scene, sourceName=name)["sceneItemId"])
    except ObsRequestError as e:
        if e.code != RESOURCE_NOT_FOUND:
            raise
    return int(client.request("CreateSceneItem", sceneName=scene, sourceName=name, sceneItemEnabled=True)["sceneItemId"])


def _transform(client: ObsClient, scene: str, item: int, transform: dict) -> None:
    client.request("SetSceneItemTransform", sceneName=scene, sceneItemId=item, sceneItemTransform=transform)
