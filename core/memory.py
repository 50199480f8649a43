"""The process's own memory: what it holds (resident set size) and handing freed heap back.

`doctor` and the live stats report RSS so a user can see what one avatar costs. After a burst of
work (a long utterance synthesized, an interrupt) glibc keeps freed pages in its arenas; trimming
gives them back so the idle figure returns to where it was. Trade-off: trimming costs a
millisecond or two, so it runs after bulk work (a synthesized chunk), never per frame.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_libc = None


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process (this one by default), in bytes; 0 where /proc is missing."""
    try:
        with open(f"/proc/{pid or os.getpid()}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_mb(pid: int | None = None) -> float:
    return round(rss_bytes(pid) / 2**20, 1)


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc malloc_trim); nothing elsewhere."""
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        try:
            _libc = ctypes.CDLL(name) if name else False
        except OSError:
            _libc = False
    if _libc and hasattr(_libc, "malloc_trim"):
        _libc.malloc_trim(0)
