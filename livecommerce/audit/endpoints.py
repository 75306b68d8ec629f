"""Reading the audit log (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from livecommerce.audit import service
from livecommerce.kit.auth import AdminUser
from livecommerce.kit.deps import SessionDep
from livecommerce.kit.pagination import Page, PageDep

router = APIRouter(prefix="/api", tags=["audit"])


class AuditRecordPublic(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerification(BaseModel):
    ok: bool
    records: int
    first_bad_id: int | None
    reason: str | None


@router.get("/audit", response_model=Page[AuditRecordPublic], summary="The audit log, oldest first (admin)")
async def list_audit(
    session: SessionDep,
    _admin: AdminUser,
    page: PageDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AuditRecordPublic]:
    rows, cursor = await service.list_records(session, page, action=action, target=target)
    return Page(items=[AuditRecordPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor)


@router.get("/audit/verify", response_model=AuditVerification, summary="Walk the hash chain and report whether it is whole (admin)")
async def verify_audit(session: SessionDep, _admin: AdminUser) -> AuditVerification:
    result = await service.verify(session)
    return AuditVerification(ok=result.ok, records=result.records, first_bad_id=result.first_bad_id, reason=result.reason)
