"""Scale on PostgreSQL: issue and anchor N credentials in batches, then serve and audit them all.

    python bench/scale.py                                   # 10,000,000 in batches of 1,000,000
    python bench/scale.py --total 200000 --batch 100000     # a quick run
    python bench/scale.py --deadline-min 240                # stop gracefully after 4 hours

Printed, not asserted. On a dedicated PostgreSQL database (``--db``, default
``postgresql://postgres@127.0.0.1:5432/anchor_scale``, created if missing, emptied first unless
``--resume``) and a fresh Anvil:

1. a baseline of ``--baseline`` credentials (default 100,000, one batch) in a second database
   (``<db>_base``): issued, anchored, then the proof and status endpoints measured as below;
2. the main run: for each batch of ``--batch``, a roster of that many new holders is parsed,
   issued (signed, as ``anchor issue`` does) and anchored (one transaction; then the status lists
   published, as ``anchor anchor`` does): credentials/s per
   phase, the database's size (``pg_database_size``, and ``pg_total_relation_size`` of the big
   tables) and the peak PSS of this process and its forked children, Anvil left out (sampled
   every 50 ms), one row per batch: the curve;
3. one batch exported (``anchor export --batch``: files, signed), credentials/s;
4. ``anchor serve``'s shipped configuration (its own gunicorn command, sync 2 x 1) with all N
   present: ``GET /api/v1/credentials/<id>/proof`` and ``/status`` for 20,000 ids drawn from
   every batch, with wrk at ``--connections``: req/s, p50, p99, next to the baseline's;
5. the audit at that size, each part in a child process: ``anchor audit history``'s work and the
   issuer cross-check (every leaf recomputed, every root rebuilt), seconds and peak RSS.

Stopping: before each batch the run checks the deadline (``--deadline-min``, counted from the
start, keeping ``--reserve-min`` for steps 3-5) against the last batch's duration, and the free
disk space of PostgreSQL's data directory against the last batch's growth; Ctrl-C or SIGTERM
stops after the current step. In each case steps 3-5 still run on what exists, and the report
says where it stopped and why.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from _world import TreeMemory, badge_signer, publish_lists, register, roster_csv  # noqa: E402
from anchor.app.anchoring import Anchorer  # noqa: E402
from anchor.app.exporting import export_credentials  # noqa: E402
from anchor.app.issuing import issue_credentials  # noqa: E402
from anchor.chain.anvil import DevChain, free_port  # noqa: E402
from anchor.chain.node import Chain  # noqa: E402
from anchor.chain.signer import dev_signer  # noqa: E402
from anchor.chain.writer import Registry  # noqa: E402
from anchor.core.achievement import build_achievement, parse_achievement_text  # noqa: E402
from anchor.core.roster import parse_roster  # noqa: E402
from anchor.store import Store  # noqa: E402
from anchor.store.store import normalize_url  # noqa: E402

TABLES = ("credentials", "credential_documents", "tree_chunks", "holders", "batches")
TARGET_RATIO = 0.8  # throughput and latency at N within 20% of the baseline's


class Stop(Exception):
    """Why the main run stopped early (deadline, disk, signal)."""


@dataclass
class BatchRow:
    n_after: int
    parse_s: float
    issue_s: float
    anchor_s: float
    db_bytes: int
    tables: dict[str, int]
    peak_pss_mb: float

    @property
    def total_s(self) -> float:
        return self.parse_s + self.issue_s + self.anchor_s


@dataclass
class Endpoints:
    n: int
    figures: dict[str, dict[str, float]] = field(default_factory=dict)  # endpoint → rps, p50, p99, non2xx
    workers: list[tuple[int, float, float, float]] = field(default_factory=list)


def note(message: str) -> None:
    sys.stdout.flush()
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fresh_db(url: str, *, keep: bool) -> str:
    """Create the database ``url`` names if missing (emptied first unless ``keep``); its URL."""
    target = make_url(normalize_url(url))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        exists = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first()
        if exists and not keep:
            c.execute(text(f'DROP DATABASE "{target.database}" WITH (FORCE)'))
            exists = None
        if not exists:
            c.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    return target.render_as_string(hide_password=False)


def db_size(store: Store) -> tuple[int, dict[str, int]]:
    with store.engine.connect() as c:
        total = int(c.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
        tables = {t: int(c.execute(text("SELECT coalesce(pg_total_relation_size(to_regclass(:t)), 0)"), {"t": t}).scalar_one())
                  for t in TABLES}
    return total, tables


def pg_free_bytes(store: Store) -> int | None:
    """Free bytes on the file system of PostgreSQL's data directory (None if it is not readable here)."""
    try:
        with store.engine.connect() as c:
            data_dir = str(c.execute(text("SHOW data_directory")).scalar_one())
        return shutil.disk_usage(data_dir).free
    except Exception:
        return None


