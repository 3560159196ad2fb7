"""Running the API under gunicorn (never the Flask development server), in the foreground or
detached with a pid file, with settings handed to the workers through ``ANCHOR_*`` variables."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from anchor.app.processes import running_pid, terminate
from anchor.config import Settings
from anchor.core.errors import ConfigError

if TYPE_CHECKING:
    from anchor.app.deployment import RegistryChoice


def _dir(settings: Settings) -> Path:
    d = settings.home / "service"
    d.mkdir(parents=True, exist_ok=True)
    return d


def log_file(settings: Settings) -> Path:
    return _dir(settings) / "gunicorn.log"


def pid_file(settings: Settings) -> Path:
    return _dir(settings) / "gunicorn.pid"


def _env(settings: Settings, registry: str | RegistryChoice) -> dict[str, str]:
    """The workers' settings: the registry (and its chain id, when known) as resolved once by
    ``anchor serve``, so a worker never looks for them in a home directory."""
    address, chain_id = (registry, None) if isinstance(registry, str) else (registry.address, registry.chain_id)
    env = dict(os.environ)
    env.update({
        "ANCHOR_HOME": str(settings.home.resolve()),
        "ANCHOR_RPC_URL": settings.rpc_url,
        "ANCHOR_REGISTRY": address,
        "ANCHOR_DATABASE_URL": settings.db_url,
        "ANCHOR_CONFIRMATIONS": str(settings.confirmations),
    })
    if chain_id is not None:
        env["ANCHOR_CHAIN_ID"] = str(chain_id)
    # The workers read the same settings file (fallback RPC URLs, finality, fee caps, chain profiles),
    # found by its absolute path whatever their working directory; what was resolved here wins over it.
    if settings.extra.get("config_file"):
        env["ANCHOR_CONFIG"] = str(settings.extra["config_file"])
    else:
        env.pop("ANCHOR_CONFIG", None)
    return env


def _command(bind: str, workers: int, threads: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers), "--threads", str(threads),
            "--worker-class", "gthread" if threads > 1 else "sync", "--graceful-timeout", "10",
            "--config", "python:anchor.api.gunicorn_conf",  # request limits; errors as problem+json, never HTML
            "anchor.api:create_app()"]


def run_foreground(settings: Settings, registry: str | RegistryChoice, *, bind: str, workers: int, threads: int) -> None:
    os.execve(sys.executable, _command(bind, workers, threads), _env(settings, registry))


def start_detached(settings: Settings, registry: str | RegistryChoice, *, bind: str, workers: int, threads: int, timeout: float = 30) -> str:
    """Start gunicorn in its own session and return its URL once ``/healthz`` answers.

    A service this home started before is stopped first. Raises :class:`ConfigError` when
    gunicorn exits (e.g. the port is taken) or does not answer within ``timeout`` seconds.
    """
    import requests

    url = f"http://{bind}"
    if running_pid(pid_file(settings)):
        stop(settings)
    if _answers(bind):  # else /healthz below would be answered by whatever holds the port
        raise ConfigError(f"{bind} is already in use; choose another address with --bind or $ANCHOR_SERVICE_BIND")
    log = open(log_file(settings), "ab")
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


def _answers(bind: str) -> bool:
    host, _, port = bind.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


def stop(settings: Settings, timeout: float = 15) -> bool:
    """Stop the detached service of this home; returns whether one was running.

    Returns once the gunicorn master has exited (it closes its socket first), killing it
    after ``timeout`` seconds of graceful shutdown.
    """
    pid = running_pid(pid_file(settings))
    if pid is None:
        return False
    terminate(pid, timeout)
    pid_file(settings).unlink(missing_ok=True)
    return True
