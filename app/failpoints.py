"""Crash points for the crash-safety tests: GALLERY_CRASH_AT=<name> kills the process right there.

Read from the environment on every call (never from the config), so it costs one dict lookup and
cannot be switched on through a config file; unset, it does nothing.
"""
from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    """SIGKILL this process when GALLERY_CRASH_AT names this point, as a power cut or OOM kill would."""
    if os.environ.get("GALLERY_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
