"""Errors a user can act on. Each message says what was expected, what arrived and how to fix it."""


class MarionetteError(Exception):
    """Base class: the CLI prints these as one line, without a traceback."""


class InputError(MarionetteError, ValueError):
    """Bad input from a user: a portrait with no face, a corrupt WAV, a malformed track."""
