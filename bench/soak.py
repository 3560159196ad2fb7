"""Soak: mixed traffic against the service under gunicorn while the issuer keeps writing.

    python bench/soak.py [--seconds 60] [--max-requests 200000] [--n 500] [--connections 4]
                         [--workers 2] [--threads 2]

Everything runs on this machine: a fresh Anvil on loopback, a fresh SQLite issuer database, and
the service started the way `anchor serve --detach` starts it (gunicorn with anchor's gunicorn
configuration) on a free loopback port. N credentials are issued and anchored first (not timed).
Then, for ``--seconds`` (or until ``--max-requests``), ``--connections`` client threads send a
mix of requests, and a background thread plays the issuer: it issues small rosters, anchors
them, and revokes credentials (old and new), so the service answers while its database and the
chain change under it.

The mix: GET proof and status of known credentials (and of unknown ones: a 404 is the right
answer), POST /verify with valid badges (verdict valid, or revoked once the issuer revoked them)
and forged ones (altered field, wrong proof step, wrong leaf index: verdict invalid), the
issuers list, a batch, the audit history and an audit batch. Any 5xx, and any status or verdict
other than the expected one, counts as an error. It prints requests, errors, p50/p99 latency per
route, what the issuer did, and the gunicorn workers' resident memory before and after; it
exits 1 if there was any error.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _world import issue_and_anchor  # noqa: E402
from anchor.app.anchoring import Anchorer  # noqa: E402
from anchor.app.exporting import export_credentials  # noqa: E402
from anchor.app.issuing import issue_credentials  # noqa: E402
from anchor.app.revoking import request_revocation, submit_revocations  # noqa: E402
from anchor.chain.anvil import DevChain, free_port  # noqa: E402
from anchor.chain.node import Chain  # noqa: E402
from anchor.chain.signer import Signer, dev_signer  # noqa: E402
from anchor.chain.writer import Registry  # noqa: E402
from anchor.cli import serving  # noqa: E402
from anchor.config import Settings  # noqa: E402
from anchor.core.achievement import build_achievement, parse_achievement_text  # noqa: E402
from anchor.core.proof import decode_receipt, encode_receipt, is_anchor_proof  # noqa: E402
from anchor.core.roster import parse_roster  # noqa: E402
from anchor.store import Store  # noqa: E402

# ----------------------------------------------------------------------------- the world


@dataclass
class Pool:
    """What the clients may ask about; the issuer thread adds to it while they run."""

    ids: list[str]  # anchored credential ids
    roots: list[str]
    valid: list[dict[str, Any]]  # exported badges (may get revoked)
    forged: list[dict[str, Any]]
    issuer: str
    revoked: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pick_id(self, rng: random.Random) -> str:
        with self.lock:
            return rng.choice(self.ids)

    def pick_root(self, rng: random.Random) -> str:
        with self.lock:
            return rng.choice(self.roots)


def anchor_entry(badge: dict[str, Any]) -> dict[str, Any]:
    """The badge's anchor receipt entry (a DataIntegrityProof, cryptosuite anchor-merkle-2026)."""
    return next(p for p in badge["proof"] if is_anchor_proof(p))


def receipt_of(badge: dict[str, Any]) -> dict[str, Any]:
    """A copy of the receipt the entry's proofValue encodes (merkleRoot, leafIndex, path, ...)."""
    return json.loads(json.dumps(decode_receipt(anchor_entry(badge)["proofValue"])))  # type: ignore[no-any-return]


