"""An audio file as a live source: played once or looped, at real-time pace.

It is audio we play ourselves, so it shares PlaybackSource's pacing and delayed playback.
Trade-off: the file is decoded whole at start (load_audio refuses over 10 minutes) for simple,
glitch-free looping; longer files should be pushed in pieces.
"""

from __future__ import annotations

from pathlib import Path

from marionette.core.clock import Clock
from marionette.core.types import AudioChunk

from .playback import PlaybackSource


class FileSource(PlaybackSource):
    """Plays ``path`` from the first read(); with loop=True it starts again when it ends."""

    def __init__(self, path: str | Path, clock: Clock, *, loop: bool = False, **kw) -> None:
        from marionette.core.audio import load_audio

        super().__init__(clock, name="file", **kw)
        self.path = Path(path)
        self.loop = loop
        self._audio = load_audio(self.path)
        self.plays = 0
        self._queue_file()

    def _queue_file(self) -> None:
        self.push(self._audio.samples, self._audio.sample_rate, label=self.path.name)
        self.end_segment()
        self.plays += 1

    def read(self) -> AudioChunk | None:
        if self.loop and self.pending_seconds() < 0.5:
            self._queue_file()
        return super().read()

    @property
    def finished(self) -> bool:
        return not self.loop and self.pending_seconds() == 0
