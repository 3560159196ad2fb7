"""Helpers for tests that drive the ``anchor`` command line against a real Anvil."""

from __future__ import annotations

import os
import subprocess
import sys
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
        return [sys.executable, "-m", "anchor.cli.main", *self.base(), *args]

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

    def setup_issuer(self, profile: str = "https://uni.example/issuer") -> None:
        self.ok("deploy")
        self.ok("issuer", "register", "--name", "Uni", "--profile-id", profile, "--url", "https://uni.example")


def write_roster(path: Path, n: int, *, prefix: str = "p") -> Path:
    lines = ["name,email"] + [f"Person {i},{prefix}{i}@example.org" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path
