"""PortAudio re-initialisation, shared by every stream of the process.

PortAudio reads its device list once, so finding a device that came back means Pa_Terminate +
Pa_Initialize, which silently closes every open stream. Streams remember the generation they
were opened in and never touch a handle from an older one (that would be a use-after-free);
they reopen instead. Trade-off: a returning microphone briefly interrupts the speaker too.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)
_lock = threading.Lock()
_generation = 0


def generation() -> int:
    return _generation


def reinit() -> int:
    """Re-read PortAudio's device list; returns the new generation."""
    global _generation
    import sounddevice as sd

    with _lock:
        try:
            sd._terminate()
            sd._initialize()
        except Exception:  # noqa: BLE001 - the next retry tries again
            log.debug("PortAudio re-init failed", exc_info=True)
        _generation += 1
        return _generation
