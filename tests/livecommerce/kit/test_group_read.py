"""Group read: questions asked together are read together, each caller gets its own answer, none is left waiting."""

from __future__ import annotations

import asyncio

import pytest

from livecommerce.kit.group_read import GroupRead


class Squares:
    """A read that answers the even numbers it is asked about with their squares, and counts its batches."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[set[int]] = []
        self.delay = delay

    async def __call__(self, questions: set[int]) -> dict[int, int]:
        self.batches.append(set(questions))
        await asyncio.sleep(self.delay)
        return {q: q * q for q in questions if q % 2 == 0}


async def test_questions_asked_together_share_a_read_and_get_their_own_answers() -> None:
    read = Squares()
    group: GroupRead[int, int | None] = GroupRead(read, missing=None, name="squares")
    answers = await asyncio.gather(*(group.ask(n) for n in range(10)))
    assert answers == [0, None, 4, None, 16, None, 36, None, 64, None]
    assert group.reads == len(read.batches) <= 2
    assert set().union(*read.batches) == set(range(10))


async def test_questions_arriving_during_reads_wait_for_at_most_the_next_one() -> None:
    read = Squares(delay=0.02)
    group: GroupRead[int, int | None] = GroupRead(read, missing=None, name="squares", readers=2)

    async def later(n: int) -> int | None:
        await asyncio.sleep(0.005 * n)
        return await group.ask(n)

    answers = await asyncio.wait_for(asyncio.gather(*(later(n) for n in range(40))), timeout=5)
    assert answers == [n * n if n % 2 == 0 else None for n in range(40)]
    assert 2 < group.reads < 40  # batched, and more than one batch (they arrived over 200 ms)
    assert max(len(b) for b in read.batches) > 1


async def test_a_failed_read_fails_its_batch_and_the_next_question_reads_again() -> None:
    calls = 0

    async def flaky(questions: set[int]) -> dict[int, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away")
        return {q: q for q in questions}

    group: GroupRead[int, int | None] = GroupRead(flaky, missing=None, name="flaky")
    with pytest.raises(ConnectionError):
        await group.ask(3)
    assert await group.ask(3) == 3


async def test_a_question_asked_as_the_last_reader_finishes_is_still_answered() -> None:
    read = Squares()
    group: GroupRead[int, int | None] = GroupRead(read, missing=None, name="squares", readers=1)
    for n in range(200):  # each ask lands just as the previous reader drains the queue
        assert await asyncio.wait_for(group.ask(2 * n), timeout=1) == 4 * n * n
