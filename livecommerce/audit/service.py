"""Appending to the audit chain and proving it whole."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.audit.models import AuditHead, AuditRecord
from livecommerce.kit.db import insert_or_ignore
from livecommerce.kit.pagination import PageParams, paginate
from livecommerce.kit.principal import Principal

GENESIS = "0" * 64
_HEAD_ID = 1


def record_hash(prev_hash: str, at: datetime, actor_id: int | None, actor: str, action: str, target: str, details: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and this record's canonical JSON."""
    body = json.dumps(
        {
            "prev": prev_hash,
            "at": at.isoformat(),
            "actor_id": actor_id,
            "actor": actor,
            "action": action,
            "target": target,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


async def _lock_head(session: AsyncSession) -> AuditHead:
    head = await session.scalar(select(AuditHead).where(col(AuditHead.id) == _HEAD_ID).with_for_update())
    if head is None:
        # The migration seeds the head; recreate it if it is missing, racing writers included.
        await insert_or_ignore(session, AuditHead, {"id": _HEAD_ID, "last_hash": GENESIS, "count": 0})
        head = await session.scalar(select(AuditHead).where(col(AuditHead.id) == _HEAD_ID).with_for_update())
    assert head is not None
    return head


async def record(
    session: AsyncSession, actor: Principal | None, action: str, target: str, details: dict[str, Any], *, now: datetime
) -> AuditRecord:
    """Append one record to the chain in the caller's transaction."""
    now = now.astimezone(UTC)
    head = await _lock_head(session)
    actor_id = actor.id if actor is not None and actor.id else None
    actor_name = actor.username if actor is not None else "system"
    digest = record_hash(head.last_hash, now, actor_id, actor_name, action, target, details)
    entry = AuditRecord(
        at=now, actor_id=actor_id, actor=actor_name, action=action, target=target, details=details, prev_hash=head.last_hash, hash=digest
    )
    session.add(entry)
    head.last_hash = digest
    head.count += 1
    session.add(head)
    await session.flush()
    return entry


async def list_records(
    session: AsyncSession, page: PageParams, *, action: str | None = None, target: str | None = None
) -> tuple[list[AuditRecord], str | None]:
    """One page of the chain, oldest first, optionally of one action or target."""
    stmt = select(AuditRecord)
    if action:
        stmt = stmt.where(col(AuditRecord.action) == action)
    if target:
        stmt = stmt.where(col(AuditRecord.target) == target)
    return await paginate(session, stmt, AuditRecord.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None


@dataclass(frozen=True)
class Verification:
    """The result of walking the chain."""

    ok: bool
    records: int
    first_bad_id: int | None = None
    reason: str | None = None


async def verify(session: AsyncSession, batch: int = 1000) -> Verification:
    """Recompute every hash in order; the first mismatch, gap or head disagreement fails it."""
    prev = GENESIS
    count = 0
    last_id = 0
    while True:
        rows = (
            await session.scalars(select(AuditRecord).where(col(AuditRecord.id) > last_id).order_by(col(AuditRecord.id)).limit(batch))
        ).all()
        if not rows:
            break
        for row in rows:
            assert row.id is not None
            if row.prev_hash != prev:
                return Verification(
                    False, count, row.id, "prev_hash does not match the record before it (a record was removed or reordered)"
                )
            expected = record_hash(row.prev_hash, row.at, row.actor_id, row.actor, row.action, row.target, row.details)
            if expected != row.hash:
                return Verification(False, count, row.id, "the record's content does not match its hash (it was edited)")
            prev = row.hash
            count += 1
            last_id = row.id
    head = await session.get(AuditHead, _HEAD_ID)
    if head is not None and (head.last_hash != prev or head.count != count):
        return Verification(False, count, None, "the chain head does not match the last record (records were removed from the end)")
    return Verification(True, count)
