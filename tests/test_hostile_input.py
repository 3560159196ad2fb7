"""Hostile input through the real entry points: the ``anchor`` command in its own process, and the
verify API under gunicorn over real HTTP, against a real Anvil (issue 8 §1).

* 100,000 nested ``[`` (~200 kB, under the size limit): with py_ecc's recursion limit of 100,000
  (it is imported for signing) the C JSON parser overflows the C stack and the process dies of
  SIGSEGV; refused by depth before parsing instead.
* A badge repeating ``identityHash`` ("Mallory", then the real holder's name): Python keeps the
  last value, so without the duplicate check the badge verifies as valid while a first-wins
  parser shows Mallory.
* A 9-level billion-laughs YAML inside an achievement's ``alignment``: a few hundred bytes that
  expand to 9**9 strings once anything walks the structure.

Each is refused with exit code 2 / 422 and one line naming the problem; nothing is written and
the process (the gunicorn worker) survives.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.core.safe_input import MAX_DEPTH, MAX_JSON_BYTES
from tests.api_support import gunicorn, gunicorn_log
from tests.helpers import EXAMPLES, Cli, pid_running
from tests.world import World, make_world

pytestmark = pytest.mark.chain

DEPTH = 100_000
DEEP = b"[" * DEPTH + b"]" * DEPTH  # ~200 kB: passes the size limit, so depth is what refuses it


@pytest.fixture(scope="module")
def world(anvil: DevChain, tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(Chain(anvil.rpc_url), tmp_path_factory.mktemp("hostile"), n=2)


def duplicate_key_badge(world: World) -> tuple[bytes, bytes]:
    """(the badge's honest JSON, the same with ``identityHash`` repeated: Mallory first, the
    holder's name last, which is what Python's json keeps)."""
    badge = world.badge(0)
    name = badge["credentialSubject"]["identifier"][1]["identityHash"]
    honest = json.dumps(badge)
    field = f'"identityHash": {json.dumps(name)}'
    assert honest.count(field) == 1
    return honest.encode(), honest.replace(field, f'"identityHash": "Mallory", {field}').encode()


def test_the_attack_documents_are_what_they_claim(world: World) -> None:
    assert len(DEEP) < MAX_JSON_BYTES and DEPTH > MAX_DEPTH
    honest, forged = duplicate_key_badge(world)
    assert json.loads(forged) == json.loads(honest)  # the duplicate is invisible to a last-wins parser


# ---------------------------------------------------------------------------- the CLI, in its own process


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float


# ``anchor`` in a process where something (py_ecc, imported by eth-account for signing) has raised
# the recursion limit: there the C JSON parser overflows the C stack instead of raising.
PY_ECC_LIMIT = "import sys; sys.setrecursionlimit(100_000); from anchor.cli.main import main; sys.exit(main(sys.argv[1:]))"


def anchor(home: Path, rpc_url: str, *args: str, registry: str | None = None, timeout: float = 120,
           high_recursion_limit: bool = False) -> Run:
    """``anchor`` in a child process (a crash there cannot take the tests with it)."""
    cmd = [sys.executable, *(["-c", PY_ECC_LIMIT] if high_recursion_limit else ["-m", "anchor.cli"]), "--home", str(home), "--rpc", rpc_url]
    if registry:
        cmd += ["--registry", registry]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANCHOR_")}
    started = time.monotonic()
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout, env=env)
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def one_error_line(run: Run) -> str:
    """The single ``error: ...`` line on stderr of a refused command (no traceback, no signal)."""
    assert run.code >= 0, f"killed by signal {-run.code}: {run.stderr[-500:]}"
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


@pytest.mark.parametrize("high_recursion_limit", [False, True], ids=["as-shipped", "py-ecc-recursion-limit"])
def test_cli_verify_refuses_deep_nesting_before_parsing(world: World, anvil: DevChain, tmp_path: Path, high_recursion_limit: bool) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(DEEP)
    run = anchor(tmp_path / "home", anvil.rpc_url, "verify", str(deep), registry=world.registry.address,
                 high_recursion_limit=high_recursion_limit)
    line = one_error_line(run)
    assert run.code == 2, run
    assert "too deeply" in line and f"at most {MAX_DEPTH}" in line and "before parsing" in line


def test_cli_verify_refuses_a_duplicate_key(world: World, anvil: DevChain, tmp_path: Path) -> None:
    honest, forged = duplicate_key_badge(world)
    (tmp_path / "honest.json").write_bytes(honest)
    (tmp_path / "forged.json").write_bytes(forged)
    run = anchor(tmp_path / "home", anvil.rpc_url, "verify", str(tmp_path / "honest.json"), registry=world.registry.address)
    assert run.code == 0 and "VALID" in run.stdout, run  # the badge itself is genuine
    run = anchor(tmp_path / "home", anvil.rpc_url, "verify", str(tmp_path / "forged.json"), registry=world.registry.address)
    line = one_error_line(run)
    assert run.code == 2 and "VALID" not in run.stdout, run
    assert "duplicate" in line and '"identityHash"' in line and "$.credentialSubject.identifier[1].identityHash" in line


# ---------------------------------------------------------------------------- the API, under gunicorn


def worker_pids(master: int) -> set[int]:
    """The gunicorn master's live child processes (its workers)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == master and fields[0] != "Z":
            pids.add(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def service(world: World, anvil: DevChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("service-home")
    with gunicorn(rpc_url=anvil.rpc_url, registry=world.registry.address, db_url=world.db_url, home=home, workers=1) as url:
        yield url, home


def post(url: str, body: bytes) -> requests.Response:
    return requests.post(f"{url}/api/v1/verify", data=body, headers={"Content-Type": "application/json"}, timeout=30)


@pytest.mark.parametrize("attack", ["deep", "duplicate"])
def test_api_refuses_hostile_bodies_and_the_worker_lives_on(world: World, service: tuple[str, Path], attack: str) -> None:
    url, home = service
    master = int((home / "service" / "gunicorn.pid").read_text())
    workers = worker_pids(master)
    assert len(workers) == 1 and all(pid_running(p) for p in workers)
    honest, forged = duplicate_key_badge(world)

    r = post(url, DEEP if attack == "deep" else forged)
    assert r.status_code == 422, r.text[:300]
    assert r.headers["Content-Type"] == "application/problem+json"
    doc = r.json()
    assert "\n" not in doc["detail"]
    if attack == "deep":
        assert doc["reason"] == "too_deep" and "too deeply" in doc["detail"] and "before parsing" in doc["detail"]
    else:
        assert doc["reason"] == "duplicate_key" and '"identityHash"' in doc["detail"]

    # The same worker answers the next request: it neither crashed nor was replaced.
    ok = post(url, honest)
    assert ok.status_code == 200 and ok.json()["verdict"] == "valid", ok.text[:300]
    assert worker_pids(master) == workers
    log = gunicorn_log(home)
    assert "SIGSEGV" not in log and "Worker exiting" not in log and "WORKER TIMEOUT" not in log, log[-2000:]


# ---------------------------------------------------------------------------- issuing from a YAML bomb


def billion_laughs(levels: int = 9) -> str:
    """An achievement with the classic alias bomb in an alignment's ``targetDescription``: a few
    hundred bytes, 9**levels strings once expanded (the alignment's values are turned into text)."""
    names = "abcdefghijklmnopqrstuvwxyz"
    bomb = ['&a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    bomb += [f"&{names[level]} [" + ", ".join([f"*{names[level - 1]}"] * 9) + "]" for level in range(1, levels)]
    return "\n".join([
        "id: https://uni.example/achievements/bomb",
        "name: Bomb",
        "description: A few hundred bytes that expand to gigabytes.",
        "criteria: {narrative: Survive it.}",
        "alignment:",
        "  - targetName: Laughter",
        "    targetUrl: https://skills.example/laughter",
        "    targetDescription: [" + ", ".join(bomb) + "]",
    ]) + "\n"


def row_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def test_issue_refuses_a_billion_laughs_achievement(anvil: DevChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(tmp_path / "home", anvil.rpc_url, capsys)
    cli.setup_issuer()
    cli.ok("issue", str(EXAMPLES / "roster.csv"), "--achievement", str(EXAMPLES / "achievement.yaml"))
    assert "pending 12 " in cli.ok("status")
    db = cli.home / "anchor.db"
    before = row_counts(db)
    assert before["credentials"] == 12 and before["achievements"] == 1

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())
    assert len(bomb.read_bytes()) < 1024
    run = anchor(cli.home, anvil.rpc_url, "issue", str(EXAMPLES / "roster.csv"), "--achievement", str(bomb), timeout=60)
    line = one_error_line(run)
    assert run.code == 2, run
    assert "alias" in line and str(bomb) in line
    assert run.seconds < 5, f"took {run.seconds:.1f} s"
    assert row_counts(db) == before
    assert "pending 12 " in cli.ok("status")
