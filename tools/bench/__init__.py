"""Benchmarks behind `marionette bench ...`: each prints JSON; tests never assert their timings."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def pinned_core() -> Iterator[int | None]:
    """Run the block on one CPU (the lowest this process may use) and restore the affinity after:
    a per-frame cost measured across migrating cores measures the scheduler. Yields the core, or
    None where the platform cannot pin."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    core = min(before)
    os.sched_setaffinity(0, {core})
    try:
        yield core
    finally:
        os.sched_setaffinity(0, before)
