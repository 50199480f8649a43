"""Camera in: a webcam (OpenCV capture) or a video file standing in for one, read and tracked on
its own thread into the user's motion (core.tracking).

Only the newest frame matters: capture and tracking share one thread, so a frame that arrives
while the previous one is tracked waits in the driver's one-frame buffer, never in a queue of
ours. A camera that stops delivering (unplugged, taken by another app, the clip ended) becomes a
status event and is retried every RETRY seconds; meanwhile the engine shows idle life
(core.tracking.drive). The first run with a camera asks for two seconds of a neutral face, kept
in the config directory (one file per camera) for the runs after.
Trade-off: OpenCV's capture, not PyAV's: it opens V4L2, AVFoundation and DirectShow devices by
index with one call, and reads the same files; what it cannot do is name devices, so names come
from /sys on Linux.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from marionette.core.clock import Clock
from marionette.core.engine import StatusEvent
from marionette.core.engine.stats import Rolling
from marionette.core.errors import InputError
from marionette.core.tracking import Calibrator, FaceTracker, NeutralCalibration, TrackedFrame
from marionette.core.tracking.calibration import CalibrationError, to_gray
from marionette.core.tracking.tracker import prepare, working_size

log = logging.getLogger(__name__)

RETRY = 2.0  # s between attempts to reopen a vanished camera
READ_FAILURES = 15  # consecutive failed reads (half a second at 30 fps) before a camera counts as gone


class CameraUnavailable(InputError):
    """No camera (or not the one asked for); the message lists what exists and how to fix it."""


@dataclass(frozen=True)
class CameraInfo:
    """One video capture device: index (what OpenCV opens), name, device path."""

    index: int
    name: str
    path: str


def list_cameras(sysfs: str | Path = "/sys/class/video4linux") -> list[CameraInfo]:
    """Video capture devices the system lists (Linux: V4L2 nodes that capture, by their /sys
    name; elsewhere none are listed and --camera takes an index)."""
    root = Path(sysfs)
    out = []
    if not root.is_dir():
        return out
    for node in sorted(root.glob("video*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0)):
        # A webcam exposes a metadata node next to its capture node; only index 0 captures.
        idx_file = node / "index"
        if idx_file.is_file() and idx_file.read_text().strip() not in ("", "0"):
            continue
        name_file = node / "name"
        name = name_file.read_text().strip() if name_file.is_file() else node.name
        out.append(CameraInfo(int(re.sub(r"\D", "", node.name)), name, f"/dev/{node.name}"))
    return out


def find_camera(device: str | int | None, cameras: list[CameraInfo] | None = None) -> CameraInfo:
    """The camera asked for by index, name substring (case-insensitive) or /dev path; the first if None."""
    cams = list_cameras() if cameras is None else cameras
    listing = ", ".join(f"{c.index}: {c.name} ({c.path})" for c in cams) or "none"
    if not cams and not isinstance(device, int):
        raise CameraUnavailable(
            "no camera found (no video capture device is listed); plug one in, or pass --camera-file "
            "clip.mp4 to drive the avatar from a video; `marionette doctor` shows what is seen")
    if device is None:
        return cams[0]
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        i = int(device)
        for c in cams:
            if c.index == i:
                return c
        return CameraInfo(i, f"camera {i}", f"/dev/video{i}")  # unlisted (no /sys): let OpenCV try it
    for c in cams:
        if device.lower() in c.name.lower() or device == c.path:
            return c
    raise CameraUnavailable(f"no camera matches {device!r}; cameras: {listing}")


class FrameGrabber:
    """The tiny capture interface (STYLE.md 4): read() returns the next uint8 RGB frame, or None
    when the device delivered nothing this time; close() releases it. name identifies the camera
    (its calibration file is named after it)."""

    name: str = "camera"
    fps: float = 30.0
    live: bool = True  # a device; False for a file that can end

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    @property
    def ended(self) -> bool:
        """True when no frame will ever come again (a file without loop)."""
        return False


class OpenCvCamera(FrameGrabber):
    """A webcam through OpenCV (V4L2 on Linux), asked for 640x480 at 30 fps."""

    def __init__(self, info: CameraInfo, width: int = 640, height: int = 480, fps: float = 30.0) -> None:
        import cv2

        self.name = info.name
        self.info = info
        api = cv2.CAP_V4L2 if Path("/sys/class/video4linux").is_dir() else cv2.CAP_ANY
        cap = cv2.VideoCapture(info.index, api)
        if not cap.isOpened():
            raise CameraUnavailable(f"cannot open camera {info.index} ({info.name}, {info.path}): busy, "
                                    "missing or no permission (are you in the 'video' group?)")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a backlog
        self._cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or fps)

    def read(self) -> np.ndarray | None:
        import cv2

        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            return None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._cap.release()


class VideoFileCamera(FrameGrabber):
    """A video file standing in for a camera (tests, benchmarks, a recorded performance): frames
    are delivered at the file's rate on a monotonic timer, as a camera would, unless paced=False."""

    live = False

    def __init__(self, path: str | Path, *, loop: bool = False, paced: bool = True,
                 timer: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        import cv2

        self.path = Path(path)
        if not self.path.is_file():
            raise CameraUnavailable(f"camera file {self.path} does not exist; expected a video such as clip.mp4")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise CameraUnavailable(f"camera file {self.path} cannot be read as video (expected mp4, mkv, avi, webm)")
        self.name = f"file:{self.path.name}"
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 30.0)
        self.loop, self.paced = loop, paced
        self._timer, self._sleep = timer, sleep
        self._t0: float | None = None
        self._n = 0
        self._ended = False
        self.frames_read = 0

    @property
    def ended(self) -> bool:
        return self._ended

    def read(self) -> np.ndarray | None:
        import cv2

        if self._ended:
            return None
        if self.paced:
            now = self._timer()
            if self._t0 is None:
                self._t0 = now
            due = self._t0 + self._n / self.fps
            if due > now:
                self._sleep(due - now)
            elif now - due > 0.5:  # fell behind (a slow tracker): drop the backlog, as a camera does
                skip = int((now - due) * self.fps)
                for _ in range(skip):
                    if not self._cap.grab():
                        break
                self._n += skip
        ok, bgr = self._cap.read()
        if not ok and self.loop and self._n > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
        if not ok:
            self._ended = True
            return None
        self._n += 1
        self.frames_read += 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._cap.release()


