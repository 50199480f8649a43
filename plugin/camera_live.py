"""The camera path in `marionette run`: open the camera, track it on its own thread, and put a
CameraDrive where the engine's control mixer sits (docs/camera.md).

Kept out of plugin/live.py so the audio app stays as it was: build_live calls attach_camera()
when [camera] enabled is set, and LiveApp.close() closes what it returns.
Trade-off: a camera that cannot be opened at start is a Note and the avatar runs on idle life
and audio, like a missing microphone, unless a camera was asked for by name or file.
"""

from __future__ import annotations

from typing import Callable

from marionette.core.clock import Clock
from marionette.core.errors import InputError
from marionette.core.tracking.drive import CameraDrive
from marionette.core.tracking.record import TrackRecorder

from .sources.camera import CameraSource, CameraUnavailable, calibration_path, open_camera


class CameraLink:
    """What attach_camera opened: the source (capture + tracking), the drive, an optional
    recorder. It is registered as a frame sink of the engine (core.stages.FrameSink) only so that
    the engine closing its sinks closes the camera: plugin/live.py needs no camera code beyond
    the call. Latency is measured on the engine's frame listener (the step that rendered it)."""

    name = "camera-link"

    def __init__(self, source: CameraSource | None, drive: CameraDrive, clock: Clock,
                 recorder: TrackRecorder | None = None) -> None:
        self.source, self.drive, self.clock, self.recorder = source, drive, clock, recorder

    def send(self, frame) -> None:
        pass  # frames are not ours to keep; see the class docstring

    def set_mode(self, mode: str) -> None:
        self.drive.set_mode(mode)

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
        if self.recorder is not None and len(self.recorder):
            self.recorder.save()


def attach_camera(cfg, engine, mixer, renderer, clock: Clock, note: Callable[[str, bool, str], None],
                  *, config_dir=None, grabber=None) -> CameraLink:
    """Open cfg.camera's camera (or ``grabber``, a FrameGrabber given by tests), start tracking,
    and make the engine combine it as cfg.camera.drive says. Returns the link to close."""
    from marionette.plugin.control.auth import config_dir as default_config_dir

    c = cfg.camera
    source = None
    try:
        grabber = grabber or open_camera(c.device, c.file, loop=c.loop)
    except CameraUnavailable as err:
        if c.file or c.device is not None:
            raise
        note("camera", False, f"{err}; the avatar runs on audio and idle life")
        grabber = None
    recorder = TrackRecorder(c.motion_out, fps=cfg.engine.fps) if getattr(c, "motion_out", None) else None
    if grabber is not None:
        directory = config_dir or default_config_dir()
        reopen = None if c.file else (lambda: open_camera(c.device, None))

        def on_track(tracked) -> None:
            if recorder is not None:
                recorder.add(tracked.motion, tracked.t)

        source = CameraSource(grabber, clock, calibration_file=calibration_path(directory, grabber.name),
                              recalibrate=c.calibrate, pose_range=getattr(renderer, "pose_range", None),
                              reopen=reopen, on_track=on_track)
        source.set_reporter(engine.report)
        source.start()
        cal = "calibrating for 2 s at start" if source.calibration is None else f"calibration {source.calibration_file}"
        note("camera", True, f"{grabber.name} drives the face ({c.drive}; {cal})")
    drive = CameraDrive(mixer, source.latest if source is not None else (lambda: None), c.drive)
    engine.mixer = drive
    link = CameraLink(source, drive, clock, recorder)
    if source is not None:
        drive.source_status = source.status  # get_state shows capture and tracking too
    engine.add_sink(link)
    # Camera frame captured -> the avatar frame it drove leaves the renderer for the sinks (the
    # listener runs at the end of the same engine step, so the capture time is this frame's).
    engine.on_frame(lambda video, motion: drive.frame_out(clock.now()))
    if c.drive == "camera+audio" and cfg.audio.source == "none":
        note("camera", False, "drive camera+audio with audio.source = 'none': the lips stay still")
    return link


def check_camera_config(c) -> None:
    if c.file and c.device is not None:
        raise InputError("[camera] file and device are both set; use one (the file stands in for a camera)")