def forgeries(badges: list[dict[str, Any]], rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Badges that must be judged invalid: an altered field, a flipped proof step, a moved leaf
    (the last two re-encoded into a well-formed receipt, so the verifier judges the Merkle path)."""
    out = []
    for i in range(count):
        b = json.loads(json.dumps(rng.choice(badges)))
        kind = i % 3
        receipt = receipt_of(b)
        if kind == 0:
            b["name"] = b.get("name", "") + " (with honours)"
        elif kind == 1 and receipt["path"]:
            step = receipt["path"][0]
            side = next(iter(step))
            step[side] = ("0" if step[side][0] != "0" else "1") + step[side][1:]
        else:
            receipt["leafIndex"] = (receipt["leafIndex"] + 1) % max(2, receipt["leafCount"])
        anchor_entry(b)["proofValue"] = encode_receipt(json.dumps(receipt, sort_keys=True, separators=(",", ":")).encode())
        out.append(b)
    return out


def build(n: int, tmp: Path) -> tuple[DevChain, Registry, Signer, str, Pool]:
    node = DevChain.start()
    chain = Chain(node.rpc_url)
    admin, issuer = dev_signer(0), dev_signer(1)
    registry, _ = Registry.deploy(chain, admin)
    db_url = f"sqlite:///{tmp / 'anchor.db'}"
    store = issue_and_anchor(registry, issuer, admin, db_url, n, max_batch=max(1, n // 4))
    row = store.issuer(issuer.address)
    assert row is not None
    export_credentials(store, row.id, issuer.address, tmp / "badges")
    store.close()
    badges = [json.loads(p.read_bytes()) for p in sorted((tmp / "badges").glob("*.json"))]
    rng = random.Random(11)
    pool = Pool(ids=[b["id"] for b in badges], roots=sorted({receipt_of(b)["merkleRoot"] for b in badges}),
                valid=badges, forged=forgeries(badges, rng, 200), issuer=issuer.address)
    return node, registry, issuer, db_url, pool


# ----------------------------------------------------------------------------- the issuer, in the background


@dataclass
class IssuerStats:
    issued: int = 0
    batches: int = 0
    revoked: int = 0
    rounds: int = 0
    errors: list[str] = field(default_factory=list)


def issuer_loop(stop: threading.Event, registry: Registry, issuer: Signer, db_url: str, pool: Pool, stats: IssuerStats,
                *, roster_size: int, pause: float) -> None:
    store = Store.open(db_url)
    row = store.issuer(issuer.address)
    assert row is not None
    achievement = build_achievement(parse_achievement_text((ROOT / "examples" / "achievement.yaml").read_text()))
    rng = random.Random(5)
    try:
        while not stop.is_set():
            k = stats.rounds
            try:
                roster = "name,email\n" + "".join(f"Soak {k}-{i},soak{k}.{i}@bench.example\n" for i in range(roster_size))
                stats.issued += issue_credentials(store, row, achievement, parse_roster(roster)).created
                report = Anchorer(store, registry, issuer, row).run(max_batch=roster_size)
                stats.batches += len(report.outcomes)
                fresh = [cid for o in report.outcomes for _, cid, _ in store.iter_documents(o.batch_id)]
                with pool.lock:
                    pool.ids.extend(fresh)
                    pool.roots.extend("0x" + o.root.hex() for o in report.outcomes)
                    candidates = [b["id"] for b in pool.valid if b["id"] not in pool.revoked]
                victims = rng.sample(candidates, min(2, len(candidates))) + fresh[:1]
                request_revocation(store, row.id, victims, 1, "soak")
                submit_revocations(store, registry, issuer, row.id)
                with pool.lock:
                    pool.revoked.update(victims)
                stats.revoked += len(victims)
            except Exception as e:
                stats.errors.append(f"{type(e).__name__}: {e}")
            stats.rounds += 1
            stop.wait(pause)
    finally:
        store.close()


# ----------------------------------------------------------------------------- the clients


@dataclass
class Outcome:
    route: str
    ms: float
    ok: bool
    why: str = ""


Check = Callable[[requests.Response], str]  # "" when the answer is the expected one, else why not


def expect(status: int, verdicts: set[str] | None = None, statuses: set[str] | None = None) -> Check:
    def check(r: requests.Response) -> str:
        if r.status_code != status:
            return f"status {r.status_code}"
        if verdicts is not None and r.json().get("verdict") not in verdicts:
            return f"verdict {r.json().get('verdict')}"
        if statuses is not None and r.json().get("status") not in statuses:
            return f"credential status {r.json().get('status')}"
        return ""

    return check


def requests_mix(pool: Pool, rng: random.Random) -> tuple[str, str, str, dict[str, Any] | None, Check]:
    """(route label, method, path, JSON body, check) for one request, by weight."""
    roll = rng.random()
    if roll < 0.25:
        return "GET proof", "GET", f"/api/v1/credentials/{pool.pick_id(rng)}/proof", None, expect(200)
    if roll < 0.45:
        return ("GET status", "GET", f"/api/v1/credentials/{pool.pick_id(rng)}/status", None,
                expect(200, statuses={"active", "revoked"}))
    if roll < 0.48:  # nobody's credential: 404 is the right answer
        unknown = uuid.UUID(int=rng.getrandbits(128), version=4)
        return "GET unknown proof", "GET", f"/api/v1/credentials/{unknown}/proof", None, expect(404)
    if roll < 0.68:
        badge = rng.choice(pool.valid)
        return "POST verify valid", "POST", "/api/v1/verify", badge, expect(200, verdicts={"valid", "revoked"})
    if roll < 0.80:
        return "POST verify forged", "POST", "/api/v1/verify", rng.choice(pool.forged), expect(200, verdicts={"invalid"})
    if roll < 0.86:
        return "GET issuers", "GET", "/api/v1/issuers", None, expect(200)
    if roll < 0.92:
        return "GET batch", "GET", f"/api/v1/batches/{pool.pick_root(rng)}", None, expect(200)
    if roll < 0.96:
        return "GET audit history", "GET", f"/api/v1/audit/history?limit=50&offset={rng.randrange(0, 20)}", None, expect(200)
    return "GET audit batch", "GET", f"/api/v1/audit/batches/{pool.pick_root(rng)}", None, expect(200)


def client_loop(url: str, pool: Pool, deadline: float, budget: list[int], budget_lock: threading.Lock, seed: int,
                out: list[Outcome]) -> None:
    rng = random.Random(seed)
    session = requests.Session()
    session.trust_env = False  # loopback only: no proxy
    while time.monotonic() < deadline:
        with budget_lock:
            if budget[0] <= 0:
                return
            budget[0] -= 1
        route, method, path, body, check = requests_mix(pool, rng)
        started = time.perf_counter()
        try:
            r = session.request(method, url + path, json=body, timeout=30)
            why = check(r)
        except requests.RequestException as e:
            why = f"{type(e).__name__}"
        out.append(Outcome(route, (time.perf_counter() - started) * 1000, not why, why))


# ----------------------------------------------------------------------------- memory


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def workers_of(master: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                kids.append(int(entry.name))
    return sorted(kids)


def memory(master: int) -> dict[int, int]:
    return {pid: rss_kib(pid) for pid in workers_of(master)}


# ----------------------------------------------------------------------------- main


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60, help="how long to send traffic")
    ap.add_argument("--max-requests", type=int, default=200_000, help="stop after this many requests")
    ap.add_argument("--n", type=int, default=500, help="credentials issued and anchored before the soak")
    ap.add_argument("--connections", type=int, default=4, help="client threads, one keep-alive connection each")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    ap.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker")
    ap.add_argument("--roster", type=int, default=20, help="credentials the background issuer issues per round")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between the background issuer's rounds")
    args = ap.parse_args(argv)

    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="anchor-soak-", dir=base) as tmp_s:
        tmp = Path(tmp_s)
        print(f"  issuing and anchoring {args.n:,} credentials (not timed) ...", flush=True)
        node, registry, issuer, db_url, pool = build(args.n, tmp)
        settings = Settings(home=tmp / "service", rpc_url=node.rpc_url, registry=registry.address, database_url=db_url)
        try:
            url = serving.start_detached(settings, registry.address, bind=f"127.0.0.1:{free_port()}", workers=args.workers,
                                         threads=args.threads)
            master = int(serving.pid_file(settings).read_text())
            for path in ("/readyz", f"/api/v1/credentials/{pool.ids[0]}/proof"):  # warm every worker a little
                for _ in range(4 * args.workers):
                    requests.get(url + path, timeout=30)
            before = memory(master)
            print(f"  soaking {url} for {args.seconds:g} s (at most {args.max_requests:,} requests), "
                  f"{args.connections} connections; the issuer writes in the background ...", flush=True)
            stop = threading.Event()
            stats = IssuerStats()
            writer = threading.Thread(target=issuer_loop, args=(stop, registry, issuer, db_url, pool, stats),
                                      kwargs={"roster_size": args.roster, "pause": args.pause}, daemon=True)
            outcomes: list[Outcome] = []
            budget, budget_lock = [args.max_requests], threading.Lock()
            started = time.monotonic()
            deadline = started + args.seconds
            clients = [threading.Thread(target=client_loop, args=(url, pool, deadline, budget, budget_lock, 100 + i, outcomes))
                       for i in range(args.connections)]
            writer.start()
            for t in clients:
                t.start()
            for t in clients:
                t.join()
            elapsed = time.monotonic() - started
            stop.set()
            writer.join(120)
            after = memory(master)
            ready = requests.get(url + "/readyz", timeout=30).status_code
        finally:
            serving.stop(settings)
            node.stop()

    by_route: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_route[o.route].append(o)
    errors = [o for o in outcomes if not o.ok]
    print()
    print(f"soak: {len(outcomes):,} requests in {elapsed:.1f} s ({len(outcomes) / elapsed:,.0f} req/s), {len(errors)} errors; "
          f"gunicorn {args.workers} workers x {args.threads} threads; {args.connections} client connections; "
          f"{os.cpu_count()} CPUs shared by server, clients, Anvil and the issuer")
    print(f"{'route':<22}{'requests':>10}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for route in sorted(by_route):
        rows = by_route[route]
        ms = [o.ms for o in rows]
        bad = sum(not o.ok for o in rows)
        print(f"{route:<22}{len(rows):>10,}{bad:>8}{percentile(ms, 50):>9.2f}{percentile(ms, 99):>9.2f}{max(ms):>9.1f}")
    if errors:
        reasons: dict[tuple[str, str], int] = defaultdict(int)
        for o in errors:
            reasons[(o.route, o.why)] += 1
        print("errors: " + "; ".join(f"{route}: {why} x{count}" for (route, why), count in sorted(reasons.items())))
    print(f"issuer in the background: {stats.rounds} rounds, {stats.issued} credentials issued, {stats.batches} batches anchored, "
          f"{stats.revoked} revoked" + (f"; {len(stats.errors)} errors: {stats.errors[:3]}" if stats.errors else ""))
    print("gunicorn worker RSS (MiB), before -> after: " + ", ".join(
        f"pid {pid}: {before.get(pid, 0) / 1024:.1f} -> {after.get(pid, 0) / 1024:.1f}" for pid in sorted(set(before) | set(after))))
    if before and after:
        print(f"  total {sum(before.values()) / 1024:.1f} -> {sum(after.values()) / 1024:.1f} MiB"
              f" (median worker {statistics.median(before.values()) / 1024:.1f} -> {statistics.median(after.values()) / 1024:.1f})")
    print(f"/readyz after the soak: {ready}")
    return 1 if errors or stats.errors or ready != 200 else 0


if __name__ == "__main__":
    sys.exit(main())
