"""The sold-out answer's one read: whether a caller's idempotency key already has an order, batched."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from livecommerce.kit.db import Database
from livecommerce.orders.desk import KeyChecks
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, make_buyers, order


async def test_concurrent_questions_share_reads_and_each_gets_its_own_answer(
    client: httpx.AsyncClient, db: Database, make: Factory, shop: Shop
) -> None:
    buyers = await make_buyers(db, make, 4)
    keys = {b.id: uuid.uuid4().hex for b in buyers}
    for b in buyers[:2]:  # the first two buyers have an order under their key
        assert (await order(client, b, shop.stream_id, [(shop.product_id, 1)], key=keys[b.id])).status_code == 201
    checks = KeyChecks(db)
    questions = [(b.id, keys[b.id]) for b in buyers]
    # Another buyer's key is not this buyer's: the cross product of a batch's buyers and keys must
    # not answer "used" for a pair that was never placed.
    questions += [(buyers[2].id, keys[buyers[0].id]), (buyers[3].id, keys[buyers[1].id]), (buyers[0].id, keys[buyers[1].id])]
    answers = await asyncio.gather(*(checks.used(b, k) for b, k in questions))
    assert answers == [True, True, False, False, False, False, False]
    assert checks.reads <= 2  # the first question reads alone; everything that arrived meanwhile, together


async def test_a_failed_read_fails_its_batch_and_the_next_question_reads_again(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = KeyChecks(db)

    async def broken(pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
        raise ConnectionError("database went away")

    with monkeypatch.context() as patched:
        patched.setattr(checks, "_read", broken)
        with pytest.raises(ConnectionError):
            await checks.used(1, "k")
    assert await checks.used(1, "k") is False