def sample_ids(store: Store, count: int) -> list[str]:
    """``count`` credential ids drawn from every confirmed batch, in runs of 20 at random places."""
    batches = store.batches()
    rng = random.Random(3)
    out: list[str] = []
    per_batch = max(1, count // max(1, len(batches)))
    for b in batches:
        got = 0
        while got < per_batch:
            first = rng.randrange(max(1, b.leaf_count - 20))
            page = [cid for _, cid, _ in store.iter_documents(b.id, first=first, stop=first + 20, page=20)]
            out.extend(page[: per_batch - got])
            got += len(page)
    rng.shuffle(out)
    return out


def measure_endpoints(n: int, node: DevChain, registry: str, db_url: str, tmp: Path, *, duration: int, connections: int,
                      rounds: int) -> Endpoints:
    """``anchor serve``'s shipped gunicorn serving ``db_url``; wrk on the proof and status endpoints."""
    import verifying

    wrk = verifying.ensure_wrk()
    store = Store.open(db_url, create=False)
    ids = sample_ids(store, 20_000)
    store.close()
    (tmp / f"proof-{n}.txt").write_text("".join(f"/api/v1/credentials/{i}/proof\n" for i in ids))
    (tmp / f"status-{n}.txt").write_text("".join(f"/api/v1/credentials/{i}/status\n" for i in ids))
    for kind in ("proof", "status"):
        (tmp / f"{kind}-{n}.lua").write_text(verifying.LUA_PATHS % (tmp / f"{kind}-{n}.txt"))
    env = {**os.environ, "ANCHOR_RPC_URL": node.rpc_url, "ANCHOR_REGISTRY": registry, "ANCHOR_DATABASE_URL": db_url,
           "ANCHOR_HOME": str(tmp)}
    port = free_port()
    service = verifying.start_gunicorn("anchor.api:create_app()", port, env, 2, 1, tmp)
    result = Endpoints(n)
    try:
        url = f"http://127.0.0.1:{port}"
        for kind in ("proof", "status"):
            verifying.run_wrk(wrk, url, tmp / f"{kind}-{n}.lua", 2, connections)  # warm-up
        runs: dict[str, list[dict[str, float]]] = {"proof": [], "status": []}
        for _ in range(rounds):
            for kind in ("proof", "status"):
                runs[kind].append(verifying.run_wrk(wrk, url, tmp / f"{kind}-{n}.lua", duration, connections))
        for kind, rs in runs.items():
            result.figures[kind] = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50", "p99")}
            result.figures[kind]["non2xx"] = sum(r["non2xx"] for r in rs)
        result.workers = verifying.worker_memory(service.pid)
    finally:
        verifying.stop(service)
    return result


def run_audit(node: DevChain, registry: str, db_url: str, issuer: str) -> dict[str, dict[str, Any]]:
    out = {}
    for kind in ("history", "issuer"):
        proc = subprocess.run([sys.executable, str(ROOT / "bench" / "auditing.py"), "--measure", kind, node.rpc_url, registry,
                               db_url, issuer], capture_output=True, text=True)
        if proc.returncode != 0:
            out[kind] = {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
        else:
            out[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def issue_batch(store: Store, registry: Registry, issuer: Any, achievement: dict[str, Any], first: int, size: int,
                memory: TreeMemory) -> tuple[float, float, float]:
    """Parse a roster of ``size`` new holders (numbered from ``first``), issue them signed, anchor
    them as one batch; the seconds of each phase."""
    row = store.issuer(issuer.address)
    assert row is not None
    roster_text = roster_csv(size, start=first)
    t0 = time.perf_counter()
    roster = parse_roster(roster_text)
    t1 = time.perf_counter()
    report = issue_credentials(store, row, achievement, roster, sign=badge_signer(store, issuer))
    t2 = time.perf_counter()
    assert report.created == size, f"issued {report.created} of {size}"
    anchored = Anchorer(store, registry, issuer, row, confirmations=1).run(max_batch=size)
    assert anchored.credentials == size and not anchored.failures, f"anchored {anchored.credentials} of {size}"
    publish_lists(store, registry, issuer)  # as `anchor anchor` does next: the lists the new credentials name
    t3 = time.perf_counter()
    memory.sample()
    return t1 - t0, t2 - t1, t3 - t2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--total", type=int, default=10_000_000, help="credentials in the main run")
    ap.add_argument("--batch", type=int, default=1_000_000, help="credentials per batch (one anchoring transaction)")
    ap.add_argument("--baseline", type=int, default=100_000, help="credentials of the baseline (0: none)")
    ap.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/anchor_scale", help="PostgreSQL database (dedicated)")
    ap.add_argument("--deadline-min", type=float, default=0, help="stop gracefully after this many minutes (0: none)")
    ap.add_argument("--reserve-min", type=float, default=20, help="minutes kept before the deadline for export, serving, audit")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="wrk runs per endpoint (medians)")
    ap.add_argument("--connections", type=int, default=4, help="wrk connections")
    ap.add_argument("--tmpdir", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                    help="where the exported batch (~3.6 GB for 1,000,000) and wrk scripts go (default /dev/shm: off the "
                         "disk PostgreSQL fills)")
    args = ap.parse_args()
    if not args.db.startswith(("postgresql://", "postgres://")):
        sys.exit("--db must be a PostgreSQL URL: this bench measures the production path")
    started = time.monotonic()
    deadline = started + args.deadline_min * 60 if args.deadline_min else None
    interrupted: list[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        interrupted.append(signal.Signals(signum).name)
        note(f"{signal.Signals(signum).name}: stopping after the current step")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    ach_file = ROOT / "examples" / "achievement.yaml"
    achievement = build_achievement(parse_achievement_text(ach_file.read_text(), source=str(ach_file)))
    admin, issuer = dev_signer(0), dev_signer(1)
    curve: list[BatchRow] = []
    stopped: str | None = None
    base_endpoints: Endpoints | None = None
    with tempfile.TemporaryDirectory(prefix="anchor-scale-", dir=args.tmpdir) as tmp_s, DevChain.start() as node:
        tmp = Path(tmp_s)
        chain = Chain(node.rpc_url)
        registry, _ = Registry.deploy(chain, admin)
        note(f"Anvil at {node.rpc_url}, registry {registry.address}")

        if args.baseline:
            base_url = fresh_db(args.db.rstrip("/") + "_base", keep=False)
            store = Store.open(base_url)
            base_issuer = dev_signer(3)  # another issuer: the main run's audit sees only its own batches
            register(store, registry, base_issuer, admin)
            note(f"baseline: issuing and anchoring {args.baseline:,} credentials ...")
            issue_batch(store, registry, base_issuer, achievement, 0, args.baseline, TreeMemory())
            store.close()
            note("baseline: serving ...")
            base_endpoints = measure_endpoints(args.baseline, node, registry.address, base_url, tmp, duration=args.duration,
                                               connections=args.connections, rounds=args.rounds)

        db_url = fresh_db(args.db, keep=False)
        store = Store.open(db_url)
        register(store, registry, issuer, admin)
        memory = TreeMemory().__enter__()
        batches = -(-args.total // args.batch)
        issued = 0
        try:
            for k in range(batches):
                size = min(args.batch, args.total - issued)
                if interrupted:
                    raise Stop(f"{interrupted[0]} received")
                if curve and deadline is not None:
                    need = curve[-1].total_s * size / args.batch + args.reserve_min * 60
                    if time.monotonic() + need > deadline:
                        raise Stop(f"deadline: the next batch (~{curve[-1].total_s:.0f} s) and the final steps "
                                   f"({args.reserve_min:.0f} min) would end after --deadline-min {args.deadline_min:g}")
                free = pg_free_bytes(store)
                if curve and free is not None:
                    growth = curve[-1].db_bytes - (curve[-2].db_bytes if len(curve) > 1 else 0)
                    if free < 1.5 * growth * size / args.batch:
                        raise Stop(f"disk: {free / 2**30:.1f} GiB free in PostgreSQL's data directory, the last batch "
                                   f"took {growth / 2**30:.1f} GiB")
                note(f"batch {k + 1}/{batches}: {size:,} credentials (from {issued:,}) ...")
                parse_s, issue_s, anchor_s = issue_batch(store, registry, issuer, achievement, issued, size, memory)
                issued += size
                total_bytes, tables = db_size(store)
                curve.append(BatchRow(issued, parse_s, issue_s, anchor_s, total_bytes, tables, memory.peak_mb))
                note(f"  {size / (parse_s + issue_s + anchor_s):,.0f}/s; database {total_bytes / 2**30:.2f} GiB; "
                     f"peak PSS {memory.peak_mb:,.0f} MB")
        except Stop as e:
            stopped = str(e)
        except Exception as e:  # out of memory, database full, chain gone: report the curve so far
            stopped = f"error: {type(e).__name__}: {e}"
        memory.__exit__()
        if stopped:
            note(f"stopped after {issued:,} credentials: {stopped}")

        export_row: tuple[int, float] | None = None
        endpoints: Endpoints | None = None
        audit: dict[str, dict[str, Any]] = {}
        if curve:
            try:
                row = store.issuer(issuer.address)
                assert row is not None
                first_batch = store.batches(row.id)[0]
                note(f"exporting one batch ({first_batch.leaf_count:,}) ...")
                t0 = time.perf_counter()
                report = export_credentials(store, row.id, issuer.address, tmp / "export", sign=badge_signer(store, issuer),
                                            batch_root=first_batch.root)
                export_row = (report.files, time.perf_counter() - t0)
                shutil.rmtree(tmp / "export", ignore_errors=True)
            except Exception as e:
                note(f"export failed: {type(e).__name__}: {e}")
            store.close()
            note(f"serving all {issued:,} ...")
            endpoints = measure_endpoints(issued, node, registry.address, db_url, tmp, duration=args.duration,
                                          connections=args.connections, rounds=args.rounds)
            note("auditing ...")
            audit = run_audit(node, registry.address, db_url, issuer.address)
        else:
            store.close()

    elapsed = (time.monotonic() - started) / 60
    print()
    print(f"scale on PostgreSQL ({make_url(normalize_url(args.db)).database}): {issued:,} of {args.total:,} credentials in batches "
          f"of {args.batch:,}; {elapsed:.0f} min in all; {os.cpu_count()} CPUs")
    print(f"stopped early: {stopped}" if stopped else "completed")
    print(f"{'after batch':>12}{'parse/s':>10}{'issue/s':>10}{'anchor/s':>10}{'total/s':>10}{'DB GiB':>9}"
          + "".join(f"{t[:12]:>14}" for t in TABLES) + f"{'peak PSS MB':>13}")
    prev = 0
    for r in curve:
        size = r.n_after - prev
        prev = r.n_after
        print(f"{r.n_after:>12,}{size / r.parse_s:>10,.0f}{size / r.issue_s:>10,.0f}{size / r.anchor_s:>10,.0f}"
              f"{size / r.total_s:>10,.0f}{r.db_bytes / 2**30:>9.2f}" + "".join(f"{r.tables[t] / 2**30:>12.2f}Gi" for t in TABLES)
              + f"{r.peak_pss_mb:>13,.0f}")
    if curve:
        per_cred = curve[-1].db_bytes / curve[-1].n_after
        print(f"database: {per_cred:,.0f} bytes per credential; peak PSS of this process and its forks: "
              f"{max(r.peak_pss_mb for r in curve):,.0f} MB")
    if export_row:
        print(f"export of one batch: {export_row[0]:,} files in {export_row[1]:.1f} s ({export_row[0] / export_row[1]:,.0f}/s, signed)")
    if endpoints:
        print(f"endpoints: anchor serve's gunicorn (sync, 2 workers x 1 thread), wrk {args.connections} connections, "
              f"{args.rounds} x {args.duration} s, 20,000 ids from every batch; medians")
        print(f"{'endpoint':<26}{'N':>12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}   vs baseline")
        for kind in ("proof", "status"):
            for e in (base_endpoints, endpoints):
                if e is None:
                    continue
                f = e.figures[kind]
                vs = ""
                if e is endpoints and base_endpoints is not None:
                    b = base_endpoints.figures[kind]
                    ok = f["rps"] >= TARGET_RATIO * b["rps"] and f["p99"] <= b["p99"] / TARGET_RATIO
                    vs = (f"req/s x{f['rps'] / b['rps']:.2f}, p99 x{f['p99'] / b['p99']:.2f} → "
                          f"{'within 20%' if ok else 'NOT within 20%'}")
                bad = f"  ({int(f['non2xx'])} non-2xx!)" if f["non2xx"] else ""
                print(f"{'GET …/' + kind:<26}{e.n:>12,}{f['rps']:>9,.0f}{f['p50']:>9.2f}{f['p99']:>9.2f}   {vs}{bad}")
        print("workers at N: " + "; ".join(f"RSS {rss:,.0f} MB (peak {hwm:,.0f}), PSS {pss:,.0f} MB" for _, rss, hwm, pss in endpoints.workers))
    for kind, label in (("history", "audit history (events + views)"), ("issuer", "audit issuer cross-check")):
        r = audit.get(kind)
        if r is None:
            continue
        if "error" in r:
            print(f"{label}: FAILED: {r['error']}")
            continue
        extra = f", {r['credentials']:,} credentials, {r['batches']} batches" if kind == "issuer" else f", {r['events']:,} events"
        codes = f" ({', '.join(r['codes'])})" if r.get("codes") else ""
        print(f"{label}: {r['seconds']:.1f} s, {r['findings']} findings{codes}{extra}, {r['log_pages']} getLogs pages, "
              f"{r['rpc_calls']:,} RPC calls, peak RSS {r['peak_rss_mb']:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
