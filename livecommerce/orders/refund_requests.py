"""After-sales: a buyer asks for a refund with a reason; an organizer of the order's counties approves or rejects it.

Approval refunds exactly as `/refund` does (`service.refund_order`). Each decision is a
compare-and-set on the request's status after the order row is locked (the order row first,
as everywhere), so a second approval, or an approval racing a rejection, changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.audit import service as audit
from livecommerce.kit.errors import Conflict, Forbidden, InvalidState, NotFound
from livecommerce.kit.i18n import _l, status_word
from livecommerce.kit.pagination import PageParams
from livecommerce.kit.principal import Principal
from livecommerce.orders import repository, service
from livecommerce.orders.models import Order, OrderStatus, RefundRequest, RefundRequestStatus
from livecommerce.orders.schemas import RefundRequestPublic
from livecommerce.payments.registry import PaymentProviders


def request_public(request: RefundRequest) -> RefundRequestPublic:
    """The API view of a refund request."""
    assert request.id is not None
    return RefundRequestPublic(
        id=request.id,
        order_id=request.order_id,
        status=request.status,
        reason=request.reason,
        note=request.note,
        created_at=request.created_at,
        decided_at=request.decided_at,
    )


async def ask_refund(session: AsyncSession, principal: Principal, order_id: int, reason: str, *, now: datetime) -> RefundRequest:
    """The buyer asks for a refund of a paid order (before or after shipping); one open request per order."""
    order = await repository.get_order(session, order_id, for_update=True)
    if order is None:
        raise NotFound(_l("Order {order_id} does not exist.", order_id=order_id))
    if order.buyer_id != principal.id:
        raise Forbidden(_l("Only the buyer can ask for a refund."))
    if order.status != OrderStatus.paid:
        raise InvalidState(
            _l("Order {order_id} is {status}; only a paid order can be refunded.", order_id=order_id, status=status_word(order.status))
        )
    open_one = await session.scalar(
        select(RefundRequest.id).where(col(RefundRequest.order_id) == order_id, col(RefundRequest.status) == RefundRequestStatus.requested)
    )
    if open_one is not None:
        raise Conflict(_l("Order {order_id} has an open refund request already.", order_id=order_id), extra={"refund_request_id": open_one})
    request = RefundRequest(order_id=order_id, buyer_id=principal.id, reason=reason, created_at=now)
    session.add(request)
    await session.flush()
    await audit.record(session, principal, "refund.requested", f"order:{order_id}", {"refund_request_id": request.id}, now=now)
    return request


async def _locked(session: AsyncSession, principal: Principal, request_id: int) -> tuple[RefundRequest, Order]:
    """The request and its order, the order row locked first, then the request, for an organizer of its counties."""
    request = await session.get(RefundRequest, request_id)
    if request is None:
        raise NotFound(_l("Refund request {request_id} does not exist.", request_id=request_id))
    order = await repository.get_order(session, request.order_id, for_update=True)
    assert order is not None
    await service.require_staff_of(session, principal, order)
    stmt = select(RefundRequest).where(col(RefundRequest.id) == request_id).with_for_update().execution_options(populate_existing=True)
    locked = (await session.scalars(stmt)).one()
    return locked, order


async def _decide(
    session: AsyncSession, principal: Principal, request_id: int, status: RefundRequestStatus, note: str | None, now: datetime
) -> bool:
    result = await session.execute(
        update(RefundRequest)
        .where(col(RefundRequest.id) == request_id, col(RefundRequest.status) == RefundRequestStatus.requested)
        .values(status=status, note=note, decided_by=principal.id, decided_at=now)
        .returning(col(RefundRequest.id))
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def approve(
    session: AsyncSession, principal: Principal, request_id: int, *, now: datetime, providers: PaymentProviders | None = None
) -> RefundRequest:
    """Approve a request and refund its order; approving an approved request changes nothing."""
    request, order = await _locked(session, principal, request_id)
    if request.status == RefundRequestStatus.approved:
        return request
    if request.status != RefundRequestStatus.requested:
        raise InvalidState(_l("Refund request {request_id} was {status}.", request_id=request_id, status=status_word(request.status)))
    if order.status != OrderStatus.paid:
        raise InvalidState(_l("Order {order} is {status}; it can no longer be refunded.", order=order.id, status=status_word(order.status)))
    if not await _decide(session, principal, request_id, RefundRequestStatus.approved, None, now):
        raise InvalidState(_l("Refund request {request_id} changed while it was being decided.", request_id=request_id))
    # The money goes back through the provider that took it, before the ledger reverses.
    await service.refund_order(session, principal, order.id or 0, now=now, providers=providers)
    await audit.record(session, principal, "refund.approved", f"order:{order.id}", {"refund_request_id": request_id}, now=now)
    return await _fresh(session, request_id)


async def reject(session: AsyncSession, principal: Principal, request_id: int, note: str, *, now: datetime) -> RefundRequest:
    """Turn a request down with a note; rejecting a rejected request changes nothing."""
    request, order = await _locked(session, principal, request_id)
    if request.status == RefundRequestStatus.rejected:
        return request
    if request.status != RefundRequestStatus.requested:
        raise InvalidState(_l("Refund request {request_id} was {status}.", request_id=request_id, status=status_word(request.status)))
    if not await _decide(session, principal, request_id, RefundRequestStatus.rejected, note, now):
        raise InvalidState(_l("Refund request {request_id} changed while it was being decided.", request_id=request_id))
    await audit.record(session, principal, "refund.rejected", f"order:{order.id}", {"refund_request_id": request_id}, now=now)
    return await _fresh(session, request_id)


async def _fresh(session: AsyncSession, request_id: int) -> RefundRequest:
    stmt = select(RefundRequest).where(col(RefundRequest.id) == request_id).execution_options(populate_existing=True)
    return (await session.scalars(stmt)).one()


async def list_requests(
    session: AsyncSession, principal: Principal, page: PageParams, *, status: RefundRequestStatus | None = None
) -> tuple[list[RefundRequest], str | None]:
    """Refund requests oldest first: a buyer's own; staff's, those of their counties' orders (admins all)."""
    found: list[RefundRequest] = []
    after = page.after_id
    while len(found) < page.limit:
        stmt = select(RefundRequest)
        if not principal.is_staff:
            stmt = stmt.where(col(RefundRequest.buyer_id) == principal.id)
        if status is not None:
            stmt = stmt.where(col(RefundRequest.status) == status)
        if after is not None:
            stmt = stmt.where(col(RefundRequest.id) > after)
        batch = list((await session.scalars(stmt.order_by(col(RefundRequest.id)).limit(page.limit))).all())
        if not batch:
            return found, None
        after = batch[-1].id
        for request in batch:
            if await _visible(session, principal, request):
                found.append(request)
                if len(found) == page.limit:
                    return found, str(request.id)
    return found, None


async def _visible(session: AsyncSession, principal: Principal, request: RefundRequest) -> bool:
    if principal.is_admin or request.buyer_id == principal.id:
        return True
    order = await repository.get_order(session, request.order_id)
    return order is not None and bool(principal.county_ids & await service.order_counties(session, order))
