"""Speech errors a user can act on: a missing engine names the package that brings it."""

from __future__ import annotations

from ..errors import InputError


class EngineUnavailableError(InputError):
    """A text-to-speech or alignment engine that is not installed; the message says how to install it."""


class AlignmentError(InputError):
    """Audio that could not be aligned to its transcript; the message says what to check."""


class SpeechQueueFull(InputError):
    """Text refused because too much speech already waits (per connection or in all); the message
    says how much is queued, the limit, and that speech_end or interrupt makes room."""
