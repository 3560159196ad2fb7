"""Verification speed: the public service under gunicorn, and the offline verifier.

    python bench/verifying.py [--n 100000] [--duration 6] [--connections 1,4] [--workers 2 --threads 1]
    python bench/verifying.py --source /tmp/before/src     # the service from another checkout (before/after)

One run on this machine: N credentials are issued and anchored into a fresh SQLite database on a
fresh Anvil (not timed), then the service runs under gunicorn exactly as ``anchor serve`` starts
it (the command from ``anchor.cli.serving``: sync workers, 2 x 1 by default, no keep-alive) and
wrk drives, at each fixed concurrency, (1) a bare Flask endpoint returning a constant under the
same gunicorn command, (2) ``GET /api/v1/credentials/<id>/proof`` for random ids among 20,000
spread over the batch (warm: every proof rendered once), (3) the same for random ids among up to
200,000 (cold: mostly rendered on demand from the tree parts), (4) ``POST /api/v1/verify`` with
real (signed) badges: 2,000 verified again and again (the service caches the chain-independent
part per distinct document), and 20,000 distinct ones (cold: almost no repeats within a run). It
prints requests/s, p50 and p99 latency, the ratio to the bare endpoint, each worker's resident
and proportional set size after the runs, and the offline verifier's time per credential once
connected. wrk comes from Debian (installed with apt-get if missing and allowed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _world import badge_signer, issue_and_anchor  # noqa: E402
from anchor.app.exporting import credential_with_proof, receipts_for  # noqa: E402
from anchor.app.verifying import Verdict, Verifier, VerifyOptions  # noqa: E402
from anchor.chain.anvil import DevChain, free_port  # noqa: E402
from anchor.chain.node import Chain  # noqa: E402
from anchor.chain.reader import RegistryReader  # noqa: E402
from anchor.chain.signer import dev_signer  # noqa: E402
from anchor.chain.writer import Registry  # noqa: E402
from anchor.cli.serving import _command as serve_command  # noqa: E402  # what `anchor serve` runs
from anchor.core import merkle  # noqa: E402

REF_CERT_VERIFIER_MS = 29.0  # Blockcerts cert-verifier-js, median per certificate
TARGETS = {"proof_rps": 2500, "proof_ratio": 0.5, "verify_rps": 800, "p99_ms": 25.0, "offline_ms": 3.0}


class RpcCounter:
    """A loopback JSON-RPC proxy in front of Anvil that counts what the service asks the chain."""

    def __init__(self, target: str) -> None:
        import threading
        import urllib.request
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        counter = self
        self.calls = 0
        self.requests = 0
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parsed = json.loads(body)
                with counter.lock:
                    counter.requests += 1
                    counter.calls += len(parsed) if isinstance(parsed, list) else 1
                req = urllib.request.Request(target, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as resp:
                    answer = resp.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return self.requests, self.calls


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("  wrk not found: installing Debian's wrk with apt-get ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        sys.exit("this bench needs wrk (Debian package 'wrk'): apt-get install wrk")
    return found


def build_world(n: int, tmp: Path) -> tuple[DevChain, Registry, str, list[str], list[bytes]]:
    """N anchored credentials; returns chain, registry, db url, sample ids and sample badge bodies
    (signed, eddsa-rdfc-2022, as ``anchor export`` signs them)."""
    node = DevChain.start()
    chain = Chain(node.rpc_url)
    admin, issuer = dev_signer(0), dev_signer(1)
    registry, _ = Registry.deploy(chain, admin)
    db_url = f"sqlite:///{tmp / 'anchor.db'}"
    store = issue_and_anchor(registry, issuer, admin, db_url, n)
    sign = badge_signer(store, issuer)
    (batch,) = store.batches()
    levels = store.levels(batch.id)
    receipts = receipts_for(batch, issuer.address)
    rng = random.Random(7)
    id_picks = set(rng.sample(range(n), min(n, 20_000)))  # proof requests spread over the whole batch
    cold_picks = set(rng.sample(range(n), min(n, 200_000)))
    ids, bodies, cold_ids = [], [], []
    for index, credential_id, document in store.iter_documents(batch.id):
        if index in cold_picks:
            cold_ids.append(credential_id)
        if index in id_picks:
            ids.append(credential_id)
            path = ",".join(f'{{"{"right" if pos & 1 else "left"}":"{node_.hex()}"}}'
                            for (_, pos), node_ in zip(merkle.path_positions(index, n), merkle.prove(levels, index), strict=True))
            bodies.append(credential_with_proof(document, receipts.render(index, path), sign(document)))
    store.close()
    return node, registry, db_url, ids, bodies, cold_ids


def start_gunicorn(app: str, port: int, env: dict[str, str], workers: int, threads: int, cwd: Path) -> subprocess.Popen[bytes]:
    """gunicorn as ``anchor serve`` starts it (its command, its config module), serving ``app``."""
    cmd = serve_command(f"127.0.0.1:{port}", workers, threads)
    assert cmd[-1] == "anchor.api:create_app()", cmd
    cmd = [*cmd[:-1], "--log-level", "warning", app]
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz" if "create_app" in app else f"http://127.0.0.1:{port}/bare", timeout=1)
            return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"gunicorn ({app}) did not come up")


def worker_memory(master: int) -> list[tuple[int, float, float, float]]:
    """(pid, RSS MB, peak RSS MB, PSS MB) of each gunicorn worker (the master's children)."""
    out = []
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    for pid in map(int, children):
        status = Path(f"/proc/{pid}/status").read_text()
        kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in status.splitlines()) if k in ("VmRSS", "VmHWM")}
        pss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                   if line.startswith("Pss:"))
        out.append((pid, kb["VmRSS"] / 1024, kb["VmHWM"] / 1024, pss / 1024))
    return out


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


