"""Poverty-alleviation product certification: granted and revoked by admins, history kept, checked by day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.audit import service as audit
from livecommerce.catalog.models import ProductCertification
from livecommerce.catalog.schemas import CertificationCreate
from livecommerce.catalog.service import get_product
from livecommerce.kit.errors import InvalidInput, NotFound
from livecommerce.kit.i18n import _l
from livecommerce.kit.principal import Principal

# Certificates are issued by Chinese offices: `valid_until` is a day on the offices' calendar.
CERTIFICATION_ZONE = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Validity:
    """When one certificate counted: from `granted_at` through `valid_until`, ended sooner by `revoked_at`."""

    granted_at: datetime
    valid_until: date
    revoked_at: datetime | None

    def covers(self, at: datetime) -> bool:
        """True when the certificate was in force at `at`."""
        if at < self.granted_at or (self.revoked_at is not None and at >= self.revoked_at):
            return False
        return at.astimezone(CERTIFICATION_ZONE).date() <= self.valid_until


def _validity(row: ProductCertification) -> Validity:
    return Validity(row.granted_at, row.valid_until, row.revoked_at)


async def validities(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, list[Validity]]:
    """Every certificate each product ever had, revoked ones included."""
    ids = sorted(set(product_ids))
    result: dict[int, list[Validity]] = defaultdict(list)
    if not ids:
        return result
    rows = await session.scalars(select(ProductCertification).where(col(ProductCertification.product_id).in_(ids)))
    for row in rows:
        result[row.product_id].append(_validity(row))
    return result


def certified_at(history: Iterable[Validity], at: datetime) -> bool:
    """True when any certificate of the history was in force at `at`."""
    return any(v.covers(at) for v in history)


async def certified_ids(session: AsyncSession, product_ids: Iterable[int], at: datetime) -> set[int]:
    """The products among `product_ids` certified at `at`."""
    return {pid for pid, history in (await validities(session, product_ids)).items() if certified_at(history, at)}


async def grant(
    session: AsyncSession, principal: Principal, product_id: int, data: CertificationCreate, now: datetime
) -> ProductCertification:
    """Certify a product (a new certificate; earlier ones stay in the history); audited."""
    await get_product(session, product_id)
    if data.valid_until < now.astimezone(CERTIFICATION_ZONE).date():
        raise InvalidInput(
            _l("The certificate has already expired."), extra={"errors": [{"field": "valid_until", "message": "must not be in the past"}]}
        )
    row = ProductCertification(
        product_id=product_id,
        certificate_no=data.certificate_no,
        valid_until=data.valid_until,
        granted_at=now,
        granted_by=principal.id or None,
    )
    session.add(row)
    await session.flush()
    details = {"certificate_no": data.certificate_no, "valid_until": data.valid_until.isoformat()}
    await audit.record(session, principal, "product.certified", f"product:{product_id}", details, now=now)
    return row


async def revoke(session: AsyncSession, principal: Principal, product_id: int, now: datetime) -> int:
    """Revoke every certificate of the product still in force (404 when there is none); audited; returns how many."""
    await get_product(session, product_id)
    rows = list(
        await session.scalars(
            select(ProductCertification)
            .where(col(ProductCertification.product_id) == product_id, col(ProductCertification.revoked_at).is_(None))
            .with_for_update()
        )
    )
    live = [r for r in rows if _validity(r).covers(now)]
    if not live:
        raise NotFound(_l("This product has no certificate in force."))
    for row in live:
        row.revoked_at = now
        row.revoked_by = principal.id or None
        session.add(row)
    await session.flush()
    details = {"certificate_nos": sorted(r.certificate_no for r in live)}
    await audit.record(session, principal, "product.certification_revoked", f"product:{product_id}", details, now=now)
    return len(live)
