"""The garbage collector as a long-running server wants it.

Everything built at start (configuration, prompts, templates, modules) lives for the whole
process: frozen, collections no longer walk it. Per-call and per-request objects mostly die by
reference counting, but a web request leaves some hundreds of objects in reference cycles that
only a collection frees, so the young generation's size sets how long each pause is. Python's
700 makes collections so frequent that they doubled the SIP set-up p99 under load; 50,000 made
every collection in the console free some 50,000 objects in 50-120 ms, every two seconds at a
steady page load (bench/console.py, the pauses traced with gc.callbacks). 10,000 keeps both
tails short (bench/RESULTS.md, "uvloop").
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "tune_for_serving"]

THRESHOLDS = (10_000, 50, 100)
"""Young generation, then how many young and middle collections before an older one."""


def tune_for_serving() -> None:
    """Collect, freeze what exists, and set `THRESHOLDS` (once start-up is over)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
