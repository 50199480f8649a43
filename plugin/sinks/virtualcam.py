"""The virtual webcam, through pyvirtualcam: v4l2loopback on Linux, OBS Virtual Camera elsewhere.

pyvirtualcam is imported here only. With no backend named, every registered backend is tried
and one error lists each failure plus what to install on this OS (STYLE.md 4). Trade-off: the
camera is opened once at the renderer's size; a size change needs a new sink.
"""

from __future__ import annotations

import platform

from marionette.core.errors import InputError
from marionette.core.types import VideoFrame

INSTALL_HINTS = {
    "Linux": "install and load v4l2loopback: `sudo apt install v4l2loopback-dkms && sudo modprobe v4l2loopback "
             "exclusive_caps=1 card_label=Marionette` (containers and CI machines cannot load kernel modules; "
             "use the MJPEG stream with an OBS media source instead)",
    "Windows": "install OBS Studio 26+ and start its Virtual Camera once, or install Unity Capture",
    "Darwin": "install OBS Studio 28+ and start its Virtual Camera once (macOS 13+: allow the system extension)",
}


class VirtualCameraUnavailable(InputError):
    """No virtual camera could be opened; the message lists every backend's failure and the fix."""


def install_hint(system: str | None = None) -> str:
    system = system or platform.system()
    return INSTALL_HINTS.get(system, "pyvirtualcam supports Linux (v4l2loopback), Windows and macOS (OBS)")


def available_backends() -> list[str]:
    try:
        import pyvirtualcam  # noqa: F401 - registers the backends of this OS
    except ImportError:
        return []
    from pyvirtualcam.camera import BACKENDS

    return list(BACKENDS)


class VirtualCameraSink:
    """FrameSink feeding a virtual camera. open() raises VirtualCameraUnavailable with the fix."""

    name = "virtualcam"

    def __init__(self, camera) -> None:
        self._cam = camera
        self.backend: str = camera.backend
        self.device: str = camera.device

    @classmethod
    def open(cls, width: int, height: int, fps: float, *, backend: str | None = None,
             device: str | None = None) -> "VirtualCameraSink":
        try:
            import pyvirtualcam
        except ImportError as e:
            raise VirtualCameraUnavailable("pyvirtualcam is not installed: pip install pyvirtualcam") from e
        from pyvirtualcam.camera import BACKENDS

        if backend is not None and backend not in BACKENDS:
            raise VirtualCameraUnavailable(f"virtual camera backend {backend!r} unknown; registered: "
                                           f"{', '.join(BACKENDS) or 'none'}; {install_hint()}")
        try:
            cam = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB,
                                      backend=backend, device=device)
        except Exception as e:  # noqa: BLE001 - pyvirtualcam joins every backend's error in one RuntimeError
            tried = ", ".join([backend] if backend else list(BACKENDS)) or "none registered"
            detail = " | ".join(line.strip() for line in str(e).splitlines() if line.strip())
            raise VirtualCameraUnavailable(f"no virtual camera (tried {tried}: {detail}). To fix: {install_hint()}") from e
        return cls(cam)

    def send(self, frame: VideoFrame) -> None:
        self._cam.send(frame.image)

    def close(self) -> None:
        self._cam.close()
