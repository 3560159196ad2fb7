"""Helpers for tests that drive the ``anchor`` command line against a real Anvil."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from anchor.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@dataclass
class Cli:
    """Runs ``anchor`` with a private home directory against one Anvil."""

    home: Path
    rpc_url: str
    capsys: pytest.CaptureFixture[str]
    db_url: str | None = None
    confirmations: int = 1

    def base(self) -> list[str]:
        args = ["--home", str(self.home), "--rpc", self.rpc_url, "--confirmations", str(self.confirmations)]
        if self.db_url:
            args += ["--db", self.db_url]
        return args

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main([*self.base(), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *args: str) -> str:
        code, out, err = self(*args)
        assert code == 0, f"anchor {' '.join(args)} exited {code}: {err}{out}"
        return out

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "anchor.cli", *self.base(), *args]

    def env(self, crash_at: str | None = None, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "ANCHOR_CRASH_AT"}
        if crash_at:
            env["ANCHOR_CRASH_AT"] = crash_at
        env.update(extra)
        return env

    def subprocess(self, *args: str, crash_at: str | None = None, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess[str]:
        """Run the CLI in a separate process (it can be killed without killing the tests)."""
        return subprocess.run(self.command(*args), env=self.env(crash_at, **extra_env), capture_output=True, text=True,
                              timeout=timeout)

    def setup_issuer(self, profile: str | None = None) -> None:
        """Deploy a registry and register account 1 as "Uni": named by the did:key of its
        development signing key unless ``profile`` (a DID) is given."""
        self.ok("deploy")
        profile_args = ["--profile-id", profile] if profile is not None else []
        self.ok("issuer", "register", "--name", "Uni", *profile_args, "--url", "https://uni.example")


def write_roster(path: Path, n: int, *, prefix: str = "p") -> Path:
    lines = ["name,email"] + [f"Person {i},{prefix}{i}@example.org" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def pid_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (an unreaped zombie counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return not stat[stat.rfind(")") + 2 :].startswith("Z")
