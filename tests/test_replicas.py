"""Stateless service: replicas that share only the PostgreSQL database and the chain.

Three ``anchor serve --detach`` replicas (real gunicorn, each with its own empty home: no
deployment.json) find the registry in the issuer database, give identical answers, see a
revocation within one block, and keep answering when one of them is killed. Also the deployment
record itself: idempotent, never silently replaced, checked against the node's chain id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from anchor.app.deployment import resolve_registry
from anchor.chain.anvil import DevChain, free_port
from anchor.chain.node import Chain
from anchor.cli import serving
from anchor.config import Settings, read_deployment, write_deployment
from anchor.core.errors import ConfigError
from anchor.store import RegistryDeployment, Store
from anchor.store.deployment import deployments, record_deployment
from tests.helpers import EXAMPLES, Cli, pid_running, wait_until

pytestmark = [pytest.mark.chain, pytest.mark.slow]

HEAD_TTL = 0.5  # ServiceConfig.head_ttl: how long a replica answers from the head it last read
REGISTRY_A = "0x" + "a1" * 20
REGISTRY_B = "0x" + "b2" * 20


# ---------------------------------------------------------------------------- the record in the database

def test_the_record_is_idempotent_and_never_silently_replaced(store: Store) -> None:
    first = RegistryDeployment(31337, REGISTRY_A, 7, "0x" + "11" * 32, "0x" + "cc" * 20)
    assert deployments(store) == {}
    assert record_deployment(store, first) is None
    assert record_deployment(store, first) is None  # the same again: nothing changes
    with pytest.raises(ConfigError) as e:
        record_deployment(store, RegistryDeployment(31337, REGISTRY_B, 9))
    assert e.value.reason == "registry_conflict"
    assert f"records registry {REGISTRY_A} for chain 31337" in e.value.message and "\n" not in e.value.message
    assert deployments(store) == {31337: first}  # the refused write left the record as it was
    other_chain = RegistryDeployment(8453, REGISTRY_B, 1)
    assert record_deployment(store, other_chain) is None  # another chain: its own record
    replacement = RegistryDeployment(31337, REGISTRY_B, 9)
    assert record_deployment(store, replacement, replace=True) == first
    assert deployments(store) == {31337: replacement, 8453: other_chain}


def test_lookup_order_settings_then_database_then_file(tmp_path: Path, store: Store, chain: Chain) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(ConfigError) as e:
        resolve_registry(settings, db=store, chain=chain)
    assert e.value.reason == "no_registry"
    write_deployment(settings.deployment_file, {"chainId": chain.chain_id, "registry": REGISTRY_B, "block": 1})
    assert resolve_registry(settings, db=store, chain=chain).source == "deployment.json"
    record_deployment(store, RegistryDeployment(chain.chain_id, REGISTRY_A, 1))
    with pytest.raises(ConfigError) as e:  # the database and this home disagree: never silently the database's
        resolve_registry(settings, db=store, chain=chain)
    assert e.value.reason == "registry_conflict" and REGISTRY_A in e.value.message and REGISTRY_B in e.value.message
    write_deployment(settings.deployment_file, {"chainId": chain.chain_id, "registry": REGISTRY_A, "block": 1})
    found = resolve_registry(settings, db=store, chain=chain)
    assert (found.address, found.chain_id, found.source) == (REGISTRY_A, chain.chain_id, "database")
    settings.deployment_file.unlink()
    assert resolve_registry(settings, db=store, chain=chain).source == "database"  # a replica without a home file
    explicit = resolve_registry(settings.with_overrides(registry=REGISTRY_B), db=store, chain=chain)
    assert (explicit.address, explicit.source) == (REGISTRY_B, "settings")


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_record_for_another_chain_is_refused_in_one_line(tmp_path: Path, anvil: DevChain, db_url: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    s = Store.open(db_url)
    try:
        record_deployment(s, RegistryDeployment(999, REGISTRY_A, 1))
    finally:
        s.close()
    replica = Cli(tmp_path / "replica", anvil.rpc_url, capsys, db_url=db_url)
    code, out, err = replica("serve", "--detach", "--bind", f"127.0.0.1:{free_port()}")
    assert code == 3, out + err
    assert err.strip().splitlines() == [
        f"error: the database records the registry for chain id 999, but the RPC at {anvil.rpc_url} answers chain id "
        f"31337: point --rpc at chain 999, pass --registry, or run `anchor deploy` on chain 31337"]
    assert not (replica.home / "service" / "gunicorn.pid").exists()


# ---------------------------------------------------------------------------- three replicas

def rpc(url: str, method: str, *params: Any) -> Any:
    r = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=10)
    return r.json()["result"]


def start_replicas(homes: list[Path], rpc_url: str, db_url: str) -> tuple[list[str], list[subprocess.Popen[str]]]:
    """``anchor serve --detach`` for each home at once (one gunicorn worker each): their URLs, and
    the commands (finished by :func:`started`)."""
    ports = [free_port() for _ in homes]
    procs = [subprocess.Popen(
        Cli(home, rpc_url, None, db_url=db_url).command("serve", "--detach", "--bind", f"127.0.0.1:{port}", "--workers", "1"),  # type: ignore[arg-type]
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for home, port in zip(homes, ports, strict=True)]
    return [f"http://127.0.0.1:{port}" for port in ports], procs


def started(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err + out
        assert "from the database" in out, out  # not from a home directory: these homes are empty


def stable(doc: dict[str, Any]) -> dict[str, Any]:
    """A response body without what differs per request (the time it was checked)."""
    return {k: v for k, v in doc.items() if k not in {"checkedAt"}}


@pytest.fixture
def replica_homes(tmp_path: Path) -> Iterator[list[Path]]:
    homes = [tmp_path / f"replica{i}" for i in range(3)]
    yield homes
    for home in homes:  # every process each replica started: master and workers share its session
        pid = serving.pid_file(Settings(home=home))
        if pid.exists():
            try:
                os.killpg(int(pid.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_three_replicas_share_only_the_database_and_the_chain(
        tmp_path: Path, anvil: DevChain, db_url: str, capsys: pytest.CaptureFixture[str], replica_homes: list[Path]) -> None:
    begun = time.monotonic()
    issuer = Cli(tmp_path / "issuer", anvil.rpc_url, capsys, db_url=db_url)
    issuer.setup_issuer()  # deploys: the registry is recorded in the database
    # The replicas need nothing more to start; they boot while the issuer issues and anchors.
    urls, procs = start_replicas(replica_homes, anvil.rpc_url, db_url)
    issuer.ok("issue", str(EXAMPLES / "roster.csv"), "--achievement", str(EXAMPLES / "achievement.yaml"))
    issuer.ok("anchor")
    issuer.ok("export", str(tmp_path / "badges"))
    badges = sorted((tmp_path / "badges").glob("*.json"))
    assert len(badges) == 12
    registry = read_deployment(issuer.home / "deployment.json")
    assert registry is not None
    started(procs)
    for home in replica_homes:
        assert not (home / "deployment.json").exists()  # nothing of the deployment lives in a replica's home
    setup = time.monotonic() - begun

    def answers(path: str, body: bytes | None = None) -> list[dict[str, Any]]:
        out = []
        for url in urls:
            r = requests.post(url + path, data=body, headers={"Content-Type": "application/json"}, timeout=10) \
                if body is not None else requests.get(url + path, timeout=10)
            assert r.status_code == 200, (url, path, r.status_code, r.text[:300])
            out.append(stable(r.json()))
        return out

    # Identical answers: proofs, statuses and verification reports of a few credentials, and the issuers.
    ids = [json.loads(b.read_text())["id"] for b in badges]
    for cid, badge in zip(ids[:4], badges[:4], strict=True):
        proofs = answers(f"/api/v1/credentials/{cid}/proof")
        statuses = answers(f"/api/v1/credentials/{cid}/status")
        reports = answers("/api/v1/verify", badge.read_bytes())
        for same in (proofs, statuses, reports):
            assert same[0] == same[1] == same[2], same
        assert statuses[0]["status"] == "active" and statuses[0]["anchor"]["registry"] == registry["registry"]
        assert reports[0]["verdict"] == "valid"
    issuers = answers("/api/v1/issuers")
    assert issuers[0] == issuers[1] == issuers[2] and issuers[0]["registry"] == registry["registry"]
    # What comes from the issuer rows in the database: the signed status list the badges name.
    status_list = urlparse(json.loads(badges[0].read_text())["credentialStatus"]["statusListCredential"]).path
    lists = answers(status_list)
    assert lists[0] == lists[1] == lists[2] and lists[0]["credentialSubject"]["statusPurpose"] == "revocation"

    # A revocation, then one more block: every replica says revoked within its head TTL of that block.
    victim, victim_badge = ids[0], badges[0]
    issuer.ok("revoke", victim, "--reason", "issued_in_error")
    rpc(anvil.rpc_url, "evm_mine")
    mined = time.monotonic()
    seen: dict[str, float] = {}

    def all_revoked() -> bool:
        for url in urls:
            if url not in seen and requests.get(f"{url}/api/v1/credentials/{victim}/status", timeout=10).json()["status"] == "revoked":
                seen[url] = time.monotonic() - mined
        return len(seen) == len(urls)

    # The bound: a replica reads the head at most HEAD_TTL seconds old, plus a request's time.
    assert wait_until(all_revoked, HEAD_TTL + 1.0), f"revoked only on {sorted(seen)} of {urls}"
    statuses = answers(f"/api/v1/credentials/{victim}/status")
    assert statuses[0] == statuses[1] == statuses[2] and statuses[0]["status"] == "revoked"
    reports = answers("/api/v1/verify", victim_badge.read_bytes())
    assert reports[0] == reports[1] == reports[2] and reports[0]["verdict"] == "revoked"

    # One replica killed outright (its gunicorn master, SIGKILL; its orphaned worker notices at its
    # next poll and exits, or the fixture kills it): the other two answer as before.
    master = int(serving.pid_file(Settings(home=replica_homes[0])).read_text())
    os.kill(master, signal.SIGKILL)
    assert wait_until(lambda: not pid_running(master), 5)
    urls = urls[1:]
    for _ in range(3):
        for cid in ids[:6]:
            assert answers(f"/api/v1/credentials/{cid}/proof")[0] == answers(f"/api/v1/credentials/{cid}/proof")[1]
        statuses = answers(f"/api/v1/credentials/{victim}/status")
        assert statuses[0] == statuses[1] and statuses[0]["status"] == "revoked"
    print(f"setup (deploy, issue 12, anchor, export, 3 replicas) {setup:.1f} s; revocation seen after the block in "
          + ", ".join(f"{t * 1000:.0f} ms" for t in sorted(seen.values())) + f" (bound {HEAD_TTL * 1000:.0f} ms + a request)")


def test_a_worker_with_only_its_settings_finds_the_registry_in_the_database(tmp_path: Path, store: Store, db_url: str,
                                                                            chain: Chain) -> None:
    """What `gunicorn 'anchor.api:create_app()'` does with only $ANCHOR_DATABASE_URL and $ANCHOR_RPC_URL."""
    from anchor.api import config_from_settings

    record_deployment(store, RegistryDeployment(chain.chain_id, REGISTRY_A, 1))
    home = tmp_path / "empty-home"
    config = config_from_settings(Settings(home=home, rpc_url=chain.rpc_url,
                                           database_url=db_url))
    assert config.registry == REGISTRY_A and not home.exists()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_deploy_records_the_registry_where_every_home_finds_it(tmp_path: Path, anvil: DevChain, db_url: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    first = Cli(tmp_path / "first", anvil.rpc_url, capsys, db_url=db_url)
    out = first.ok("deploy")
    assert "registry deployed at " in out
    address = out.split("registry deployed at ")[1].split()[0]
    second = Cli(tmp_path / "second", anvil.rpc_url, capsys, db_url=db_url)
    assert f"registry found at {address}" in second.ok("deploy")  # from the database: this home had no record
    assert read_deployment(second.home / "deployment.json")["registry"] == address  # type: ignore[index]

    out = second.ok("deploy", "--force")
    replacement = out.split("registry deployed at ")[1].split()[0]
    assert replacement != address and f"the database recorded registry {address} for this chain before" in out
    # The first home's deployment.json still names the old (live) registry: the database's record wins.
    assert f"registry found at {replacement}" in first.ok("deploy")
    s = Store.open(db_url)
    try:
        assert deployments(s)[31337].registry == replacement
    finally:
        s.close()
