"""Audio sources for the live engine: microphone, file, text-to-speech and pushed PCM.

All implement core.stages.AudioSource (read() -> AudioChunk | None, close()). Audio we play
ourselves (PlaybackSource, FileSource) is paced on the clock and declares core.stages.PlayedSource
(its sound goes to the speaker sink, its phones and speech marks forward); the engine delays every
sound output, never the microphone's way in (docs/engine.md).
"""

from .file import FileSource
from .mic import MicrophoneSource, MicrophoneUnavailable, find_input_device, input_devices
from .playback import PlaybackSource

__all__ = ["FileSource", "MicrophoneSource", "MicrophoneUnavailable", "PlaybackSource", "find_input_device", "input_devices"]
