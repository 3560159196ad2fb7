"""Audits against a real Anvil: each finding produced by creating its situation for real."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from anchor.app.anchoring import Anchorer
from anchor.app.auditing import compare_with_views, history_audit, issuer_audit, read_history
from anchor.app.issuing import issue_credentials
from anchor.app.registration import register_issuer
from anchor.app.revoking import request_revocation, submit_revocations
from anchor.app.signing_keys import dev_signing_key_for
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.reader import RegistryReader
from anchor.chain.rpc import RpcError
from anchor.chain.signer import dev_signer
from anchor.chain.writer import Registry
from anchor.core.errors import ChainError, ConfigError, ContractRevert
from anchor.core.history import replay
from anchor.core.registry import LogEvent
from anchor.core.roster import parse_roster
from anchor.store import Store
from anchor.store.schema import BatchRow, CredentialRow, DocumentRow, RevocationRow, TransactionRow, TreeChunkRow
from tests.helpers import Cli
from tests.world import PROFILE, World, achievement, make_world, publish_lists

pytestmark = pytest.mark.chain


def view_of(w: World) -> RegistryReader:
    return RegistryReader.connect(w.chain.rpc_url, w.registry.address, head_ttl=0)


def codes(w: World, store: Store | None = None, **kw: Any) -> dict[str, list[dict[str, Any]]]:
    report = issuer_audit(store or w.store, read_history(view_of(w)), w.issuer.address, **kw)
    out: dict[str, list[dict[str, Any]]] = {}
    for f in report.findings:
        out.setdefault(f.code, []).append(f.to_json())
    return out


@pytest.fixture
def world(anvil: DevChain, tmp_path: Path) -> World:
    return make_world(Chain(anvil.rpc_url), tmp_path, n=12, max_batch=5, status_lists=True)


def test_clean_registry_and_database_report_nothing(world: World) -> None:
    report = history_audit(view_of(world))
    assert report.findings == []
    assert len(report.state.batches) == 3 and sum(b.leaf_count for b in report.state.batches.values()) == 12
    assert codes(world) == {}


def test_altered_document(world: World) -> None:
    with world.store.session() as s:
        row = s.scalar(select(CredentialRow).where(CredentialRow.leaf_index == 2).limit(1))
        assert row is not None
        stored = s.get(DocumentRow, row.id)
        assert stored is not None
        doc = stored.document.replace(b"Person", b"Persom", 1)
        s.execute(update(DocumentRow).where(DocumentRow.credential_pk == row.id).values(document=doc))
        altered = row.credential_id
    found = codes(world)
    assert found["credential_altered"][0]["subject"]["credentials"] == [altered]
    assert found["root_mismatch"][0]["severity"] == "critical"
    assert set(found) == {"credential_altered", "root_mismatch"}


def test_deleted_credential_and_deleted_batch(world: World) -> None:
    with world.store.session() as s:
        victim = s.scalar(select(BatchRow).order_by(BatchRow.id))
        assert victim is not None
        one = s.scalar(select(CredentialRow.id).where(CredentialRow.batch_id == victim.id, CredentialRow.leaf_index == 1))
        s.execute(delete(DocumentRow).where(DocumentRow.credential_pk == one))
        s.execute(delete(CredentialRow).where(CredentialRow.id == one))
    found = codes(world)
    assert "credentials_missing" in found and "root_mismatch" in found

    with world.store.session() as s:  # now drop the whole batch
        members = select(CredentialRow.id).where(CredentialRow.batch_id == victim.id)
        s.execute(delete(DocumentRow).where(DocumentRow.credential_pk.in_(members)))
        for table in (CredentialRow, TreeChunkRow, TransactionRow):
            s.execute(delete(table).where(table.batch_id == victim.id))
        s.execute(delete(BatchRow).where(BatchRow.id == victim.id))
    found = codes(world)
    assert list(found) == ["unknown_batch"]
    assert found["unknown_batch"][0]["subject"]["root"] == "0x" + victim.root.hex()


def test_anchoring_from_a_second_database(world: World, tmp_path: Path) -> None:
    hidden = Store.open(f"sqlite:///{tmp_path / 'hidden.db'}")
    register_issuer(hidden, world.registry, world.issuer, None, name="Uni", signing_key=dev_signing_key_for(world.issuer.address))
    row = hidden.issuer(world.issuer.address)
    assert row is not None
    issue_credentials(hidden, row, achievement(), parse_roster("name,email\nGhost,ghost@example.org\n"))
    (outcome,) = Anchorer(hidden, world.registry, world.issuer, row).run().outcomes
    found = codes(world)
    assert list(found) == ["unknown_batch"] and found["unknown_batch"][0]["subject"]["root"] == "0x" + outcome.root.hex()
    assert codes(world, store=hidden).keys() >= {"unknown_batch"}  # and the hidden DB does not know the real batches


def test_revocations_behind_the_databases_back_and_missing_on_chain(world: World) -> None:
    batch = world.store.batches(statuses=("confirmed",))[0]
    world.registry.revoke(world.issuer, batch.root, [(0, 0b100)], 1)  # not recorded in the DB
    found = codes(world)  # and the published status list still shows it valid
    assert list(found) == ["revocation_unknown_to_db", "status_list_unrevoked"]
    assert found["revocation_unknown_to_db"][0]["subject"]["indices"] == [2]
    (_, third, _), = world.store.iter_documents(batch.id, first=2, stop=3)
    assert found["status_list_unrevoked"][0]["subject"]["credentials"] == [third]
    publish_lists(world)  # the lists follow the chain: only the database is behind now
    found = codes(world)
    assert list(found) == ["revocation_unknown_to_db"] and found["revocation_unknown_to_db"][0]["subject"]["indices"] == [2]

    with world.store.session() as s:  # the DB claims a confirmed revocation the chain never saw
        cred = s.scalar(select(CredentialRow).where(CredentialRow.batch_id == batch.id, CredentialRow.leaf_index == 4))
        assert cred is not None
        s.add(RevocationRow(batch_id=batch.id, credential_pk=cred.id, leaf_index=4, reason_code=1, status="confirmed", created_at=0))
    found = codes(world)
    assert found["revocation_missing_on_chain"][0]["subject"]["indices"] == [4]

    row = world.store.issuer(world.issuer.address)
    assert row is not None
    request_revocation(world.store, row.id, [cred.credential_id], 1, None)  # already recorded: nothing new
    with world.store.session() as s:
        s.execute(delete(RevocationRow))
    request_revocation(world.store, row.id, [cred.credential_id], 1, None)
    submit_revocations(world.store, world.registry, world.issuer, row.id)
    assert list(codes(world)) == ["revocation_unknown_to_db", "status_list_unrevoked"]  # until the lists are published again,
    publish_lists(world)  # as `anchor revoke` does
    assert list(codes(world)) == ["revocation_unknown_to_db"]  # index 2 is still unknown to the DB


def test_remove_an_issuer_and_try_to_anchor(world: World) -> None:
    row = world.store.issuer(world.issuer.address)
    assert row is not None
    issue_credentials(world.store, row, achievement(), parse_roster("name,email\nLate,late@example.org\n"))
    world.registry.remove_issuer(world.admin, world.issuer.address)
    with pytest.raises(ConfigError, match="was removed from registry"):
        Anchorer(world.store, world.registry, world.issuer, row).run()
    with pytest.raises(ChainError) as e:  # going around anchor's own check does not help
        world.registry.anchor(world.issuer, b"\x42" * 32, 1)
    assert e.value.reason == "unauthorized_issuer"
    found = codes(world)
    assert list(found) == ["issuer_removed"] and found["issuer_removed"][0]["severity"] == "warning"
    assert history_audit(view_of(world)).findings == []


def test_backdated_credentials(anvil: DevChain, tmp_path: Path) -> None:
    month_ago = datetime.now(UTC) - timedelta(days=30)
    w = make_world(Chain(anvil.rpc_url), tmp_path, n=4, valid_from=month_ago, status_lists=True)
    report = issuer_audit(w.store, read_history(view_of(w)), w.issuer.address, backdate_threshold=7 * 86400)
    (finding,) = report.findings
    assert finding.code == "possible_backdating" and len(finding.subject["credentials"]) == 4
    assert report.backdating["overThreshold"] == 4
    assert 29 * 86400 < report.backdating["secondsBeforeAnchor"]["p50"] < 31 * 86400
    assert issuer_audit(w.store, read_history(view_of(w)), w.issuer.address, backdate_threshold=40 * 86400).findings == []


def test_chain_reset_then_reanchor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Restart Anvil without its state: every batch is missing; reanchor brings the audit back to clean."""
    state = tmp_path / "chain.json"
    node = DevChain.start(state_file=state)
    port = node.port
    cli = Cli(tmp_path / "home", node.rpc_url, capsys, db_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        cli.setup_issuer()
        roster = tmp_path / "r.csv"
        roster.write_text("name,email\n" + "".join(f"P{i},p{i}@example.org\n" for i in range(7)))
        cli.ok("issue", str(roster), "--achievement", str(Path(__file__).parents[1] / "examples" / "achievement.yaml"))
        assert "status lists: 1 published" in cli.ok("anchor", "--max-batch", "4")  # anchored = releasable: its list too
        assert json.loads(cli.ok("audit", "issuer", "--json"))["clean"]
    finally:
        node.stop()
    shutil.move(state, tmp_path / "old-state.json")  # the state file is lost
    node = DevChain.start(port=port)
    try:
        code, out, _ = cli("audit", "issuer", "--json")
        # The registry itself is gone with the state: redeploying from the same account at nonce 0
        # puts it back at the same address.
        assert code != 0
        cli.ok("deploy", "--force")
        cli.ok("issuer", "add", dev_signer(1).address, PROFILE)
        cli.ok("issuer", "key", "bind")  # the signing key's binding went with the old chain too
        code, out, _ = cli("audit", "issuer", "--json")
        report = json.loads(out)
        assert code == 1 and {f["code"] for f in report["findings"]} == {"missing_on_chain"} and len(report["findings"]) == 2
        dry = cli.ok("reanchor", "--dry-run")
        assert dry.count("is missing on chain") == 2 and "anchored again" not in dry, dry  # lists both batches ...
        code, out, _ = cli("audit", "issuer", "--json")
        assert code == 1 and len(json.loads(out)["findings"]) == 2, "... and writes nothing"
        assert cli.ok("reanchor").count("anchored again") == 2
        code, out, _ = cli("audit", "issuer", "--json")
        assert code == 0 and json.loads(out)["clean"], out
        assert cli("audit", "history")[0] == 0
        badges = tmp_path / "badges"
        cli.ok("export", str(badges))
        for f in badges.glob("*.json"):
            assert cli("verify", str(f))[0] == 0
    finally:
        node.stop()


def test_history_cli_outputs(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], anvil: DevChain) -> None:
    cli = Cli(tmp_path / "h", anvil.rpc_url, capsys)
    base = ["--registry", world.registry.address]
    out = cli.ok(*base, "audit", "history")
    assert "batches (3, 12 credentials)" in out and "consistent" in out
    data = json.loads(cli.ok(*base, "audit", "history", "--json"))
    assert data["consistent"] and len(data["batches"]) == 3 and data["issuers"][0]["address"] == world.issuer.address
    assert data["rpc"]["httpRequests"] >= 2
    csv_text = cli.ok(*base, "audit", "history", "--csv")
    assert csv_text.splitlines()[0].startswith("record,root,issuer") and csv_text.count("\nbatch,") == 3


