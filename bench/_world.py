"""Set-up shared by the benchmarks: a registered issuer (with its Ed25519 signing key bound in the
registry) and credentials issued, anchored and signed as ``anchor export`` signs them."""

from __future__ import annotations

import csv
import io
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anchor.app.anchoring import Anchorer  # noqa: E402
from anchor.app.issuing import issue_credentials  # noqa: E402
from anchor.app.registration import register_issuer  # noqa: E402
from anchor.app.signing import BadgeSigner, signer_for  # noqa: E402
from anchor.app.signing_keys import dev_signing_key_for  # noqa: E402
from anchor.app.status_lists import publish_status_lists, read_chain_revocations  # noqa: E402
from anchor.chain.signer import Signer  # noqa: E402
from anchor.chain.writer import Registry  # noqa: E402
from anchor.core.achievement import build_achievement, parse_achievement_text  # noqa: E402
from anchor.core.roster import parse_roster  # noqa: E402
from anchor.store import Store  # noqa: E402

ISSUER_NAME = "Bench University"


def roster_csv(n: int, seed: int = 1, start: int = 0) -> str:
    """A synthetic roster of ``n`` distinct recipients (numbered from ``start``); some rows fill the
    optional columns, so the credentials come in several shapes (evidence, validUntil, narrative
    present or absent)."""
    rnd = random.Random(seed + start)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["name", "email", "evidence_url", "valid_until", "narrative"])
    for i in range(start, start + n):
        w.writerow(
            [
                f"Learner {i:07d} {rnd.choice(('Ng', 'Okafor', 'Müller', 'García', 'Tanaka', 'Smith'))}",
                f"learner.{i:07d}@bench.example",
                f"https://bench.example/portfolio/{i}" if i % 3 == 0 else "",
                "2030-12-31" if i % 4 == 0 else "",
                f"Capstone project #{i}: an analysis of a public data set" if i % 5 == 0 else "",
            ]
        )
    return out.getvalue()


def register(store: Store, registry: Registry, issuer: Signer, admin: Signer) -> None:
    """Register ``issuer`` (authorized by ``admin``) named by the did:key of its development
    signing key, the key bound in the registry."""
    register_issuer(store, registry, issuer, admin, name=ISSUER_NAME, signing_key=dev_signing_key_for(issuer.address))


def badge_signer(store: Store, issuer: Signer) -> BadgeSigner:
    """The export signer of a registered ``issuer`` (what ``anchor export`` signs with)."""
    row = store.issuer(issuer.address)
    assert row is not None
    return signer_for(row.did, dev_signing_key_for(issuer.address), row.signing_key)


def issue_and_anchor(registry: Registry, issuer: Signer, admin: Signer, db_url: str, n: int, *, max_batch: int = 1_000_000,
                     roster: str | None = None) -> Store:
    """Register ``issuer`` (with ``admin``, signing key bound), issue ``n`` credentials of the
    sample achievement into ``db_url`` (``roster``: a CSV of them; default: names and emails
    only) and anchor them in batches of ``max_batch``. Returns the open store; sign the badges
    with :func:`badge_signer`."""
    store = Store.open(db_url)
    register(store, registry, issuer, admin)
    row = store.issuer(issuer.address)
    assert row is not None
    if roster is None:
        roster = "name,email\n" + "".join(f"Learner {i},learner{i}@bench.example\n" for i in range(n))
    achievement = build_achievement(parse_achievement_text((ROOT / "examples" / "achievement.yaml").read_text()))
    issue_credentials(store, row, achievement, parse_roster(roster))
    Anchorer(store, registry, issuer, row).run(max_batch=max_batch)
    publish_lists(store, registry, issuer)
    return store


def publish_lists(store: Store, registry: Registry, issuer: Signer) -> None:
    """The issuer's signed status lists from the chain's revocations, as ``anchor anchor`` publishes them."""
    row = store.issuer(issuer.address)
    assert row is not None
    publish_status_lists(store, row, read_chain_revocations(registry, row.address), badge_signer(store, issuer).sign_document,
                         head=registry.chain.block_number)


def _tree_pids(root: int, skip: frozenset[str]) -> list[int]:
    """``root`` and its descendants (through /proc/<pid>/task/*/children), leaving out whole
    subtrees whose command name is in ``skip`` (Anvil: the chain, not anchor)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            if pid != root and Path(f"/proc/{pid}/comm").read_text().strip() in skip:
                continue
            out.append(pid)
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


class TreeMemory:
    """Samples, every ``interval`` seconds on a thread, the sum of the proportional set size
    (PSS, /proc/<pid>/smaps_rollup) of a process and every process it forked (the builder and
    exporter workers), Anvil left out: the memory the run costs the machine, shared pages counted
    once. ``mark(name)`` records the peak so far under ``name``."""

    def __init__(self, root: int | None = None, interval: float = 0.05, skip: frozenset[str] = frozenset({"anvil"})) -> None:
        import threading

        self.root = os.getpid() if root is None else root
        self.interval, self.skip = interval, skip
        self.peak_kb = 0
        self.marks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        total = sum(_pss_kb(pid) for pid in _tree_pids(self.root, self.skip))
        self.peak_kb = max(self.peak_kb, total)
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> TreeMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    def mark(self, name: str) -> None:
        self.sample()
        self.marks[name] = self.peak_mb
