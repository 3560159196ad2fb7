"""``scripts/demo`` end to end, in a private home on free ports: the README's main job, the
three verification outcomes, then ``scripts/demo stop`` stops the chain and the service."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from anchor.chain.anvil import free_port
from tests.helpers import ROOT, pid_running, port_open, wait_until

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def run_script(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "scripts" / "demo"), *args], env=env, capture_output=True, text=True, timeout=timeout)


def line_after(lines: list[str], start: str) -> str:
    i = next(i for i, line in enumerate(lines) if line.strip().startswith(start))
    return lines[i + 1].strip()


def run_printed(lines: list[str], label: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the command the demo printed after ``label``, from the checkout, without ANCHOR_* variables."""
    command = next(line for line in lines if label in line).split(label, 1)[1]
    clean = {k: v for k, v in env.items() if not k.startswith("ANCHOR_")}
    return subprocess.run(shlex.split(command), cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_demo_runs_then_stops(tmp_path: Path) -> None:
    chain_port, service_port = free_port(), free_port()
    home = tmp_path / "demo-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANCHOR_")}
    env.update(ANCHOR_HOME=str(home), ANCHOR_RPC_URL=f"http://127.0.0.1:{chain_port}",
               ANCHOR_SERVICE_BIND=f"127.0.0.1:{service_port}")
    try:
        demo = run_script(env=env)
        assert demo.returncode == 0, demo.stderr + demo.stdout
        out = demo.stdout
        lines = out.splitlines()
        assert f"Anvil started at http://127.0.0.1:{chain_port}" in out
        assert f"http://127.0.0.1:{service_port}/" in out
        assert "12 new credential(s)" in out and "12 badge file(s)" in out
        assert not (ROOT / "var" / "demo-home").exists()

        # a) the service, through the curl command the demo prints
        service = line_after(lines, "a) the service:")
        assert service == "→ valid: every check passed", out
        curl_line = next(line for line in lines if "a) the service:" in line).split("a) the service:", 1)[1]
        curl = shlex.split(curl_line)
        assert curl[0] == "curl" and f"http://127.0.0.1:{service_port}/api/v1/verify" in curl
        if shutil.which("curl"):
            answer = json.loads(subprocess.run(curl, capture_output=True, text=True, timeout=30, check=True).stdout)
            assert answer["verdict"] == "valid"
        # b) offline, chain only; the printed command repeats it without the demo's environment
        assert line_after(lines, "b) offline, chain only:") == "→ valid: every check passed", out
        offline = run_printed(lines, "b) offline, chain only:", env)
        assert offline.returncode == 0 and offline.stdout.startswith("VALID"), offline.stdout + offline.stderr
        # c) the tampered copy is rejected, with its reason
        tampered = line_after(lines, "c) a tampered copy")
        assert tampered.startswith("→ invalid: ") and tampered.endswith("]"), tampered
        reason = tampered.rsplit("[", 1)[1].rstrip("]")
        assert reason and reason.replace("_", "").isalpha(), tampered
        rejected = run_printed(lines, "c) a tampered copy (holder renamed):", env)
        assert rejected.returncode == 1 and rejected.stdout.startswith("INVALID"), rejected.stdout + rejected.stderr
        assert f"[{reason}]" in rejected.stdout
        assert (home / "tampered-badge.json").exists() and len(list((home / "badges").glob("*.json"))) == 12

        chain_pid = int((home / "chain" / "anvil.pid").read_text())
        service_pid = int((home / "service" / "gunicorn.pid").read_text())
        assert pid_running(chain_pid) and pid_running(service_pid)
    finally:
        stop = run_script("stop", env=env, timeout=60)
    assert stop.returncode == 0, stop.stderr + stop.stdout
    assert "service stopped" in stop.stdout and "chain stopped" in stop.stdout
    assert wait_until(lambda: not pid_running(chain_pid) and not pid_running(service_pid), 10)
    assert not port_open(chain_port) and not port_open(service_port)
