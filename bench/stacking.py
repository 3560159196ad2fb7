"""Stacking throughput (``anchor stack``) and the time to verify one stacked badge with its components.

    python bench/stacking.py                         # 100,000 holders x 3 components
    python bench/stacking.py --holders 2000,20000    # several sizes, each in its own world
    python bench/stacking.py --holders 2000 --profile 2000   # and where stack_pathway's time goes

For each size N, in a fresh temporary directory, a fresh SQLite database and a fresh Anvil:

Set-up (timed apart, not in the figures): one issuer is registered (its Ed25519 signing key bound in
the registry, as bench/_world.py does), three component achievements are issued to the same N
holders with ``issue_credentials`` signing (``eddsa-rdfc-2022``, as ``anchor export`` signs) and
anchored in one batch on Anvil.

Timed:

(a) ``stack_pathway`` for a pathway requiring all three, with the verifier ``anchor stack`` builds
    (one chain reader per registry, the head re-read at most every 0.5 s): every holder's three
    components are read from the database in bulk and verified against the chain one by one
    (their leaf in their batch's tree, rebuilt once; schema; ``eddsa-rdfc-2022`` signature;
    validity; the chain's facts on their batch, revocation word and signing key through the
    reader's cache; see src/anchor/app/stack_components.py), then the N stacked credentials are
    issued, signed. Reported as stacked credentials/s (wall clock), and the CPU seconds it took
    (this process and its forked builders): on a shared machine the CPU time per holder is the
    steadier figure.
(b) ``Anchorer.run``: the N stacked credentials anchored in one batch.
(c) ``verify_stack`` on ONE holder's stacked badge with its three component badges (four full
    verifications, each reading the chain, and the digests checked): the first call in a fresh
    process (imports and the connection set-up excluded: what an employer's first check costs),
    and warm, in this process, the best of ``--repeat``.

``--profile N`` builds one more world of N holders and prints the top functions of a cProfile
of ``stack_pathway`` (by own time and by cumulative time).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _world import badge_signer, register, roster_csv  # noqa: E402
from anchor.app.anchoring import Anchorer  # noqa: E402
from anchor.app.issuing import issue_credentials  # noqa: E402
from anchor.app.stacking import _Badges, stack_pathway, verify_stack  # noqa: E402
from anchor.app.verifying import Verifier, VerifyOptions  # noqa: E402
from anchor.chain.anvil import DevChain  # noqa: E402
from anchor.chain.node import Chain  # noqa: E402
from anchor.chain.reader import RegistryReader  # noqa: E402
from anchor.chain.signer import Signer, dev_signer  # noqa: E402
from anchor.chain.writer import Registry  # noqa: E402
from anchor.core.achievement import build_achievement, parse_achievement_text  # noqa: E402
from anchor.core.forms import Presented  # noqa: E402
from anchor.core.pathway import Pathway, parse_pathway  # noqa: E402
from anchor.core.roster import parse_roster  # noqa: E402
from anchor.core.stack import components_of  # noqa: E402
from anchor.core.verdict import Verdict  # noqa: E402
from anchor.store import Issuer, Store  # noqa: E402

T = TypeVar("T")

TARGET_AT_N = 100_000  # the issue's size: 100,000 holders x 3 components
COMPONENTS = (("sql", "SQL"), ("python", "Python"), ("viz", "Visualisation"))
BASE = "https://bench.example/achievements/"
STACKED = BASE + "data-analyst"


def note(message: str) -> None:
    sys.stdout.flush()
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have exited."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pathway() -> Pathway:
    lines = [f"id: {STACKED}/pathway", "achievement:", f"  id: {STACKED}", "  name: Data Analyst",
             "  description: Holds the three components.", "  criteria:", "    narrative: Earned every component.",
             "requires:", "  all:"]
    lines += [f"    - achievement: {BASE}{key}" for key, _ in COMPONENTS]
    return parse_pathway("\n".join(lines) + "\n")


def cli_verifier(rpc_url: str, registry: str) -> Verifier:
    """The verifier ``anchor stack`` builds (src/anchor/cli/stacking.py): one reader per registry
    for the whole run, the head re-read at most every 0.5 s."""
    readers: dict[str, RegistryReader] = {}

    def reader_for(address: str) -> RegistryReader:
        if address not in readers:
            readers[address] = RegistryReader.connect(rpc_url, address, head_ttl=0.5)
        return readers[address]

    return Verifier(reader_for, VerifyOptions(registry=registry))


@dataclass
class World:
    node: DevChain
    registry: Registry
    issuer: Signer
    store: Store
    row: Issuer
    setup_seconds: dict[str, float] = field(default_factory=dict)


def build_world(n: int, tmp: Path, node: DevChain) -> World:
    """Set-up: the issuer registered, the three components issued (signed) to N holders and anchored."""
    admin, issuer = dev_signer(0), dev_signer(1)
    registry, _ = Registry.deploy(Chain(node.rpc_url), admin)
    store = Store.open(f"sqlite:///{tmp / 'anchor.db'}")
    register(store, registry, issuer, admin)
    row = store.issuer(issuer.address)
    assert row is not None
    world = World(node, registry, issuer, store, row)
    sign = badge_signer(store, issuer)
    raw = parse_achievement_text((ROOT / "examples" / "achievement.yaml").read_text())
    roster = parse_roster(roster_csv(n))
    assert not roster.errors and len(roster.rows) == n
    start = time.perf_counter()
    for key, name in COMPONENTS:
        achievement = build_achievement({**copy.deepcopy(raw), "id": BASE + key, "name": name, "creditsAvailable": 2})
        issued = issue_credentials(store, row, achievement, roster, sign=sign)
        assert issued.created == n, f"issued {issued.created} of {n} {name}"
    world.setup_seconds["issue 3 x N components (signed)"] = time.perf_counter() - start
    report, took = timed(lambda: Anchorer(store, registry, issuer, row, confirmations=1).run(max_batch=3 * n))
    assert sum(o.leaf_count for o in report.outcomes) == 3 * n
    world.setup_seconds["anchor them (one batch)"] = took
    return world


@dataclass
class Result:
    n: int
    setup_seconds: dict[str, float]
    stack_seconds: float = 0.0
    stack_cpu: float = 0.0
    anchor_seconds: float = 0.0
    created: int = 0
    verify_cold: float = 0.0
    verify_warm: float = 0.0
    verify_repeat: int = 0
    verdict: str = ""
    component_status: list[str] = field(default_factory=list)


def one_stack(world: World) -> tuple[Presented, list[Presented]]:
    """The first holder's stacked badge and its three component badges, as delivered (document,
    signature, anchor receipt: what ``anchor export`` writes)."""
    badges = _Badges(world.store)
    (cid, _email, _name, _uri), *_ = world.store.stack_candidates(world.row.id, [STACKED])

    def presented(credential_id: str) -> Presented:
        built = badges.badge(credential_id)
        assert built is not None, f"{credential_id} is not anchored"
        text = built[0].decode()
        return Presented("json", json.loads(text), None, text)

    stack = presented(cid)
    parts = [presented(ref.id) for ref in components_of(stack.credential)]
    assert len(parts) == len(COMPONENTS)
    return stack, parts


def run(n: int, tmp_base: str | None, repeat: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="anchor-bench-stack-", dir=tmp_base) as tmp_name, DevChain.start() as node:
        tmp = Path(tmp_name)
        note(f"  N = {n:,}: set-up (3 x {n:,} signed components, anchored) ...")
        world = build_world(n, tmp, node)
        result = Result(n, world.setup_seconds)
        verifier = cli_verifier(node.rpc_url, world.registry.address)
        sign = badge_signer(world.store, world.issuer)
        path = pathway()

        note(f"  N = {n:,}: (a) stack_pathway ...")
        cpu = cpu_seconds()
        stacked, result.stack_seconds = timed(lambda: stack_pathway(world.store, world.row, path, verifier, sign=sign))
        result.stack_cpu = cpu_seconds() - cpu
        assert stacked.created == n and not stacked.short, (stacked.created, stacked.short[:3])
        result.created = stacked.created
        note(f"  N = {n:,}: (b) anchoring the stacks ...")
        report, result.anchor_seconds = timed(
            lambda: Anchorer(world.store, world.registry, world.issuer, world.row, confirmations=1).run(max_batch=n))
        assert sum(o.leaf_count for o in report.outcomes) == n

        note(f"  N = {n:,}: (c) verify_stack, cold (fresh process) then warm ...")
        stack, parts = one_stack(world)
        files = tmp / "one-stack"
        files.mkdir()
        for i, p in enumerate([stack, *parts]):
            (files / f"{i}.json").write_text(p.payload)
        result.verify_cold = cold_check(files, node.rpc_url, world.registry.address)
        warm = cli_verifier(node.rpc_url, world.registry.address)
        verify_stack(warm, stack, parts)
        best = float("inf")
        for _ in range(repeat):
            out, took = timed(lambda: verify_stack(warm, stack, parts))
            best = min(best, took)
        result.verify_warm, result.verify_repeat = best, repeat
        result.verdict, result.component_status = out.verdict.value, [c.status for c in out.components]
        assert out.verdict is Verdict.VALID and result.component_status == ["ok"] * len(COMPONENTS), out
        world.store.close()
        return result


def cold_check(files: Path, rpc_url: str, registry: str) -> float:
    """The first ``verify_stack`` in a fresh Python process (after its imports and the
    verifier's construction): seconds."""
    out = subprocess.run([sys.executable, __file__, "--cold", str(files), rpc_url, registry],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def cold_child(files: Path, rpc_url: str, registry: str) -> None:
    texts = [(files / f"{i}.json").read_text() for i in range(1 + len(COMPONENTS))]
    items = [Presented("json", json.loads(t), None, t) for t in texts]
    verifier = cli_verifier(rpc_url, registry)
    out, took = timed(lambda: verify_stack(verifier, items[0], items[1:]))
    assert out.verdict is Verdict.VALID, out
    print(f"{took:.6f}")


def profile(n: int, tmp_base: str | None, top: int) -> str:
    """cProfile of ``stack_pathway`` over a fresh world of N holders: the top functions."""
    with tempfile.TemporaryDirectory(prefix="anchor-bench-stack-", dir=tmp_base) as tmp_name, DevChain.start() as node:
        note(f"  profile: N = {n:,}: set-up ...")
        world = build_world(n, Path(tmp_name), node)
        verifier = cli_verifier(node.rpc_url, world.registry.address)
        sign = badge_signer(world.store, world.issuer)
        path = pathway()
        note(f"  profile: N = {n:,}: stack_pathway under cProfile ...")
        prof = cProfile.Profile()
        started = time.perf_counter()
        prof.enable()
        stacked = stack_pathway(world.store, world.row, path, verifier, sign=sign)
        prof.disable()
        wall = time.perf_counter() - started
        assert stacked.created == n
        world.store.close()
    buf = io.StringIO()
    buf.write(f"cProfile of stack_pathway, N = {n:,} holders x {len(COMPONENTS)} components "
              f"({wall:.2f} s under the profiler)\n")
    for key, label in (("tottime", "own time"), ("cumulative", "cumulative time")):
        buf.write(f"\n-- top {top} by {label} --\n")
        stats = pstats.Stats(prof, stream=buf)
        stats.strip_dirs().sort_stats(key).print_stats(top)
    return buf.getvalue()


def print_table(results: list[Result]) -> None:
    label_w = 50
    head = f"{'':<{label_w}}" + "".join(f"{f'N = {r.n:,}':>24}" for r in results)
    print(f"Stacking: N holders x {len(COMPONENTS)} components (one issuer, signed, anchored on Anvil)   [sqlite]")
    print(head)
    print("-" * len(head))
    for key in results[0].setup_seconds:
        print(f"{'set-up: ' + key:<{label_w}}" + "".join(f"{r.setup_seconds[key]:>12.3f} s {'':>9}" for r in results))
    print(f"{'(a) stack_pathway (verify 3 x N on chain, issue N)':<{label_w}}"
          + "".join(f"{r.stack_seconds:>12.3f} s {r.n / r.stack_seconds:>7,.0f}/s" for r in results))
    print(f"{'    per holder (3 component verifications + issue)':<{label_w}}"
          + "".join(f"{r.stack_seconds / r.n * 1000:>12.3f} ms{'':>9}" for r in results))
    print(f"{'    CPU time (this process + forked builders)':<{label_w}}"
          + "".join(f"{r.stack_cpu:>12.3f} s {r.stack_cpu / r.n * 1000:>6.2f} ms/holder" for r in results))
    print(f"{'(b) Anchorer.run (the N stacks, one batch)':<{label_w}}"
          + "".join(f"{r.anchor_seconds:>12.3f} s {r.n / r.anchor_seconds:>7,.0f}/s" for r in results))
    print(f"{'(a)+(b) stacked credentials/s':<{label_w}}"
          + "".join(f"{r.n / (r.stack_seconds + r.anchor_seconds):>24,.0f}" for r in results))
    print(f"{'(c) verify_stack, 1 stack + 3 components, cold':<{label_w}}"
          + "".join(f"{r.verify_cold * 1000:>21.1f} ms" for r in results))
    print(f"{'    warm (best of --repeat)':<{label_w}}" + "".join(f"{r.verify_warm * 1000:>21.1f} ms" for r in results))
    print(f"{'    verdict (components)':<{label_w}}"
          + "".join(f"{r.verdict + ' (' + ','.join(r.component_status) + ')':>24}" for r in results))
    print("-" * len(head))
    at = next((r for r in results if r.n == TARGET_AT_N), None)
    if at is None:
        big = max(results, key=lambda r: r.n)
        print(f"  the issue states N = {TARGET_AT_N:,}; largest run here N = {big.n:,}: "
              f"{big.n / big.stack_seconds:,.0f} stacked credentials/s in stack_pathway; at that rate "
              f"{TARGET_AT_N:,} holders would take ~{TARGET_AT_N / (big.n / big.stack_seconds):,.0f} s")
    else:
        print(f"  N = {TARGET_AT_N:,}: {at.n / at.stack_seconds:,.0f} stacked credentials/s in stack_pathway, "
              f"one stack with its components verified in {at.verify_warm * 1000:.1f} ms warm, {at.verify_cold * 1000:.1f} ms cold")
    print("  cold: first verify_stack in a fresh process (imports and verifier construction excluded); "
          "each of the 4 credentials reads the chain through the one reader the CLI builds")


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 5 and sys.argv[1] == "--cold":
        cold_child(Path(sys.argv[2]), sys.argv[3], sys.argv[4])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--holders", default=str(TARGET_AT_N), help="N holders, comma-separated for several runs (default 100000)")
    p.add_argument("--repeat", type=int, default=7, help="warm verify_stack runs; the best is kept (default 7)")
    p.add_argument("--profile", type=int, default=0, help="also profile stack_pathway over N holders (0: no)")
    p.add_argument("--top", type=int, default=25, help="functions shown per profile listing (default 25)")
    p.add_argument("--tmpdir", help="where the temporary directories go (default: the system's)")
    args = p.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.holders.split(",") if s.strip()]
    print(f"anchor stacking bench — Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPU(s), {platform.platform(terse=True)}, load average {os.getloadavg()[0]:.1f} at start")
    print()
    results = [run(n, args.tmpdir, max(1, args.repeat)) for n in sizes]
    if results:
        print_table(results)
        print(f"  load average {os.getloadavg()[0]:.1f} at the end (other processes share the CPUs: see the CPU time row)")
    if args.profile > 0:
        print()
        print(profile(args.profile, args.tmpdir, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
