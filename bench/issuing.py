"""Signed issuing throughput end to end, signing per credential next to openbadgeslib's signer,
and Merkle tree speed next to blockcerts-merkletools.

    python bench/issuing.py
    python bench/issuing.py --sizes 10000,100000 --tree 0
    python bench/issuing.py --db postgresql://localhost/postgres    # PostgreSQL instead of SQLite
    python bench/issuing.py --unsigned --signing 0 --tree 0        # baseline: export without signatures

Three parts, one run:

1. Signed issuing end to end, for each roster size N (default 10,000 and 100,000): roster CSV →
   parse → issue (OB 3.0 documents with credentialStatus, canonical bytes, leaf hashes, database
   insert) → anchor (one batch of N: batching in the database, Merkle tree, tree chunks stored,
   one transaction confirmed on Anvil) → export (each credential with its signature next to its
   anchor receipt; one file per credential). anchor signs each credential (``eddsa-rdfc-2022``
   with template canonicalization) as it builds it, so the issue phase is where the signing time
   is (in the forked builder, while the parent inserts). Each N runs in its own
   subprocess with a fresh temporary directory, a fresh database and a fresh Anvil, so its peak
   RSS (``getrusage(RUSAGE_SELF).ru_maxrss`` of that process; Anvil is another process) is its
   own. Writing the synthetic roster file, starting Anvil, deploying the registry and
   registering the issuer (named by the did:key of its development signing key, the key bound in
   the registry) are set-up and are not timed.
2. Signing and signature checking per credential (``--signing``, default 2,000 credentials; 0
   skips it): see ``bench/signing.py``: anchor's signer on the template and the general path,
   openbadgeslib's ``add_data_integrity_proof``, pyld's canonicalization alone, and signature
   checking as ``anchor verify`` does it, warm and cold; the proofs proven identical.
3. Merkle tree over 1,000,000 leaves (``--tree``, 0 skips it): ``anchor.core.merkle.build_levels``
   and every proof through ``anchor.core.merkle.iter_proofs`` (best of ``--repeat``), against
   ``blockcerts_merkletools.MerkleTools`` ``make_tree`` and ``get_proof`` for every index (once;
   it takes ~10 s). Neither side keeps its 1M proofs: each is made and dropped. The roots and a
   sample of proofs must match.

``--db`` takes a SQLite URL (``{tmp}`` is replaced by the run's temporary directory; the
default is ``sqlite:///{tmp}/anchor.db``) or a PostgreSQL URL of a database to connect to
first: a fresh database ``anchor_bench_<pid>`` is created on that server for the run and
dropped after it. ``--tmpdir`` puts the temporary directories elsewhere than the system's
(``--tmpdir /dev/shm`` keeps the disk out of the figures: export writes N files, ~3.6 KB each).

Reference figures and targets (from the spec) are printed next to the measurements.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from anchor.app.anchoring import Anchorer
from anchor.app.exporting import export_credentials
from anchor.app.issuing import issue_credentials
from anchor.app.registration import register_issuer
from anchor.app.signing import signer_for
from anchor.app.signing_keys import dev_signing_key_for
from anchor.chain.anvil import DevChain
from anchor.chain.artifact import project_root
from anchor.chain.node import Chain
from anchor.chain.signer import dev_signer
from anchor.chain.writer import Registry
from anchor.core import merkle
from anchor.core.achievement import build_achievement, parse_achievement_text
from anchor.core.credential import credential_canonicalizer, leaf_of
from anchor.core.proof import find_anchor_proof
from anchor.core.roster import parse_roster
from anchor.core.signature import check_signature
from anchor.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _world import ISSUER_NAME, TreeMemory, roster_csv

T = TypeVar("T")

# Reference figures and targets (spec).
REF_CERT_ISSUER_PER_S = 105  # Blockcerts cert-issuer, credentials/s end to end
TARGET_PER_S = 10_000  # signed credentials/s end to end, at N = 100,000
TARGET_RSS_MB = 600  # peak RSS at N = 100,000
TARGET_AT_N = 100_000
REF_MT_TREE_S = 0.92  # blockcerts-merkletools, 1M-leaf tree, reference machine
REF_MT_PROOFS_S = 10.0  # blockcerts-merkletools, all 1M proofs, reference machine (~)
REF_OPENSSL_TREE_S = 0.47  # C + OpenSSL floor for the 1M-leaf tree
TARGET_TREE_S = 0.6  # 1M-leaf tree
TARGET_PROOFS_S = 3.0  # all 1M proofs
TREE_TARGET_AT = 1_000_000

RESULT_TAG = "BENCH-RESULT "
PHASES = (
    ("parse", "(a) roster CSV → parse_roster"),
    ("issue", "(b) issue_credentials, signing"),
    ("anchor", "(c) Anchorer.run"),
    ("export", "(d) export_credentials"),
)


# ---------------------------------------------------------------------- helpers


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports kilobytes, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def note(message: str) -> None:
    """Progress on stderr, after whatever the table has printed so far."""
    sys.stdout.flush()
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def write_roster(path: Path, n: int, seed: int = 1) -> None:
    """A synthetic roster of ``n`` distinct recipients; some rows fill the optional columns."""
    path.write_text(roster_csv(n, seed), encoding="utf-8")


@contextmanager
def fresh_database(url: str, tmp: Path) -> Iterator[str]:
    """The URL of an empty database for one run (see the module docstring)."""
    if url.startswith("sqlite"):
        yield url.replace("{tmp}", str(tmp))
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from anchor.store.store import normalize_url

    admin_url = make_url(normalize_url(url))
    name = f"anchor_bench_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# ---------------------------------------------------------------------- part 1: end to end


@dataclass
class EndToEnd:
    n: int
    db: str
    seconds: dict[str, float] = field(default_factory=dict)  # phase → wall time
    rss_after: dict[str, float] = field(default_factory=dict)  # phase → peak RSS so far (MB)
    batch_seconds: float = 0.0  # part of "anchor": Store.create_batch (DB batching, tree, chunks)
    rss_baseline_mb: float = 0.0  # peak RSS after set-up, before the first timed phase
    peak_rss_mb: float = 0.0
    export_bytes: int = 0
    verified_on_chain: bool = False
    signed: bool = True
    signature_checks: bool = False  # a random badge's eddsa-rdfc-2022 signature checks (anchor verify's check)
    template_stats: dict[str, int] = field(default_factory=dict)  # export's canonicalization paths (this process's share)
    tree_pss_after: dict[str, float] = field(default_factory=dict)  # phase → peak PSS of the process tree so far (MB)
    peak_tree_pss_mb: float = 0.0  # this process and its forked children, sampled every 50 ms (Anvil left out)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def per_second(self) -> float:
        return self.n / self.total


def run_one(n: int, db_url: str, tmp_base: str | None = None, *, signed: bool = True) -> EndToEnd:
    """One end-to-end run of ``n`` credentials in a fresh directory, database and Anvil
    (``signed`` false: export without signatures, the baseline of before issue 10)."""
    admin, issuer = dev_signer(0), dev_signer(1)
    ach_file = project_root() / "examples" / "achievement.yaml"
    achievement = build_achievement(parse_achievement_text(ach_file.read_text(), source=str(ach_file)))
    with tempfile.TemporaryDirectory(prefix="anchor-bench-", dir=tmp_base) as tmp_name, DevChain.start() as node:
        tmp = Path(tmp_name)
        roster_file = tmp / "roster.csv"
        write_roster(roster_file, n)
        with fresh_database(db_url, tmp) as url:
            store = Store.open(url)
            try:
                chain = Chain(node.rpc_url)
                registry, _ = Registry.deploy(chain, admin)
                signing_key = dev_signing_key_for(issuer.address)
                register_issuer(store, registry, issuer, admin, name=ISSUER_NAME, signing_key=signing_key)
                issuer_row = store.issuer(issuer.address)
                assert issuer_row is not None and issuer_row.did is not None
                result = EndToEnd(n=n, db=store.engine.dialect.name, signed=signed)

                # Store.create_batch is the database + tree part of Anchorer.run; time it apart.
                create_batch = store.create_batch

                def timed_create_batch(issuer_id: int, max_size: int) -> Any:
                    batch, took = timed(lambda: create_batch(issuer_id, max_size))
                    result.batch_seconds += took
                    return batch

                store.create_batch = timed_create_batch

                gc.collect()
                result.rss_baseline_mb = peak_rss_mb()
                memory = TreeMemory().__enter__()

                def phase(name: str, fn: Callable[[], T]) -> T:
                    out, took = timed(fn)
                    result.seconds[name] = took
                    result.rss_after[name] = peak_rss_mb()
                    memory.mark(name)
                    result.tree_pss_after[name] = memory.marks[name]
                    return out

                out_dir = tmp / "badges"
                roster = phase("parse", lambda: parse_roster(roster_file.read_text(encoding="utf-8")))
                signer = signer_for(issuer_row.did, signing_key, issuer_row.signing_key) if signed else None
                issued = phase("issue", lambda: issue_credentials(store, issuer_row, achievement, roster, sign=signer))
                anchored = phase(
                    "anchor", lambda: Anchorer(store, registry, issuer, issuer_row, confirmations=1).run(max_batch=n)
                )
                exported = phase("export", lambda: export_credentials(
                    store, issuer_row.id, issuer.address, out_dir,
                    sign=signer))
                result.peak_rss_mb = peak_rss_mb()
                memory.__exit__()
                result.peak_tree_pss_mb = memory.peak_mb
                result.template_stats = dict(credential_canonicalizer().stats)

                # Not timed: the run did what it claims, and a badge verifies on chain.
                assert not roster.errors and len(roster.rows) == n, "synthetic roster did not parse cleanly"
                assert issued.created == n, f"issued {issued.created} of {n}"
                assert len(anchored.outcomes) == 1 and anchored.outcomes[0].leaf_count == n, "expected one batch of N"
                assert exported.files == n, f"exported {exported.files} of {n}"
                files = sorted(out_dir.glob("*.json"))
                assert len(files) == n
                result.export_bytes = sum(f.stat().st_size for f in files[:1000]) * n // min(n, 1000)
                badge = json.loads(random.Random(n).choice(files).read_text())
                proof = find_anchor_proof(badge)
                result.verified_on_chain = registry.verify(proof.issuer_address, proof.root, leaf_of(badge), proof.index, list(proof.path))
                claim = check_signature(badge, badge["issuer"]["id"])
                result.signature_checks = claim is not None and claim.ok and claim.public_key == issuer_row.signing_key
                assert signed == (claim is not None), "signed badges carry a signature, unsigned ones none"
                return result
            finally:
                store.close()


def run_in_subprocess(n: int, db_url: str, tmp_base: str | None, *, signed: bool = True) -> EndToEnd:
    """Run :func:`run_one` in a new interpreter, so the peak RSS is that run's alone."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", str(n), "--db", db_url] + ([] if signed else ["--unsigned"])
    if tmp_base:
        cmd += ["--tmpdir", tmp_base]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the run with N = {n:,} failed (exit code {proc.returncode}):\n{proc.stdout}")
    data = json.loads(lines[-1][len(RESULT_TAG):])
    return EndToEnd(**data)


