"""Frame sinks for the live engine: virtual camera, MJPEG over HTTP, WebSocket preview, mp4.

Each implements core.stages.FrameSink (send(VideoFrame), close()); the engine runs each on its
own thread, newest frame wins. Heavy or platform imports (pyvirtualcam, av, websockets) stay
inside the module that needs them.
"""

from .jpeg import JpegBroadcaster, encode_jpeg
from .mjpeg import MjpegSink
from .preview_ws import WebSocketPreviewSink
from .record import RecordingSink
from .virtualcam import VirtualCameraSink, VirtualCameraUnavailable, available_backends, install_hint

__all__ = [
    "JpegBroadcaster", "MjpegSink", "RecordingSink", "VirtualCameraSink", "VirtualCameraUnavailable",
    "WebSocketPreviewSink", "available_backends", "encode_jpeg", "install_hint",
]