def test_history_paging_survives_a_node_with_range_limits(world: World) -> None:
    view = view_of(world)
    real = view.rpc.batch
    refused = []

    def limited(calls: list[tuple[str, list[Any]]]) -> list[Any]:
        for method, params in calls:
            if method == "eth_getLogs":
                span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) + 1
                if span > 3:
                    refused.append(span)
                    raise RpcError("eth_getLogs", {"code": -32005, "message": f"query exceeds max block range 3 (asked {span})"})
        return real(calls)

    view.rpc.batch = limited  # type: ignore[method-assign]
    state = read_history(view, page=10_000)
    assert refused and len(state.batches) == 3
    assert compare_with_views(view_of(world), state) == []


def _ev(name: str, block: int, **args: Any) -> LogEvent:
    return LogEvent(name, args, block, 1_000 + block, bytes([block]) * 32, 0)


def test_replay_flags_what_a_genuine_registry_never_emits() -> None:
    alice, bob = "0x" + "aa" * 20, "0x" + "bb" * 20
    state = replay([
        _ev("IssuerAdded", 1, issuer=alice, id=1, profileURI="https://a.example"),
        _ev("BatchAnchored", 2, root=b"\x01" * 32, issuer=alice, leafCount=4),
        _ev("IssuerRemoved", 3, issuer=alice, id=1),
        _ev("BatchAnchored", 4, root=b"\x02" * 32, issuer=alice, leafCount=4),
        _ev("BatchAnchored", 5, root=b"\x03" * 32, issuer=bob, leafCount=4),
        _ev("CredentialsRevoked", 6, root=b"\x01" * 32, issuer=bob, reason=0, words=((0, 1),)),  # not bob's batch
        _ev("CredentialsRevoked", 7, root=b"\x09" * 32, issuer=alice, reason=0, words=((0, 1),)),
        _ev("BatchAnchored", 8, root=b"\x03" * 32, issuer=bob, leafCount=4),
    ])
    kinds = [a.kind for a in state.anomalies]
    assert kinds == ["anchor_after_removal", "anchor_by_non_issuer", "unknown_root", "unknown_root", "anchor_by_non_issuer", "reanchored_root"]
    assert state.revoked_indices(alice, b"\x01" * 32) == set()  # bob's revocation never touches alice's batch
    assert not state.issuers[alice].active and state.issuers[alice].removed_at == 1_003


