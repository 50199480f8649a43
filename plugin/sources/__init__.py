"""Audio sources for the live engine: microphone, file, text-to-speech and pushed PCM.

All implement core.stages.AudioSource (read() -> AudioChunk | None, close()). Audio we play
ourselves (PlaybackSource, FileSource) is paced on the clock and carries a playback_delay for
A/V sync; the microphone is never delayed.
"""

from .file import FileSource
from .mic import MicrophoneSource, MicrophoneUnavailable, find_input_device, input_devices
from .playback import PlaybackSource

__all__ = ["FileSource", "MicrophoneSource", "MicrophoneUnavailable", "PlaybackSource", "find_input_device", "input_devices"]