def open_camera(device: str | int | None = None, file: str | None = None, *, loop: bool = False) -> FrameGrabber:
    """The camera the config names: a file stand-in if ``file`` is given, else a device."""
    if file:
        return VideoFileCamera(file, loop=loop)
    return OpenCvCamera(find_camera(device))


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:60] or "camera"


def calibration_path(directory: Path, camera: str) -> Path:
    """Where a camera's neutral-face calibration lives in the config directory."""
    return directory / "camera" / f"neutral-{slug(camera)}.npz"


class CameraSource:
    """Capture and tracking on one thread; latest() hands the newest TrackedFrame to the engine
    (core.tracking.drive.CameraDrive). step() does one frame synchronously (tests, benchmarks)."""

    def __init__(self, grabber: FrameGrabber, clock: Clock, *, analyzer=None, calibration_file: Path | None = None,
                 recalibrate: bool = False, pose_range=None, reopen: Callable[[], FrameGrabber] | None = None,
                 on_track: Callable[[TrackedFrame], None] | None = None) -> None:
        self.grabber = grabber
        self.clock = clock
        self.name = grabber.name
        self.calibration_file = calibration_file
        self.pose_range = pose_range
        self._analyzer = analyzer
        self._reopen = reopen
        self._on_track = on_track
        self._report: Callable[[StatusEvent], None] = lambda e: log.info("%s", e)
        self._latest: TrackedFrame | None = None
        self._tracker: FaceTracker | None = None
        self._calibrator: Calibrator | None = None
        self._calib_prev = None
        self._size: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._face_seen: bool | None = None
        self.state = "starting"  # calibrating, tracking, no face, lost, ended
        self.track_ms = Rolling(300)
        self.cpu_ms = Rolling(300)
        self.frames = 0
        self.calibration: NeutralCalibration | None = None
        if calibration_file is not None and calibration_file.is_file() and not recalibrate:
            try:
                self.calibration = NeutralCalibration.load(calibration_file)
            except CalibrationError as e:
                log.warning("%s", e)

    def set_reporter(self, report: Callable[[StatusEvent], None]) -> None:
        self._report = report

    def _say(self, message: str, level: str = "info", retrying: bool = False) -> None:
        self._report(StatusEvent("source:camera", message, level, retrying))  # type: ignore[arg-type]

    # --- engine side ---------------------------------------------------------------------
    def latest(self) -> TrackedFrame | None:
        return self._latest

    @property
    def alive(self) -> bool:
        return self.state not in ("lost", "ended")

    def start(self) -> "CameraSource":
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.grabber.close()

    # --- capture thread ------------------------------------------------------------------
    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                more = self.step()
                if failing:
                    failing = False
                    self._say("tracking works again", "recovered")
            except Exception as e:  # noqa: BLE001 - a tracking bug becomes status; capture goes on
                if not failing:  # said once, not once a frame
                    failing = True
                    log.exception("camera step failed")
                    self._say(f"tracking failed on a frame: {type(e).__name__}: {e}", "error", True)
                self._stop.wait(0.1)
                continue
            if not more:
                self._stop.wait(0.01)

    def _analyzer_get(self):
        if self._analyzer is None:
            from marionette.core.face import FaceAnalyzer

            self._analyzer = FaceAnalyzer.load()
        return self._analyzer

    def step(self) -> bool:
        """Read and track one frame. False when there was no frame (device gone, clip ended,
        or waiting to reopen)."""
        if self.state == "ended":
            return False
        if self.state == "lost":
            return self._try_reopen()
        image = self.grabber.read()
        captured = self.clock.now()
        if image is None:
            if self.grabber.ended:
                self.state = "ended"
                self._latest = None
                self._say(f"{self.name}: the clip ended; the avatar falls back to idle life", "warning")
                return False
            self._failures += 1
            if self._failures >= READ_FAILURES:
                self._lost("stopped delivering frames (unplugged, or taken by another program?)")
            return False
        self._failures = 0
        if self._size is None:
            self._size = working_size(image.shape[1], image.shape[0])
        frame = prepare(image, self._size)
        self.frames += 1
        if self._tracker is None and self._calibrate(frame, captured):
            return True  # the frame went into the calibration
        tracked = self._tracker.process(frame, captured)
        self.track_ms.add(tracked.track_ms)
        self.cpu_ms.add(tracked.cpu_ms)
        self._latest = tracked
        seen = tracked.motion is not None
        if seen != self._face_seen:
            self._face_seen = seen
            self.state = "tracking" if seen else "no face"
            self._say("tracking your face" if seen else "no face in view; the avatar falls back to idle life",
                      "recovered" if seen else "warning")
        if self._on_track is not None:
            self._on_track(tracked)
        return True

    def _calibrate(self, frame: np.ndarray, t: float) -> bool:
        """Take a stored calibration (False: track this frame) or feed the frame to a new one (True)."""
        cal = self.calibration
        if cal is not None and cal.frame_size == self._size:
            self._tracker = FaceTracker(self._analyzer_get(), cal, pose_range=self.pose_range)
            self._say(f"{self.name}: using your calibrated neutral face ({self.calibration_file})")
            return False
        if self._calibrator is None:
            if cal is not None:
                self._say(f"{self.name}: the calibration was taken at {cal.frame_size[0]}x{cal.frame_size[1]}, "
                          f"the camera now gives {self._size[0]}x{self._size[1]}: calibrating again", "warning")
            self.state = "calibrating"
            self._calibrator = Calibrator(self.name)
            self._say("look at the camera with a relaxed, neutral face: calibrating for "
                      f"{self._calibrator.seconds:g} s")
        analyzer = self._analyzer_get()
        from marionette.core.face import NoFaceError

        try:
            lm = analyzer.track(frame, self._calib_prev) if self._calib_prev is not None else analyzer.analyze(frame)
        except NoFaceError:
            lm = None
        self._calib_prev = lm
        self._calibrator.add(to_gray(frame), lm, t)
        if not self._calibrator.done:
            return True
        cal = self._calibrator.result()
        self.calibration, self._calibrator = cal, None
        where = ""
        if self.calibration_file is not None:
            try:
                where = f", saved to {cal.save(self.calibration_file)}"
            except OSError as e:
                where = f" (not saved: {e})"
        self._say(f"calibrated{where}" + ("" if cal.steady else
                  f"; the face moved during calibration (spread {cal.spread:.3f} face widths): run with "
                  "--calibrate to take it again"), "info" if cal.steady else "warning")
        self._tracker = FaceTracker(analyzer, cal, pose_range=self.pose_range)
        return True

    def _lost(self, why: str) -> None:
        self.state = "lost"
        self._latest = None
        self._next_try = time.monotonic() + RETRY
        self._say(f"{self.name} {why}; the avatar falls back to idle life", "error",
                  retrying=self._reopen is not None)

    def _try_reopen(self) -> bool:
        if self._reopen is None or time.monotonic() < self._next_try:
            self._stop.wait(0.05)
            return False
        self._next_try = time.monotonic() + RETRY
        try:
            grabber = self._reopen()
        except InputError:
            return False
        self.grabber.close()
        self.grabber, self._failures = grabber, 0
        self.state = "starting"
        self._face_seen = None
        if self._tracker is not None:
            self._tracker.reset()
        self._say(f"{self.name} is back", "recovered")
        return True

    def status(self) -> dict:
        p50, p95 = self.track_ms.percentile(50), self.track_ms.percentile(95)
        return {"camera": self.name, "state": self.state, "frames": self.frames,
                "track_ms_p50": None if p50 is None else round(p50, 1),
                "track_ms_p95": None if p95 is None else round(p95, 1)}
