"""Buyers' delivery addresses: one default per buyer, and who may read the personal parts of one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from livecommerce.kit.errors import Conflict
from livecommerce.kit.i18n import _l
from livecommerce.kit.masking import mask_identifier
from livecommerce.kit.principal import Principal
from livecommerce.orders.models import Address
from livecommerce.orders.schemas import AddressCreate, AddressPublic

MAX_ADDRESSES_PER_BUYER = 50


def address_public(address: Address, *, in_full: bool) -> AddressPublic:
    """The API view of an address: phone and detail line masked unless `in_full`."""
    assert address.id is not None
    return AddressPublic(
        id=address.id,
        recipient=address.recipient,
        phone=address.phone if in_full else mask_identifier(address.phone),
        province=address.province,
        city=address.city,
        district=address.district,
        detail=address.detail if in_full else mask_detail(address.detail),
        is_default=address.is_default,
    )


def mask_detail(detail: str) -> str:
    """A street line with everything after its first two characters masked: 新塘村3号 → 新塘***."""
    if len(detail) <= 2:
        return "*" * len(detail)
    return detail[:2] + "*" * min(len(detail) - 2, 6)


def sees_in_full(principal: Principal | None, buyer_id: int, order_county_ids: Iterable[int] = ()) -> bool:
    """The buyer, admins and organizers of the order's counties see an address in full."""
    if principal is None:
        return False
    if principal.id == buyer_id or principal.is_admin:
        return True
    return principal.is_staff and bool(principal.county_ids & set(order_county_ids))


async def add_address(session: AsyncSession, buyer: Principal, body: AddressCreate, *, now: datetime) -> Address:
    """Add an address; the buyer's first one, or one marked default, becomes the only default."""
    mine = list((await session.scalars(select(Address).where(col(Address.buyer_id) == buyer.id).with_for_update())).all())
    if len(mine) >= MAX_ADDRESSES_PER_BUYER:
        raise Conflict(_l("At most {MAX_ADDRESSES_PER_BUYER} addresses per buyer.", MAX_ADDRESSES_PER_BUYER=MAX_ADDRESSES_PER_BUYER))
    is_default = body.is_default or not mine
    if is_default and mine:
        await session.execute(
            update(Address)
            .where(col(Address.buyer_id) == buyer.id, col(Address.is_default).is_(True))
            .values(is_default=False)
            .execution_options(synchronize_session=False)
        )
    address = Address(buyer_id=buyer.id, **body.model_dump(exclude={"is_default"}), is_default=is_default, created_at=now)
    session.add(address)
    await session.flush()
    return address


async def list_addresses(session: AsyncSession, buyer: Principal) -> list[Address]:
    """The buyer's addresses, the default first."""
    stmt = (
        select(Address)
        .where(col(Address.buyer_id) == buyer.id)
        .order_by(col(Address.is_default).desc(), col(Address.id))
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(stmt)).all())


async def addresses_by_id(session: AsyncSession, address_ids: Iterable[int]) -> dict[int, Address]:
    """The addresses with these ids."""
    ids = sorted(set(address_ids))
    if not ids:
        return {}
    return {a.id: a for a in (await session.scalars(select(Address).where(col(Address.id).in_(ids)))).all() if a.id is not None}


# Built once, so an order batch only binds its values.
_FOR_ORDERS = select(col(Address.id), col(Address.buyer_id), col(Address.is_default)).where(
    or_(
        col(Address.buyer_id).in_(bindparam("buyers", expanding=True)) & col(Address.is_default).is_(True),
        col(Address.id).in_(bindparam("wanted", expanding=True)),
    )
)


async def for_orders(session: AsyncSession, buyer_ids: Iterable[int], address_ids: Iterable[int]) -> tuple[dict[int, int], dict[int, int]]:
    """For a batch of orders, in one read: each buyer's default address, and the buyer of each address asked for."""
    buyers, wanted = sorted(set(buyer_ids)), sorted(set(address_ids))
    if not buyers:
        return {}, {}
    defaults: dict[int, int] = {}
    owners: dict[int, int] = {}
    for address_id, buyer_id, is_default in (await session.execute(_FOR_ORDERS, {"buyers": buyers, "wanted": wanted})).all():
        assert address_id is not None
        owners[address_id] = buyer_id
        if is_default:
            defaults[buyer_id] = address_id
    return defaults, owners
