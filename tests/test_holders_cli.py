"""Delivery for issuers through the ``anchor`` command, against a real Anvil and SQLite/PostgreSQL:
the export manifest (and ``--batch`` / ``--new``), ``find``, ``revoke`` by UUID or badge file,
``issue --reissue`` of revoked and expired credentials, expiring counts, hidden pages."""

from __future__ import annotations

import csv
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from anchor.app.reissue import document_digest, superseded_id
from anchor.chain.anvil import DevChain
from anchor.core.canonical import canonical_bytes
from anchor.core.credential import without_proof
from anchor.store import Store
from tests.helpers import EXAMPLES, Cli, write_roster
from tests.receipts import receipt_of

pytestmark = pytest.mark.chain

ACHIEVEMENT = str(EXAMPLES / "achievement.yaml")
ACHIEVEMENT_NAME = "Data Analytics with SQL and Python"


@pytest.fixture
def cli(tmp_path: Path, anvil: DevChain, capsys: pytest.CaptureFixture[str], db_url: str) -> Cli:
    c = Cli(tmp_path / "home", anvil.rpc_url, capsys, db_url=db_url)
    c.setup_issuer()
    return c


def manifest(directory: Path) -> list[dict[str, str]]:
    with open(directory / "manifest.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def roots(cli: Cli) -> list[str]:
    return [line.split()[-1] for line in cli.ok("status", "--batches", "50").splitlines() if "confirmed" in line][::-1]


def test_export_writes_a_manifest_of_who_gets_which_file(cli: Cli, tmp_path: Path) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text("name,email,valid_until\n"
                      "Ada Lovelace,Ada.Lovelace@Example.org,2028-12-31\n"
                      "=HYPERLINK(\"http://evil.example\"),mallory@example.org,\n"
                      "+Plus Minus,-dash@example.org,\n"
                      "Grace Hopper,grace@example.org,\n")
    cli.ok("issue", str(roster), "--achievement", ACHIEVEMENT)
    cli.ok("anchor")
    out = cli.ok("export", str(tmp_path / "badges"), "--format", "json,png")
    assert "manifest: " in out and "(4 row(s)" in out
    rows = manifest(tmp_path / "badges")
    assert list(rows[0]) == ["id", "name", "email", "file", "page_url", "linkedin_url"]
    assert len(rows) == 4
    by_email = {r["email"]: r for r in rows}
    ada = by_email["ada.lovelace@example.org"]  # normalized as the roster normalizes it
    assert ada["name"] == "Ada Lovelace"
    uuid = ada["id"].removeprefix("urn:uuid:")
    assert ada["file"] == uuid + ".json"
    badge = json.loads((tmp_path / "badges" / ada["file"]).read_text())
    assert badge["id"] == ada["id"] and (tmp_path / "badges" / f"{uuid}.png").is_file()
    assert ada["page_url"] == f"http://127.0.0.1:8000/credentials/{uuid}"
    link = urlsplit(ada["linkedin_url"])
    assert (link.scheme, link.netloc, link.path) == ("https", "www.linkedin.com", "/profile/add")
    q = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert q == {"startTask": "CERTIFICATION_NAME", "name": ACHIEVEMENT_NAME, "organizationName": "Uni",
                 "issueYear": badge["validFrom"][:4], "issueMonth": str(int(badge["validFrom"][5:7])),
                 "expirationYear": "2028", "expirationMonth": "12", "certUrl": ada["page_url"], "certId": uuid}
    grace = by_email["grace@example.org"]
    assert "expirationYear" not in grace["linkedin_url"]
    # Spreadsheet formulas are defused: a leading = + - @ becomes text.
    assert by_email["mallory@example.org"]["name"] == "'=HYPERLINK(\"http://evil.example\")"
    assert by_email["'-dash@example.org"]["name"] == "'+Plus Minus"
    # The manifest's files are exactly the badges written.
    assert sorted(r["file"] for r in rows) == sorted(p.name for p in (tmp_path / "badges").glob("*.json"))


def test_export_one_batch_or_only_new_badges(cli: Cli, tmp_path: Path) -> None:
    cli.ok("issue", str(write_roster(tmp_path / "a.csv", 3, prefix="a")), "--achievement", ACHIEVEMENT)
    cli.ok("anchor")
    cli.ok("issue", str(write_roster(tmp_path / "b.csv", 2, prefix="b")), "--achievement", ACHIEVEMENT)
    cli.ok("anchor")
    first, second = roots(cli)

    out = cli.ok("export", str(tmp_path / "one"), "--batch", second)
    assert "wrote 2 badge(s)" in out
    assert sorted(r["email"] for r in manifest(tmp_path / "one")) == ["b0@example.org", "b1@example.org"]
    assert len(list((tmp_path / "one").glob("*.json"))) == 2

    # --new: what no export wrote yet (the first batch); then nothing.
    out = cli.ok("export", str(tmp_path / "new"), "--new")
    assert "wrote 3 badge(s) (json) from 1 batch(es)" in out
    assert sorted(r["email"] for r in manifest(tmp_path / "new")) == ["a0@example.org", "a1@example.org", "a2@example.org"]
    out = cli.ok("export", str(tmp_path / "new"), "--new")
    assert "wrote 0 badge(s)" in out and "nothing new to export" in out
    assert len(manifest(tmp_path / "new")) == 3  # the earlier manifest is left as it was

    cli.ok("issue", str(write_roster(tmp_path / "c.csv", 1, prefix="c")), "--achievement", ACHIEVEMENT)
    cli.ok("anchor")
    out = cli.ok("export", str(tmp_path / "new"), "--new")
    assert "wrote 1 badge(s)" in out and [r["email"] for r in manifest(tmp_path / "new")] == ["c0@example.org"]
    assert len(list((tmp_path / "new").glob("*.json"))) == 4

    # A full export still writes everything; --batch with an unknown root says so.
    assert "wrote 6 badge(s)" in cli.ok("export", str(tmp_path / "all"))
    assert len(manifest(tmp_path / "all")) == 6
    code, _, err = cli("export", str(tmp_path / "x"), "--batch", "0x" + "ab" * 32)
    assert code == 6 and "no batch with root 0x" + "ab" * 32 in err
    assert first != second


def test_a_partly_exported_batch_exports_only_its_new_credentials(cli: Cli, tmp_path: Path, db_url: str) -> None:
    from sqlalchemy import update

    from anchor.store.schema import CredentialRow

    cli.ok("issue", str(write_roster(tmp_path / "a.csv", 5)), "--achievement", ACHIEVEMENT)
    cli.ok("anchor")
    cli.ok("export", str(tmp_path / "all"))
    store = Store.open(db_url)
    try:
        with store.session() as s:  # two credentials as if they had never been exported
            s.execute(update(CredentialRow).where(CredentialRow.leaf_index.in_([1, 3])).values(exported_at=None))
    finally:
        store.close()
    out = cli.ok("export", str(tmp_path / "two"), "--new")
    assert "wrote 2 badge(s)" in out
    rows = manifest(tmp_path / "two")
    assert sorted(r["email"] for r in rows) == ["p1@example.org", "p3@example.org"]
    for r in rows:  # each carries its own proof, and is the very file the full export wrote
        written = (tmp_path / "two" / r["file"]).read_bytes()
        assert written == (tmp_path / "all" / r["file"]).read_bytes()
        assert receipt_of(json.loads(written))["leafIndex"] in (1, 3)


def test_find_by_email_and_name(cli: Cli, tmp_path: Path) -> None:
    cli.ok("issue", str(EXAMPLES / "roster.csv"), "--achievement", ACHIEVEMENT)
    out = cli.ok("find", "--email", "ADA.Lovelace@example.org")
    assert "Ada Lovelace <ada.lovelace@example.org>" in out and ACHIEVEMENT_NAME in out and " pending" in out
    assert "1 credential(s)" in out
    cli.ok("anchor")
    out = cli.ok("find", "--email", "ada.lovelace@example.org")
    assert " anchored" in out and "until 2028-12-31" in out
    cid = out.split()[0]
    uuid = cid.removeprefix("urn:uuid:")
    assert f"page http://127.0.0.1:8000/credentials/{uuid}  file {uuid}.json" in out

    out = cli.ok("find", "--name", "LOVE")
    assert "Ada Lovelace" in out and "1 credential(s)" in out
    assert "no credential found" in cli.ok("find", "--name", "%")  # a LIKE wildcard is a plain character
    assert "no credential found" in cli.ok("find", "--email", "nobody@example.org")
    code, _, err = cli("find")
    assert code == 2 and "give --email or --name" in err

    cli.ok("revoke", uuid, "--reason", "issued_in_error")
    assert " revoked" in cli.ok("find", "--email", "ada.lovelace@example.org")


def test_revoke_by_bare_uuid_badge_file_or_file_name(cli: Cli, tmp_path: Path) -> None:
    cli.ok("issue", str(write_roster(tmp_path / "r.csv", 4)), "--achievement", ACHIEVEMENT)
    cli.ok("anchor")
    badges = tmp_path / "b"
    cli.ok("export", str(badges), "--format", "json,png")
    rows = sorted(manifest(badges), key=lambda r: r["email"])
    bare = rows[0]["id"].removeprefix("urn:uuid:").upper()  # any case
    by_json = str(badges / rows[1]["file"])
    by_png = str(badges / rows[2]["file"].replace(".json", ".png"))
    by_name = rows[3]["file"]  # just the exported file's name, as listed in the manifest
    out = cli.ok("revoke", bare, by_json, by_png, by_name, "--reason", "issued_in_error")
    assert "recorded 4 revocation(s)" in out and "4 index(es)" in out
    statuses = cli.ok("find", "--name", "Person")
    assert statuses.count(" revoked") == 4

    code, _, err = cli("revoke", "not-a-badge")
    assert code == 2
    assert "'not-a-badge' is not a credential id (urn:uuid:<uuid> or <uuid>), nor a badge file (no such file)" in err
    junk = tmp_path / "junk.txt"
    junk.write_text("hello")
    code, _, err = cli("revoke", str(junk))
    assert code == 2 and f"{junk} is a file but not a badge" in err


def test_reissue_renews_revoked_and_expired_credentials(cli: Cli, tmp_path: Path, db_url: str) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text("name,email,valid_from,valid_until\n"
                      "Ada,ada@example.org,,\n"
                      "Bob,bob@example.org,2020-01-01,2020-12-31\n"
                      "Cy,cy@example.org,,\n")
    cli.ok("issue", str(roster), "--achievement", ACHIEVEMENT)
    cli.ok("anchor")
    old = tmp_path / "old"
    cli.ok("export", str(old))
    by_email = {r["email"]: r for r in manifest(old)}
    cli.ok("revoke", by_email["ada@example.org"]["id"], "--reason", "issued_in_error")

    out = cli.ok("issue", str(roster), "--achievement", ACHIEVEMENT)
    assert "issued 0 pending" in out
    assert "skipped 1 recipient(s) who already hold it (rows 4)" in out
    assert "skipped 2 recipient(s) whose credential is revoked or expired (rows 2, 3); run again with --reissue" in out

    # The renewal roster gives the new dates (Bob's row above would issue an expired badge again).
    renewal = tmp_path / "renewal.csv"
    renewal.write_text("name,email\nAda,ada@example.org\nBob,bob@example.org\nCy,cy@example.org\n")
    out = cli.ok("issue", str(renewal), "--achievement", ACHIEVEMENT, "--reissue")
    assert "issued 2 pending" in out and "of which 2 renew or replace a credential (1 revoked, 1 expired)" in out
    assert f"row 2: supersedes {by_email['ada@example.org']['id']} (revoked)" in out
    assert f"row 3: supersedes {by_email['bob@example.org']['id']} (expired)" in out
    # Renewed once: running it again renews nothing more.
    out = cli.ok("issue", str(renewal), "--achievement", ACHIEVEMENT, "--reissue")
    assert "issued 0 pending" in out and "skipped 3 recipient(s) who already hold it" in out

    cli.ok("anchor")
    new = tmp_path / "new"
    assert "wrote 2 badge(s)" in cli.ok("export", str(new), "--new")
    renewed = {r["email"]: r for r in manifest(new)}
    assert set(renewed) == {"ada@example.org", "bob@example.org"}
    store = Store.open(db_url)
    try:
        for email in ("ada@example.org", "bob@example.org"):
            before, after = by_email[email]["id"], renewed[email]["id"]
            record = store.credential(after)
            assert record is not None and (record.generation, record.supersedes) == (1, before)
            badge = json.loads((new / renewed[email]["file"]).read_text())
            assert superseded_id(badge) == before
            old_document = canonical_bytes(without_proof(json.loads((old / by_email[email]["file"]).read_text())))
            assert badge["relatedResource"] == [{"id": before, "digestMultibase": document_digest(old_document)}]
            assert store.document_of(before) is not None and store.document_of(before)[0] == old_document  # type: ignore[index]
    finally:
        store.close()
    # The new ones verify (signature over the link included); the old ones say why they were renewed.
    for email in ("ada@example.org", "bob@example.org"):
        code, out, _ = cli("verify", str(new / renewed[email]["file"]))
        assert code == 0 and out.startswith("VALID"), out
    code, out, _ = cli("verify", str(old / by_email["ada@example.org"]["file"]))
    assert code != 0 and out.startswith("REVOKED"), out
    code, out, _ = cli("verify", str(old / by_email["bob@example.org"]["file"]))
    assert code != 0 and out.startswith("EXPIRED"), out
    found = cli.ok("find", "--email", "ada@example.org")
    assert " revoked" in found and f"(supersedes {by_email['ada@example.org']['id']})" in found


def test_status_counts_badges_expiring_within_30_and_90_days(cli: Cli, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    roster = tmp_path / "r.csv"
    soon, later, far = (today + timedelta(days=d) for d in (10, 60, 400))
    roster.write_text("name,email,valid_until\n"
                      f"A,a@example.org,{soon}\nB,b@example.org,{soon}\nC,c@example.org,{later}\n"
                      f"D,d@example.org,{far}\nE,e@example.org,\n")
    cli.ok("issue", str(roster), "--achievement", ACHIEVEMENT)
    status = cli.ok("status")
    assert "expiring within 30 days: 2 (first: " in status and f"({soon})" in status
    assert "expiring within 90 days: 3" in status
    cli.ok("anchor")
    a = cli.ok("find", "--email", "a@example.org").split()[0]
    cli.ok("revoke", a)
    status = cli.ok("status")
    assert "expiring within 30 days: 1 " in status and "expiring within 90 days: 2 " in status
    assert a not in status


def test_hide_unhide_and_public_pages(cli: Cli, tmp_path: Path, db_url: str) -> None:
    cli.ok("issue", str(write_roster(tmp_path / "r.csv", 2)), "--achievement", ACHIEVEMENT)
    cid = cli.ok("find", "--email", "p0@example.org").split()[0]
    assert f"{cid}: page hidden" in cli.ok("hide", cid.removeprefix("urn:uuid:"))
    store = Store.open(db_url)
    try:
        assert store.visibility(cid) == (True, True)
        assert f"{cid}: page shown" in cli.ok("unhide", cid)
        assert store.visibility(cid) == (False, True)
        assert "public credential pages: off" in cli.ok("pages", "off")
        assert store.visibility(cid) == (False, False)
        assert "public credential pages: on at http://127.0.0.1:8000/credentials/<id>" in cli.ok("pages", "on")
        assert store.visibility(cid) == (False, True)
    finally:
        store.close()
    code, _, err = cli("hide", "urn:uuid:00000000-0000-4000-8000-000000000000")
    assert code == 6 and "no credential" in err
    assert time.time() > 0
