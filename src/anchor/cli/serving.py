"""Running the API under gunicorn (never the Flask development server), in the foreground or
detached with a pid file, with settings handed to the workers through ``ANCHOR_*`` variables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from anchor.config import Settings
from anchor.core.errors import ConfigError


def _dir(settings: Settings) -> Path:
    d = settings.home / "service"
    d.mkdir(parents=True, exist_ok=True)
    return d


def log_file(settings: Settings) -> Path:
    return _dir(settings) / "gunicorn.log"


def pid_file(settings: Settings) -> Path:
    return _dir(settings) / "gunicorn.pid"


def _env(settings: Settings, registry: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "ANCHOR_HOME": str(settings.home.resolve()),
        "ANCHOR_RPC_URL": settings.rpc_url,
        "ANCHOR_REGISTRY": registry,
        "ANCHOR_DATABASE_URL": settings.db_url,
        "ANCHOR_CONFIRMATIONS": str(settings.confirmations),
    })
    env.pop("ANCHOR_CONFIG", None)
    return env


def _command(bind: str, workers: int, threads: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers), "--threads", str(threads),
            "--worker-class", "gthread" if threads > 1 else "sync", "--graceful-timeout", "10", "anchor.api:create_app()"]


def run_foreground(settings: Settings, registry: str, *, bind: str, workers: int, threads: int) -> None:
    os.execve(sys.executable, _command(bind, workers, threads), _env(settings, registry))


def start_detached(settings: Settings, registry: str, *, bind: str, workers: int, threads: int, timeout: float = 30) -> str:
    url = f"http://{bind}"
    if _alive(pid_file(settings)):
        stop(settings)
    log = open(log_file(settings), "ab")  # noqa: SIM115 - handed to the child
    cmd = _command(bind, workers, threads) + ["--pid", str(pid_file(settings))]
    proc = subprocess.Popen(cmd, env=_env(settings, registry), stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"gunicorn exited with code {proc.returncode}; see {log_file(settings)}")
        try:
            if requests.get(url + "/healthz", timeout=1).status_code in (200, 503):
                return url
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise ConfigError(f"the service did not answer at {url} within {timeout:.0f} s; see {log_file(settings)}")


def _alive(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def stop(settings: Settings, timeout: float = 15) -> bool:
    pid = _alive(pid_file(settings))
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid_file(settings)) == pid:
        time.sleep(0.1)
    return True
