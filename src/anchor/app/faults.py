"""Crash points for the kill tests: ``ANCHOR_CRASH_AT=<name>`` makes the process SIGKILL itself
when it reaches :func:`crashpoint` ``(name)``, exactly as ``kill -9`` would at that instant.

Only the test suite sets the variable; unset, a crash point costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "ANCHOR_CRASH_AT"


def crashpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