@dataclass
class CliRun:
    """The same work through the command line: ``anchor issue`` then ``anchor anchor``, each a new
    process (wall time including its imports), on a fresh database, chain and registry."""

    n: int
    seconds: dict[str, float] = field(default_factory=dict)  # command → wall time
    peak_pss_mb: dict[str, float] = field(default_factory=dict)  # command → peak PSS of its process tree
    startup: float = 0.0  # `anchor --version`: the interpreter and the CLI's imports alone
    anchored: int = 0

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def run_cli(n: int, db_url: str, tmp_base: str | None = None) -> CliRun:
    admin, issuer = dev_signer(0), dev_signer(1)
    ach_file = project_root() / "examples" / "achievement.yaml"
    exe = str(Path(sys.executable).with_name("anchor"))
    with tempfile.TemporaryDirectory(prefix="anchor-bench-cli-", dir=tmp_base) as tmp_name, DevChain.start() as node:
        tmp = Path(tmp_name)
        roster_file = tmp / "roster.csv"
        write_roster(roster_file, n)
        with fresh_database(db_url, tmp) as url:
            store = Store.open(url)
            registry, _ = Registry.deploy(Chain(node.rpc_url), admin)
            register_issuer(store, registry, issuer, admin, name=ISSUER_NAME, signing_key=dev_signing_key_for(issuer.address))
            store.close()
            result = CliRun(n=n)
            base = [exe, "--rpc", node.rpc_url, "--registry", registry.address, "--db", url, "--home", str(tmp / "home"),
                    "--confirmations", "1"]
            # As a user runs it: bytecode cached (this environment may set PYTHONDONTWRITEBYTECODE,
            # which makes every command compile its ~700 modules again); the cache is kept outside the
            # checkout and filled by a first command, not timed.
            env = {k: v for k, v in os.environ.items() if not k.startswith("ANCHOR_") and k != "PYTHONDONTWRITEBYTECODE"}
            env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "anchor-bench-pycache")
            subprocess.run([exe, "--version"], env=env, check=True, capture_output=True)
            _, result.startup = timed(lambda: subprocess.run([exe, "--version"], env=env, check=True, capture_output=True))
            for name, args in (("anchor issue", ["issue", str(roster_file), "--achievement", str(ach_file)]),
                               ("anchor anchor", ["anchor", "--max-batch", str(n)])):
                start = time.perf_counter()
                proc = subprocess.Popen(base + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                with TreeMemory(proc.pid) as memory:
                    out, err = proc.communicate()
                result.seconds[name] = time.perf_counter() - start
                result.peak_pss_mb[name] = memory.peak_mb
                if proc.returncode != 0:
                    raise SystemExit(f"{name} failed (exit code {proc.returncode}): {err.strip() or out.strip()}")
            store = Store.open(url)
            row = store.issuer(issuer.address)
            assert row is not None
            result.anchored = store.counts(row.id).anchored
            store.close()
            assert result.anchored == n, f"the CLI anchored {result.anchored} of {n}"
            return result


# ---------------------------------------------------------------------- part 2: Merkle tree


@dataclass
class TreeBench:
    n: int
    ours_tree: float
    ours_proofs: float
    theirs_tree: float
    theirs_proofs: float
    repeat: int
    roots_equal: bool
    proofs_checked: int
    c_extension: bool


def each_proof(mt: Any, n: int) -> None:
    """Every proof of merkletools' tree, each dropped once made, as ours are by ``iter_proofs``.

    Keeping them all (a list of 1M lists of ~20 dicts of hex strings) would take ~6 GB and time
    the allocator rather than merkletools; the ~10 s reference figure is for making them.
    """
    get_proof = mt.get_proof
    for i in range(n):
        get_proof(i)


def bench_tree(n: int, repeat: int) -> TreeBench:
    from blockcerts_merkletools import MerkleTools

    leaves = [merkle.hash_leaf(i.to_bytes(8, "big")) for i in range(n)]
    leaf_level = b"".join(leaves)

    def all_proofs(levels: list[bytes]) -> int:
        count = 0
        for _ in merkle.iter_proofs(levels):
            count += 1
        return count

    ours_tree = ours_proofs = float("inf")
    levels: list[bytes] = []
    for _ in range(repeat):
        gc.collect()
        levels, took = timed(lambda: merkle.build_levels(leaf_level))
        ours_tree = min(ours_tree, took)
        count, took = timed(partial(all_proofs, levels))
        assert count == n
        ours_proofs = min(ours_proofs, took)

    gc.collect()
    mt = MerkleTools()
    mt.leaves = [bytearray(leaf) for leaf in leaves]
    _, theirs_tree = timed(mt.make_tree)
    _, theirs_proofs = timed(lambda: each_proof(mt, n))

    roots_equal = bytes.fromhex(mt.get_merkle_root()) == levels[-1]
    sample = sorted({0, n - 1, *random.Random(7).sample(range(n), min(n, 1000))})
    for i in sample:
        ours = [{"right" if pos & 1 else "left": node.hex()} for (_, pos), node in
                zip(merkle.path_positions(i, n), merkle.prove(levels, i), strict=True)]
        if ours != mt.get_proof(i):
            raise SystemExit(f"proof of leaf {i} differs from merkletools'")
    return TreeBench(n, ours_tree, ours_proofs, theirs_tree, theirs_proofs, repeat, roots_equal, len(sample),
                     merkle._next_level_c is not None)


# ---------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_end_to_end(runs: list[EndToEnd]) -> None:
    if runs[0].signed:
        print(f"Signed issuing end to end: roster CSV → parse → issue → anchor (one batch, Anvil) → export with "
              f"eddsa-rdfc-2022 signatures   [{runs[0].db}]")
    else:
        print(f"UNSIGNED issuing end to end (--unsigned: the baseline before signatures; the target is for signed "
              f"issuing): roster CSV → parse → issue → anchor → export   [{runs[0].db}]")
    label_w = 38
    head = f"{'':<{label_w}}" + "".join(f"{f'N = {r.n:,}':>22}" for r in runs)
    print(head)
    print("-" * len(head))
    for key, label in PHASES:
        if key == "export" and not runs[0].signed:
            label = "(d) export_credentials (unsigned)"
        if key == "issue" and not runs[0].signed:
            label = "(b) issue_credentials (unsigned)"
        cells = "".join(f"{r.seconds[key]:>10.3f} s {r.n / r.seconds[key]:>8,.0f}/s" for r in runs)
        print(f"{label:<{label_w}}{cells}")
        if key == "anchor":
            cells = "".join(f"{r.batch_seconds:>10.3f} s {'':>10}" for r in runs)
            print(f"{'    of which batch + tree + chunks':<{label_w}}{cells}")
            cells = "".join(f"{r.seconds['anchor'] - r.batch_seconds:>10.3f} s {'':>10}" for r in runs)
            print(f"{'    of which chain (tx + confirm)':<{label_w}}{cells}")
    print("-" * len(head))
    print(f"{'total':<{label_w}}" + "".join(f"{r.total:>10.3f} s {'':>10}" for r in runs))
    print(f"{'credentials/s end to end':<{label_w}}" + "".join(f"{r.per_second:>22,.0f}" for r in runs))
    print(f"{'peak RSS (MB)':<{label_w}}" + "".join(f"{r.peak_rss_mb:>22,.0f}" for r in runs))
    print(f"{'  after set-up, before phase (a)':<{label_w}}" + "".join(f"{r.rss_baseline_mb:>22,.0f}" for r in runs))
    for key, _ in PHASES:
        print(f"{f'  peak after ({key})':<{label_w}}" + "".join(f"{r.rss_after[key]:>22,.0f}" for r in runs))
    print(f"{'peak PSS, whole process tree (MB)':<{label_w}}" + "".join(f"{r.peak_tree_pss_mb:>22,.0f}" for r in runs))
    for key, _ in PHASES:
        print(f"{f'  peak after ({key})':<{label_w}}" + "".join(f"{r.tree_pss_after.get(key, 0):>22,.0f}" for r in runs))
    print(f"{'exported (MB, estimated)':<{label_w}}" + "".join(f"{r.export_bytes / 1e6:>22,.1f}" for r in runs))
    print(f"{'a badge verifies on chain':<{label_w}}" + "".join(f"{str(r.verified_on_chain):>22}" for r in runs))
    if runs[0].signed:
        print(f"{'  and its signature checks':<{label_w}}" + "".join(f"{str(r.signature_checks):>22}" for r in runs))
        print(f"{'signing: template path (this process)':<{label_w}}"
              + "".join(f"{r.template_stats.get('fast', 0):>14,} of {sum(r.template_stats.values()) - r.template_stats.get('templates', 0):>5,}"
                        for r in runs))

    at = next((r for r in runs if r.n == TARGET_AT_N), None)
    print()
    print(f"  reference: Blockcerts cert-issuer ~{REF_CERT_ISSUER_PER_S} credentials/s end to end")
    if at is not None and not at.signed:
        print(f"  unsigned baseline at N = {TARGET_AT_N:,}: {at.per_second:,.0f}/s (the target ≥ {TARGET_PER_S:,}/s is for signed issuing)")
    elif at is not None:
        print(f"  target ≥ {TARGET_PER_S:,} signed credentials/s end to end at N = {TARGET_AT_N:,}: {at.per_second:,.0f}/s "
              f"({at.per_second / REF_CERT_ISSUER_PER_S:,.0f}x cert-issuer) → {verdict(at.per_second >= TARGET_PER_S)}")
        print(f"  target peak RSS ≤ {TARGET_RSS_MB} MB at N = {TARGET_AT_N:,}: {at.peak_rss_mb:,.0f} MB "
              f"→ {verdict(at.peak_rss_mb <= TARGET_RSS_MB)}")
    else:
        print(f"  (targets are stated at N = {TARGET_AT_N:,}; add it to --sizes to check them)")


def print_cli(runs: list[EndToEnd], clis: list[CliRun]) -> None:
    print("Issuing and anchoring through the CLI (each command a new process: wall time with its imports; "
          "PSS of its process tree, forks included, sampled every 50 ms) next to the same phases in process")
    label_w = 38
    head = f"{'':<{label_w}}" + "".join(f"{f'N = {c.n:,}':>22}" for c in clis)
    print(head)
    print("-" * len(head))
    print(f"{'anchor --version (imports alone)':<{label_w}}" + "".join(f"{c.startup:>10.3f} s {'':>10}" for c in clis))
    for name in ("anchor issue", "anchor anchor"):
        print(f"{name:<{label_w}}" + "".join(f"{c.seconds[name]:>10.3f} s {c.n / c.seconds[name]:>8,.0f}/s" for c in clis))
        print(f"{'  peak PSS, its process tree (MB)':<{label_w}}" + "".join(f"{c.peak_pss_mb[name]:>22,.0f}" for c in clis))
    print(f"{'CLI issue + anchor':<{label_w}}" + "".join(f"{c.total:>10.3f} s {c.n / c.total:>8,.0f}/s" for c in clis))
    by_n = {r.n: r for r in runs}
    cells = []
    for c in clis:
        r = by_n.get(c.n)
        inproc = sum(r.seconds[k] for k in ("parse", "issue", "anchor")) if r else float("nan")
        cells.append(f"{inproc:>10.3f} s {c.n / inproc:>8,.0f}/s")
    print(f"{'in process: (a) + (b) + (c)':<{label_w}}" + "".join(cells))


def print_tree(t: TreeBench) -> None:
    print(f"Merkle tree, N = {t.n:,} leaves (ours: best of {t.repeat}, C extension "
          f"{'loaded' if t.c_extension else 'MISSING'}; merkletools: one run)")
    print(f"{'':<26}{'anchor.core.merkle':>15}{'merkletools':>14}{'speed-up':>10}  reference / target")
    at_target = t.n == TREE_TARGET_AT

    def check(ok: bool) -> str:
        return f"→ {verdict(ok)}" if at_target else f"(targets are for {TREE_TARGET_AT:,} leaves)"

    print(f"{'build tree':<26}{t.ours_tree:>13.3f} s{t.theirs_tree:>12.3f} s{t.theirs_tree / t.ours_tree:>9.1f}x"
          f"  merkletools {REF_MT_TREE_S} s (ref. machine), C/OpenSSL floor {REF_OPENSSL_TREE_S} s; "
          f"target ≤ {TARGET_TREE_S} s {check(t.ours_tree <= TARGET_TREE_S)}")
    print(f"{'all proofs':<26}{t.ours_proofs:>13.3f} s{t.theirs_proofs:>12.3f} s{t.theirs_proofs / t.ours_proofs:>9.1f}x"
          f"  merkletools ~{REF_MT_PROOFS_S:.0f} s (ref. machine); "
          f"target ≤ {TARGET_PROOFS_S} s {check(t.ours_proofs <= TARGET_PROOFS_S)}")
    total_ours, total_theirs = t.ours_tree + t.ours_proofs, t.theirs_tree + t.theirs_proofs
    print(f"{'tree + all proofs':<26}{total_ours:>13.3f} s{total_theirs:>12.3f} s{total_theirs / total_ours:>9.1f}x")
    print(f"  roots equal: {t.roots_equal}; {t.proofs_checked:,} sampled proofs identical to merkletools'")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sizes", default="10000,100000", help="roster sizes N, comma-separated (default 10000,100000)")
    p.add_argument("--tree", type=int, default=1_000_000, help="leaves for the Merkle comparison (0 skips it)")
    p.add_argument("--repeat", type=int, default=3, help="runs of our tree + proofs; the best is kept (default 3)")
    p.add_argument("--signing", type=int, default=2000,
                   help="credentials for the per-credential signing section (bench/signing.py; 0 skips it)")
    p.add_argument("--db", default="sqlite:///{tmp}/anchor.db", help="database URL (see the module docstring)")
    p.add_argument("--tmpdir", help="where the per-run temporary directories go (default: the system's, e.g. /tmp);"
                   " /dev/shm takes the disk out of the figures")
    p.add_argument("--unsigned", action="store_true",
                   help="export without signatures (the baseline before issue 10, for comparison; the target is for signed)")
    p.add_argument("--cli", default="same", help="sizes N for the CLI path (`anchor issue` + `anchor anchor` as "
                   "subprocesses), comma-separated; 'same' (default): those of --sizes; 0 skips it")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child: one end-to-end run, JSON on stdout
    args = p.parse_args(argv)

    if args.one is not None:
        result = run_one(args.one, args.db, args.tmpdir, signed=not args.unsigned)
        print(RESULT_TAG + json.dumps(asdict(result)), flush=True)
        return 0

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    print(f"anchor issuing bench — Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPU(s), {platform.platform(terse=True)}")
    print()
    runs = []
    for n in sizes:
        note(f"  running N = {n:,} in a subprocess ...")
        runs.append(run_in_subprocess(n, args.db, args.tmpdir, signed=not args.unsigned))
    if runs:
        print(f"temporary directories (roster, database, exported badges) in {args.tmpdir or tempfile.gettempdir()}")
        print_end_to_end(runs)
        print()
    cli_sizes = sizes if args.cli == "same" else [int(x.replace("_", "")) for x in args.cli.split(",") if x.strip() and x.strip() != "0"]
    if cli_sizes and not args.unsigned:
        clis = []
        for n in cli_sizes:
            note(f"  CLI path, N = {n:,} ...")
            clis.append(run_cli(n, args.db, args.tmpdir))
        print_cli(runs, clis)
        print()
    if args.signing > 0:
        import signing

        signing.print_signing(signing.run(args.signing, note=note))
        print()
    if args.tree > 0:
        note(f"  Merkle tree over {args.tree:,} leaves, ours then merkletools ...")
        print_tree(bench_tree(args.tree, max(1, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