def _attempt(refusal: str | None, call: Any, *args: Any) -> bool:
    """Make the call; True if it went through. ``refusal`` is the revert reason the model expects,
    None when the call must succeed."""
    if refusal is None:
        call(*args)
        return True
    with pytest.raises(ContractRevert) as e:
        call(*args)
    assert e.value.reason == refusal
    return False


OPS = st.lists(st.tuples(st.sampled_from(["add", "remove", "anchor", "revoke", "revoke_batch"]), st.integers(0, 3),
                         st.integers(1, 600), st.integers(0, 2**32 - 1)), min_size=3, max_size=14)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_event_rebuilt_state_equals_views_after_random_operations(anvil: DevChain, ops: list[tuple[str, int, int, int]]) -> None:
    chain = Chain(anvil.rpc_url)
    admin = dev_signer(0)
    reg, _ = Registry.deploy(chain, admin)
    actors = [dev_signer(i) for i in range(1, 5)]
    roots: list[tuple[bytes, Any, int]] = []
    # A model of what a correct registry allows: every operation it allows must succeed, every
    # one it refuses must be refused with exactly that reason (and then changes nothing).
    active: set[str] = set()
    revoked: dict[tuple[str, bytes], set[int]] = {}
    whole: set[tuple[str, bytes]] = set()
    for n, first in enumerate(actors[:2]):  # two issuers from the start: most examples anchor, some the same root
        reg.add_issuer(admin, first.address, f"https://issuer{n}.example")
        active.add(first.address)
    for kind, who, size, seed in ops:
        actor = actors[who]
        if kind == "add":
            if _attempt("issuer_already_active" if actor.address in active else None,
                        reg.add_issuer, admin, actor.address, f"https://issuer{who}.example"):
                active.add(actor.address)
        elif kind == "remove":
            if _attempt(None if actor.address in active else "issuer_not_active", reg.remove_issuer, admin, actor.address):
                active.discard(actor.address)
        elif kind == "anchor":
            root = (seed % 3 + 1).to_bytes(32, "big")  # few roots: repeats, and one root under several issuers
            refusal = ("unauthorized_issuer" if actor.address not in active
                       else "root_already_anchored" if (actor.address, root) in revoked else None)
            if _attempt(refusal, reg.anchor, actor, root, size):
                roots.append((root, actor, size))
                revoked[(actor.address, root)] = set()
        elif roots and kind == "revoke":
            root, owner, count = roots[seed % len(roots)]
            index = seed % count
            by = actor if seed % 3 == 0 else owner  # sometimes another issuer tries
            done = revoked.get((by.address, root))
            refusal = "unknown_batch" if done is None else "already_revoked" if index in done else None
            if _attempt(refusal, reg.revoke, by, root, [(index >> 8, 1 << (index & 0xFF))], seed % 5):
                revoked[(by.address, root)].add(index)
        elif roots:
            root, owner, _ = roots[seed % len(roots)]
            by = actor if seed % 3 == 0 else owner
            key = (by.address, root)
            refusal = "unknown_batch" if key not in revoked else "batch_already_revoked" if key in whole else None
            if _attempt(refusal, reg.revoke_batch, by, root, 2):
                whole.add(key)
    view = RegistryReader.connect(anvil.rpc_url, reg.address, head_ttl=0)
    state = read_history(view)
    assert compare_with_views(view, state) == []
    assert state.anomalies == []
    assert {(owner.address, r) for r, owner, _ in roots} == set(state.batches)


