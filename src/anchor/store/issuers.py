"""Issuers and the achievements they award."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select

from anchor.core.canonical import canonical_bytes
from anchor.core.errors import InputError, NotFound
from anchor.core.records import Achievement, Issuer
from anchor.store.engine import Database, now
from anchor.store.schema import AchievementRow, CredentialRow, IssuerRow


def issuer_record(row: IssuerRow) -> Issuer:
    return Issuer(row.id, row.address, row.profile_uri, row.profile_json, row.created_at, row.did,
                  bytes(row.signing_key) if row.signing_key is not None else None, row.public_url,
                  bool(row.public_pages) if row.public_pages is not None else True)


class _Keep:
    """The default of :meth:`IssuerQueries.set_issuer_identity`: leave the column as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


def achievement_record(row: AchievementRow) -> Achievement:
    return Achievement(row.id, row.issuer_id, row.achievement_uri, row.name, row.content_hash)


class IssuerQueries(Database):
    def upsert_issuer(self, address: str, profile_uri: str, profile: dict[str, Any]) -> Issuer:
        """The issuer with this address, created or given this profile (safe to race: the
        address is unique and the insert skips an existing row)."""
        profile_json = json.dumps(profile, sort_keys=True)
        with self.session() as s:
            s.execute(self.insert_ignore(IssuerRow.__table__).values(
                address=address, profile_uri=profile_uri, profile_json=profile_json, created_at=now()))
            row = s.scalars(select(IssuerRow).where(IssuerRow.address == address)).one()
            row.profile_uri, row.profile_json = profile_uri, profile_json
            s.flush()
            return issuer_record(row)

    def set_issuer_identity(self, issuer_id: int, *, did: str | None = KEEP, signing_key: bytes | None = KEEP,
                            public_url: str | None = KEEP) -> Issuer:
        """Set what credentials name for the issuer: its DID, its current Ed25519 public key
        (32 bytes), the public base URL of its status lists and pages. Arguments left out keep
        their value; None clears one."""
        values: dict[str, Any] = {}
        if did is not KEEP:
            values["did"] = did
        if signing_key is not KEEP:
            if signing_key is not None and len(signing_key) != 32:
                raise InputError(f"an Ed25519 public key is 32 bytes, got {len(signing_key)}", reason="invalid_signing_key")
            values["signing_key"] = signing_key
        if public_url is not KEEP:
            values["public_url"] = public_url
        with self.session() as s:
            row = s.get(IssuerRow, issuer_id)
            if row is None:
                raise NotFound(f"no issuer {issuer_id} in this database")
            for name, value in values.items():
                setattr(row, name, value)
            s.flush()
            return issuer_record(row)

    def issuer(self, address: str) -> Issuer | None:
        with self.session() as s:
            row = s.scalar(select(IssuerRow).where(IssuerRow.address == address))
            return issuer_record(row) if row is not None else None

    def issuer_by_id(self, issuer_id: int) -> Issuer | None:
        with self.session() as s:
            row = s.get(IssuerRow, issuer_id)
            return issuer_record(row) if row is not None else None

    def set_public_pages(self, issuer_id: int, on: bool) -> None:
        """Serve (or stop serving) public pages for the issuer's credentials."""
        with self.session() as s:
            row = s.get(IssuerRow, issuer_id)
            if row is None:
                raise NotFound(f"no issuer {issuer_id} in this database")
            row.public_pages = bool(on)

    def issuers(self) -> list[Issuer]:
        with self.session() as s:
            return [issuer_record(r) for r in s.scalars(select(IssuerRow).order_by(IssuerRow.id))]

    def achievement_for(self, issuer_id: int, achievement: dict[str, Any]) -> Achievement:
        """The stored achievement with exactly this content, created if new (insert-or-skip on
        its content hash, so two processes issuing it for the first time both get the same row)."""
        content = canonical_bytes(achievement)
        digest = hashlib.sha256(content).hexdigest()
        with self.session() as s:
            s.execute(self.insert_ignore(AchievementRow.__table__).values(
                issuer_id=issuer_id, achievement_uri=achievement["id"], name=achievement["name"], content_hash=digest,
                definition_json=content.decode(), created_at=now()))
            row = s.scalars(select(AchievementRow).where(AchievementRow.issuer_id == issuer_id,
                                                         AchievementRow.content_hash == digest)).one()
            return achievement_record(row)

    def recipients_of(self, achievement_uri: str, issuer_id: int) -> set[str]:
        """recipient_ref of everyone who already holds (any version of) this achievement."""
        with self.session() as s:
            q = (
                select(CredentialRow.recipient_ref)
                .join(AchievementRow, CredentialRow.achievement_id == AchievementRow.id)
                .where(AchievementRow.issuer_id == issuer_id, AchievementRow.achievement_uri == achievement_uri)
            )
            return set(s.scalars(q))
