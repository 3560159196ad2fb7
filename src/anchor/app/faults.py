"""Crash points for the kill tests: ``ANCHOR_CRASH_AT=<name>`` makes the process SIGKILL itself
when it reaches :func:`crashpoint` ``(name)``, exactly as ``kill -9`` would at that instant.
``ANCHOR_STOP_AT=<name>`` makes it SIGSTOP itself there instead (the first time only), so a
concurrency test can run a second process at that exact instant and then resume the first (SIGCONT).

Only the test suite sets the variable; unset, a crash point costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "ANCHOR_CRASH_AT"
STOP_ENV = "ANCHOR_STOP_AT"
_stopped: set[str] = set()


def crashpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(STOP_ENV) == name and name not in _stopped:
        _stopped.add(name)
        os.kill(os.getpid(), signal.SIGSTOP)