def test_audit_views_in_the_service(world: World) -> None:
    from anchor.api import create_app
    from anchor.api.service import ServiceConfig

    app = create_app(ServiceConfig(rpc_url=world.chain.rpc_url, registry=world.registry.address, database_url=world.db_url, head_ttl=0))
    c = app.test_client()
    page = c.get("/api/v1/audit/history?limit=2").json
    assert page["total"] == 6 and page["next"] == 2 and [e["event"] for e in page["events"]] == ["AdminTransferred", "IssuerAdded"]
    rest = c.get("/api/v1/audit/history?offset=2&limit=10").json
    assert rest["next"] is None and [e["event"] for e in rest["events"]] == ["SigningKeyBound"] + ["BatchAnchored"] * 3
    batch = world.store.batches(statuses=("confirmed",))[0]
    world.registry.revoke(world.issuer, batch.root, [(0, 0b11)], 4)
    one = c.get(f"/api/v1/audit/batches/0x{batch.root.hex()}").json
    assert one["revokedIndices"] == 2 and [e["event"] for e in one["events"]] == ["BatchAnchored", "CredentialsRevoked"]
    assert one["events"][1]["args"]["indices"] == [0, 1] and one["events"][1]["args"]["reasonName"] == "misconduct"
    timeline = c.get(f"/api/v1/audit/issuers/{world.issuer.address}").json
    assert [e["event"] for e in timeline["timeline"]] == ["IssuerAdded", "SigningKeyBound"] + ["BatchAnchored"] * 3 + ["CredentialsRevoked"]
    assert c.get(f"/api/v1/audit/issuers/{dev_signer(5).address}").status_code == 404
    assert c.get("/api/v1/audit/issuers/0x12").status_code == 422
    assert c.get("/api/v1/audit/batches/0x" + "00" * 32).status_code == 404
    assert c.get("/api/v1/audit/history?offset=-1").status_code == 422