LUA_PATHS = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""

LUA_BODIES = """
local bodies = {}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  return wrk.format(nil, "/api/v1/verify", nil, bodies[math.random(#bodies)])
end
response = function(status, headers, body)
  if status ~= 200 then error("status " .. status) end
end
"""


def run_wrk(wrk: str, url: str, script: Path | None, duration: int, connections: int) -> dict[str, float]:
    cmd = [wrk, "-t", "1", "-c", str(connections), "-d", f"{duration}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct("50"), "p99": pct("99"), "non2xx": float(errors.group(1)) if errors else 0.0}


def offline_ms(rpc_url: str, registry: str, bodies: list[bytes], count: int) -> tuple[float, int]:
    view = RegistryReader.connect(rpc_url, registry, head_ttl=0)  # no cache: every credential reads the chain
    verifier = Verifier(lambda _a: view, VerifyOptions(registry=registry))
    docs = [json.loads(b) for b in bodies[:count]]
    assert verifier.verify(docs[0]).verdict is Verdict.VALID  # connected, compiled, warm
    start = time.perf_counter()
    valid = sum(verifier.verify(d).verdict is Verdict.VALID for d in docs)
    return (time.perf_counter() - start) / len(docs) * 1000, valid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="credentials in the database")
    ap.add_argument("--duration", type=int, default=6, help="seconds per wrk run")
    ap.add_argument("--connections", default="1,4", help="concurrent connections (fixed), comma-separated: one table each")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved measurement rounds")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (anchor serve's default)")
    ap.add_argument("--threads", type=int, default=1, help="threads per worker (anchor serve's default: 1, sync workers)")
    ap.add_argument("--source", type=Path, help="run the service from this source directory (e.g. an older checkout's src/)")
    ap.add_argument("--compare", type=Path, help="also run a second service from this source directory (e.g. an older "
                    "checkout's src/), measured in the same interleaved rounds: before/after on the same data and load")
    args = ap.parse_args()
    levels_c = [int(c) for c in args.connections.split(",")]
    wrk = ensure_wrk()
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="anchor-vbench-", dir=base) as tmp_s:
        tmp = Path(tmp_s)
        print(f"  issuing and anchoring {args.n:,} credentials (not timed) ...", flush=True)
        node, registry, db_url, ids, bodies, cold_ids = build_world(args.n, tmp)
        try:
            (tmp / "paths.txt").write_text("".join(f"/api/v1/credentials/{i}/proof\n" for i in ids))
            (tmp / "cold_paths.txt").write_text("".join(f"/api/v1/credentials/{i}/proof\n" for i in cold_ids))
            (tmp / "bodies.txt").write_bytes(b"\n".join(bodies[:2000]) + b"\n")
            (tmp / "cold.txt").write_bytes(b"\n".join(bodies) + b"\n")
            (tmp / "paths.lua").write_text(LUA_PATHS % (tmp / "paths.txt"))
            (tmp / "cold_paths.lua").write_text(LUA_PATHS % (tmp / "cold_paths.txt"))
            (tmp / "bodies.lua").write_text(LUA_BODIES % (tmp / "bodies.txt"))
            (tmp / "cold.lua").write_text(LUA_BODIES % (tmp / "cold.txt"))
            proxy = RpcCounter(node.rpc_url)  # the service reaches the chain through it: its RPC calls are counted
            rpc_use: list[tuple[float, int, int]] = []  # (verify requests, RPC calls, blocks mined) per round
            env = {**os.environ, "ANCHOR_RPC_URL": proxy.url, "ANCHOR_REGISTRY": registry.address,
                   "ANCHOR_DATABASE_URL": db_url, "ANCHOR_HOME": str(tmp)}
            if args.source:
                env["PYTHONPATH"] = str(args.source.resolve())
            rounds: dict[int, list[dict[str, dict[str, float]]]] = {c: [] for c in levels_c}
            bare_port, service_port = free_port(), free_port()
            bare = start_gunicorn("bare_app:app", bare_port, {**env, "PYTHONPATH": str(ROOT / "bench")}, args.workers,
                                  args.threads, ROOT / "bench")
            service = start_gunicorn("anchor.api:create_app()", service_port, env, args.workers, args.threads, tmp)
            other, other_url = None, ""
            if args.compare:
                other_port = free_port()
                other = start_gunicorn("anchor.api:create_app()", other_port, {**env, "PYTHONPATH": str(args.compare.resolve())},
                                       args.workers, args.threads, tmp)
                other_url = f"http://127.0.0.1:{other_port}"
                for script in ("paths.lua", "bodies.lua", "cold.lua"):
                    run_wrk(wrk, other_url, tmp / script, 2, max(levels_c))
            try:
                bare_url, url = f"http://127.0.0.1:{bare_port}/bare", f"http://127.0.0.1:{service_port}"
                run_wrk(wrk, bare_url, None, 2, max(levels_c))  # warm-up: imports, caches, schema compile
                run_wrk(wrk, url, tmp / "paths.lua", 2, max(levels_c))
                run_wrk(wrk, url, tmp / "bodies.lua", 2, max(levels_c))
                run_wrk(wrk, url, tmp / "cold.lua", 2, max(levels_c))
                # Interleaved rounds: this machine's two CPUs are shared, so the endpoints are
                # measured side by side, several times, and the medians are reported.
                for r in range(args.rounds):
                    for c in levels_c:
                        print(f"  round {r + 1}/{args.rounds}, {c} connection(s) ...", flush=True)
                        bare_r = run_wrk(wrk, bare_url, None, args.duration, c)
                        proof_r = run_wrk(wrk, url, tmp / "paths.lua", args.duration, c)
                        cold_proof_r = run_wrk(wrk, url, tmp / "cold_paths.lua", args.duration, c)
                        _, calls0 = proxy.snapshot()
                        head0 = Chain(node.rpc_url).block_number()
                        verify_r = run_wrk(wrk, url, tmp / "bodies.lua", args.duration, c)
                        _, calls1 = proxy.snapshot()
                        rpc_use.append((verify_r["rps"] * args.duration, calls1 - calls0, Chain(node.rpc_url).block_number() - head0))
                        rounds[c].append({"bare": bare_r, "proof": proof_r, "cold_proof": cold_proof_r, "verify": verify_r,
                                          "cold": run_wrk(wrk, url, tmp / "cold.lua", args.duration, c)})
                        if other is not None:
                            for key, script in (("proof", "paths.lua"), ("cold_proof", "cold_paths.lua"), ("verify", "bodies.lua"),
                                                ("cold", "cold.lua")):
                                rounds[c][-1]["other_" + key] = run_wrk(wrk, other_url, tmp / script, args.duration, c)
                memory = worker_memory(service.pid)
                other_memory = worker_memory(other.pid) if other is not None else []
            finally:
                stop(bare)
                stop(service)
                if other is not None:
                    stop(other)
            n_bodies = len(bodies)
            per_credential, valid = offline_ms(node.rpc_url, registry.address, bodies, 1000)
        finally:
            node.stop()

    print()
    kind = "gthread" if args.threads > 1 else "sync"
    print(f"verification service: {args.n:,} credentials in SQLite (one batch); gunicorn {args.workers} workers x {args.threads} "
          f"thread(s) ({kind}), started with anchor serve's command{' from ' + str(args.source) if args.source else ''}; "
          f"wrk, {args.rounds} interleaved rounds of {args.duration} s; {os.cpu_count()} CPUs shared by server, load "
          "generator and other tenants; medians")
    verdicts: dict[str, bool] = {}
    for c in levels_c:
        rs = rounds[c]

        def med(key: str, field: str, rs: list[dict[str, dict[str, float]]] = rs) -> float:
            return statistics.median(r[key][field] for r in rs)

        def ratio(key: str, rs: list[dict[str, dict[str, float]]] = rs) -> float:
            return statistics.median(r[key]["rps"] / r["bare"]["rps"] for r in rs)

        print(f"-- {c} connection(s)" + (f"; (cmp): the service from {args.compare}, same rounds" if args.compare else ""))
        print(f"{'endpoint':<38}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'× bare':>8}  per-round req/s        target")
        rows = [
            ("bare Flask constant (baseline)", "bare", ""),
            (f"GET  /credentials/<id>/proof ({len(ids):,})", "proof",
             f"≥ {TARGETS['proof_rps']:,} req/s and ≥ {TARGETS['proof_ratio']}× bare; p99 ≤ 25 ms"),
            (f"GET  …/proof ({len(cold_ids):,}, cold)", "cold_proof", "p99 ≤ 25 ms"),
            (f"POST /verify ({min(2000, n_bodies):,} badges, repeated)", "verify", f"≥ {TARGETS['verify_rps']:,} req/s; p99 ≤ 25 ms"),
            (f"POST /verify ({n_bodies:,} distinct, cold)", "cold", f"≥ {TARGETS['verify_rps']:,} req/s; p99 ≤ 25 ms"),
        ]
        if args.compare:
            rows += [("  (cmp) " + label.strip()[5:], "other_" + key, target) for label, key, target in rows[1:]]
        for label, key, target in rows:
            per_round = " ".join(f"{r[key]['rps']:,.0f}" for r in rs)
            bad = sum(r[key]["non2xx"] for r in rs)
            warn = f"  ({int(bad)} non-2xx!)" if bad else ""
            print(f"{label:<38}{med(key, 'rps'):>10,.0f}{med(key, 'p50'):>9.2f}{med(key, 'p99'):>9.2f}{ratio(key):>8.2f}  "
                  f"{per_round:<22} {target}{warn}")
        verdicts[f"proof endpoint @{c}"] = med("proof", "p99") <= TARGETS["p99_ms"] and med("cold_proof", "p99") <= TARGETS["p99_ms"]
        verdicts[f"verify p99 @{c}"] = med("verify", "p99") <= TARGETS["p99_ms"] and med("cold", "p99") <= TARGETS["p99_ms"]
        if c == max(levels_c):
            verdicts["proof req/s"] = med("proof", "rps") >= TARGETS["proof_rps"] and ratio("proof") >= TARGETS["proof_ratio"]
            verdicts["verify req/s"] = med("verify", "rps") >= TARGETS["verify_rps"] and med("cold", "rps") >= TARGETS["verify_rps"]
    print("workers after the runs: " + "; ".join(f"pid {pid}: RSS {rss:,.0f} MB (peak {hwm:,.0f}), PSS {pss:,.0f} MB"
                                                for pid, rss, hwm, pss in memory))
    if args.compare:
        print(f"workers of {args.compare}: " + "; ".join(f"pid {pid}: RSS {rss:,.0f} MB (peak {hwm:,.0f}), PSS {pss:,.0f} MB"
                                                      for pid, rss, hwm, pss in other_memory))
    print(f"offline `anchor verify`: {per_credential:.2f} ms per credential once connected (1,000 credentials, {valid} valid; "
          f"no cache, every credential reads the chain); target ≤ {TARGETS['offline_ms']} ms; "
          f"cert-verifier-js median {REF_CERT_VERIFIER_MS} ms ({REF_CERT_VERIFIER_MS / per_credential:.0f}x)")
    verdicts["offline verify"] = per_credential <= TARGETS["offline_ms"]
    reqs, calls, mined = (sum(x[i] for x in rpc_use) for i in range(3))
    print(f"chain reads by the service during repeated verifies: {calls:,} RPC calls for {reqs:,.0f} requests "
          f"({1000 * calls / max(reqs, 1):.2f} per 1,000 requests; {mined} new blocks meanwhile): the head poll "
          f"(one batched call per head_ttl per worker), not one per request")
    print("targets: " + "; ".join(f"{k} {'met' if ok else 'MISSED'}" for k, ok in verdicts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
