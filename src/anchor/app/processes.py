"""The background processes anchor starts for a user (the local chain, the detached service),
found again through pid files and stopped gracefully."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (reaping it when it is this process's child, so a
    stopped child does not linger as a zombie that still answers ``kill(pid, 0)``)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """An exited process some other parent has not reaped yet (Linux; False where unknown)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].startswith("Z")


def running_pid(pid_file: Path) -> int | None:
    """The pid recorded in ``pid_file`` if that process is still running."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return None if gone(pid) else pid


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit; whether it did."""
    deadline = time.monotonic() + timeout
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL if ``pid`` is still running after ``timeout`` seconds."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_gone(pid, timeout):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        wait_gone(pid, 5.0)
