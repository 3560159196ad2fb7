"""Set-up shared by the benchmarks: a registered issuer with N credentials issued and anchored."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anchor.app.anchoring import Anchorer  # noqa: E402
from anchor.app.issuing import issue_credentials  # noqa: E402
from anchor.app.registration import register_issuer  # noqa: E402
from anchor.chain.signer import Signer  # noqa: E402
from anchor.chain.writer import Registry  # noqa: E402
from anchor.core.achievement import build_achievement, parse_achievement_text  # noqa: E402
from anchor.core.roster import parse_roster  # noqa: E402
from anchor.store import Store  # noqa: E402


def issue_and_anchor(registry: Registry, issuer: Signer, admin: Signer, db_url: str, n: int, *, max_batch: int = 1_000_000) -> Store:
    """Register ``issuer`` (with ``admin``), issue ``n`` credentials of the sample achievement into
    ``db_url`` and anchor them in batches of ``max_batch``. Returns the open store."""
    store = Store.open(db_url)
    register_issuer(store, registry, issuer, admin, name="Bench University", profile_id="https://bench.example/issuer")
    row = store.issuer(issuer.address)
    assert row is not None
    roster = "name,email\n" + "".join(f"Learner {i},learner{i}@bench.example\n" for i in range(n))
    achievement = build_achievement(parse_achievement_text((ROOT / "examples" / "achievement.yaml").read_text()))
    issue_credentials(store, row, achievement, parse_roster(roster))
    Anchorer(store, registry, issuer, row).run(max_batch=max_batch)
    return store
