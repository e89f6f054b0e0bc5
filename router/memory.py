"""Give back what the start-up left behind: once the app is built (weights loaded, profiles
encoded, the ONNX session created), the heap holds freed blocks that glibc keeps for reuse.
``release_startup_memory`` collects garbage, freezes what survives (so the collector no longer
walks the long-lived start-up objects) and asks glibc to return free heap pages to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)


def _malloc_trim() -> bool:
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))


def release_startup_memory() -> bool:
    """-> whether the C heap gave memory back (False where malloc_trim is unavailable)."""
    gc.collect()
    gc.freeze()
    released = _malloc_trim()
    log.debug("start-up memory released to the system: %s", released)
    return released
