"""The verification service's memory and proof latency with a large batch, in process (no HTTP,
no chain): what one gunicorn worker holds and how long its proofs take, and what its caches cost
the garbage collector.

    python bench/service_memory.py [--n 1000000] [--requests 20000] [--prepared 20000]
    python bench/service_memory.py --source /tmp/before/src     # an older checkout's service, same database

A SQLite database with one confirmed batch of N synthetic credentials is built once (kept under
--dir, reused by later runs, so two sources are measured on the same data); then a fresh Python
process (the service code from --source, or this checkout) opens a ``Service`` on it, as a worker
does, and measures:

1. proofs: ``Service.proof_json`` for ``--requests`` random ids spread over the batch, first
   cold (each rendered once), then warm (the same ids again), p50/p99 per call, and the process's
   RSS after;
2. prepared documents: ``Service.prepared`` for ``--prepared`` distinct badges (real documents
   with valid anchor proofs, unsigned), the GC-tracked object count, and the time of a full
   ``gc.collect()`` with that cache held, without and with ``gc.freeze()`` of the import-time heap
   (what the gunicorn config does after loading the app).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = "0x" + "22" * 20
ISSUER = "0x" + "11" * 20


def rss_mb() -> str:
    """This process's resident set: all of it, and its anonymous part (the heap; the rest is
    files mapped, e.g. shared libraries)."""
    kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
          if k in ("VmRSS", "RssAnon")}
    return f"{kb['VmRSS'] / 1024:.0f} MB (anon {kb['RssAnon'] / 1024:.0f})"


def build_db(path: Path, n: int) -> None:
    from anchor.core.records import NewCredential
    from anchor.store import Store

    store = Store.open(f"sqlite:///{path}")
    issuer = store.upsert_issuer(ISSUER, "https://bench.example/issuer", {"id": "https://bench.example/issuer", "name": "B"})
    ach = store.achievement_for(issuer.id, {"id": "https://bench.example/a/1", "type": ["Achievement"], "name": "A"})
    rnd = random.Random(n)

    def chunks() -> object:
        for start in range(0, n, 50_000):
            yield [NewCredential(f"urn:uuid:{uuid.UUID(int=rnd.getrandbits(128), version=4)}", f"ref{i}", b'{"i":%d}' % i,
                                 hashlib.sha256(b"leaf %d" % i).digest(), 0, None) for i in range(start, min(n, start + 50_000))]

    store.insert_credentials(issuer.id, ach.id, chunks(), created_at=0)  # type: ignore[arg-type]
    batch = store.create_batch(issuer.id, n)
    assert batch is not None
    store.confirm_batch(batch.id, chain_id=31337, registry=REGISTRY, tx_hash=b"\x01" * 32, block_number=5, block_time=100)
    with (path.parent / f"ids-{n}.txt").open("w") as out:
        out.writelines(cid + "\n" for _, cid, _ in store.iter_documents(batch.id))
    store.close()


def badges(count: int) -> list[bytes]:
    """``count`` real credential documents with valid anchor proofs (one tree over them; unsigned)."""
    from datetime import UTC, datetime

    from anchor.app.exporting import credential_with_proof
    from anchor.core import merkle
    from anchor.core.credential import CredentialFactory, IssuerProfile
    from anchor.core.proof import ReceiptRenderer

    profile = IssuerProfile(id="https://bench.example/issuer", name="Bench")
    achievement = {"id": "https://bench.example/a/1", "type": ["Achievement"], "name": "A", "description": "D",
                   "criteria": {"narrative": "C"}, "achievementType": "MicroCredential"}
    factory = CredentialFactory(profile, achievement)
    issued = [factory.build(name=f"Learner {i}", email=f"l{i}@bench.example", valid_from=datetime(2026, 1, 1, tzinfo=UTC))
              for i in range(count)]
    levels = merkle.build_levels(b"".join(c.leaf for c in issued))
    receipts = ReceiptRenderer(chain_id=31337, registry=REGISTRY, issuer_address=ISSUER, root=levels[-1], leaf_count=count,
                               tx_hash=b"\x01" * 32, block_number=5, block_time=100)
    return [credential_with_proof(c.canonical, receipts.render(i, merkle.path_json(levels, i, count)))
            for i, c in enumerate(issued)]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def measure(db: Path, n: int, requests: int, prepared: int) -> dict[str, object]:
    """Runs in the child process: the service as a worker holds it."""
    from anchor.api.service import Service, ServiceConfig

    picks = (db.parent / f"picks-{n}-{requests}.txt").read_text().split()  # chosen by the parent: 1M ids are 100 MB
    gc.collect()
    out: dict[str, object] = {"rss_start": rss_mb()}
    service = Service(ServiceConfig(rpc_url="http://127.0.0.1:9", registry=REGISTRY, database_url=f"sqlite:///{db}"))
    service.proof_json(picks[0])  # the store opened, the first batch read
    for label in ("cold", "warm"):
        times = []
        for cid in picks:
            t0 = time.perf_counter()
            service.proof_json(cid)
            times.append((time.perf_counter() - t0) * 1000)
        out[label] = (statistics.median(times), pct(times, 99), sum(times) / len(times))
    out["rss_proofs"] = rss_mb()
    gc.collect()
    before = len(gc.get_objects())
    with (db.parent / f"badges-{prepared}.jsonl").open("rb") as lines:  # written by the parent: streamed, not held
        for body in lines:
            service.prepared(body.rstrip(b"\n"), json.loads)
    gc.collect()
    out["tracked_by_cache"] = len(gc.get_objects()) - before

    def full_gc_ms() -> float:
        """CPU time of a full collection (wall time on this shared machine varies tenfold)."""
        runs = []
        for _ in range(5):
            t0 = time.process_time()
            gc.collect()
            runs.append((time.process_time() - t0) * 1000)
        return statistics.median(runs)

    out["gc_ms"] = full_gc_ms()
    gc.freeze()
    out["gc_frozen_ms"] = full_gc_ms()
    out["tracked_total"] = len(gc.get_objects()) + gc.get_freeze_count()
    out["rss_end"] = rss_mb()
    stats = getattr(service, "cache_stats", None)
    out["cache_stats"] = stats() if stats else None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="credentials in the one batch")
    ap.add_argument("--requests", type=int, default=20_000, help="proof requests (random ids over the batch)")
    ap.add_argument("--prepared", type=int, default=20_000, help="distinct badges prepared")
    ap.add_argument("--dir", type=Path, default=Path("/dev/shm/anchor-svcmem" if Path("/dev/shm").is_dir() else "/tmp/anchor-svcmem"))
    ap.add_argument("--source", type=Path, help="the service from this source directory (e.g. an older checkout's src/)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    db = args.dir / f"service-{args.n}.db"
    if args.child:
        print(json.dumps(measure(db, args.n, args.requests, args.prepared)))
        return 0
    args.dir.mkdir(parents=True, exist_ok=True)
    if not db.exists():
        print(f"  building a batch of {args.n:,} synthetic credentials in {db} (once) ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        build_db(db, args.n)
        print(f"  built in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    picks = db.parent / f"picks-{args.n}-{args.requests}.txt"
    if not picks.exists():
        ids = (db.parent / f"ids-{args.n}.txt").read_text().split()
        rnd = random.Random(11)
        picks.write_text("\n".join(ids[rnd.randrange(args.n)] for _ in range(args.requests)))
    bodies = args.dir / f"badges-{args.prepared}.jsonl"
    if not bodies.exists():
        bodies.write_bytes(b"\n".join(badges(args.prepared)) + b"\n")
    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = str(args.source.resolve())
    cmd = [sys.executable, __file__, "--child", "--n", str(args.n), "--requests", str(args.requests),
           "--prepared", str(args.prepared), "--dir", str(args.dir)]
    result = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)
    source = args.source or ROOT / "src"
    print(f"service in process, from {source}: one batch of {args.n:,} credentials (SQLite), {args.requests:,} proof requests "
          f"over it, {args.prepared:,} distinct badges prepared")
    for label in ("cold", "warm"):
        p50, p99, mean = result[label]
        print(f"  proof_json {label:<5} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   mean {mean:7.3f} ms")
    print(f"  RSS: {result['rss_start']} after imports; {result['rss_proofs']} after the proofs; "
          f"{result['rss_end']} with the prepared documents too")
    print(f"  prepared cache: {result['tracked_by_cache']:,} GC-tracked objects held; full gc.collect() "
          f"{result['gc_ms']:.1f} ms CPU ({result['tracked_total']:,} tracked in all), {result['gc_frozen_ms']:.1f} ms after gc.freeze()")
    if result["cache_stats"]:
        for name, st in result["cache_stats"].items():
            print(f"  cache {name:<9} {st['entries']:>7,} entries {st['bytes'] / 2**20:7.1f} MiB of {st['budget'] / 2**20:.0f}  "
                  f"hits {st['hits']:,} misses {st['misses']:,} evictions {st['evictions']:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
