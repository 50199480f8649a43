"""Sinks for the live engine: virtual camera, MJPEG over HTTP, WebSocket preview, mp4, the
speaker, the virtual microphone and the motion track (--motion-out).

Each implements one or more of core.stages' sink Protocols (FrameSink, SoundSink, SpeakerSink,
MotionSink, SpeechSink); the engine runs each on its own thread, newest frame wins. Heavy or platform imports (pyvirtualcam, av, websockets) stay
inside the module that needs them.
"""

from .jpeg import JpegBroadcaster, encode_jpeg
from .mjpeg import MjpegSink
from .motion_out import MotionTrackSink
from .preview_ws import WebSocketPreviewSink
from .record import RecordingSink
from .speaker import SpeakerSink
from .virtual_mic import VirtualMicSink, VirtualMicUnavailable
from .virtualcam import VirtualCameraSink, VirtualCameraUnavailable, available_backends, install_hint

__all__ = [
    "JpegBroadcaster", "MjpegSink", "MotionTrackSink", "RecordingSink", "SpeakerSink", "VirtualCameraSink",
    "VirtualCameraUnavailable", "VirtualMicSink", "VirtualMicUnavailable",
    "WebSocketPreviewSink", "available_backends", "encode_jpeg", "install_hint",
]
