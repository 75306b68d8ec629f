"""Group read: concurrent callers' questions answered together, one read per batch (group commit, for reads).

During a flash sale thousands of callers ask the database the same kind of small question at
once (has this key an order? who is this user?). A caller `ask`s; if fewer than `readers` reads
are in flight, a reader starts and takes everything waiting; questions that arrive while the
reads run wait for the next one. So the database sees one statement per batch instead of one
per caller, and a caller who arrives just after a read left waits for at most one more. A read
that fails fails the questions of its batch; the next question reads again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Generic, TypeVar

Q = TypeVar("Q", bound=Hashable)
A = TypeVar("A")


class GroupRead(Generic[Q, A]):
    """Answers questions in batches through `read`, which maps the questions it found to their answers."""

    def __init__(
        self, read: Callable[[set[Q]], Awaitable[Mapping[Q, A]]], *, missing: A, name: str, max_batch: int = 200, readers: int = 2
    ) -> None:
        self.read = read
        self.missing = missing  # the answer for a question `read` did not find
        self.name = name
        self.max_batch = max_batch
        self.readers = readers
        self.reads = 0
        self._waiting: list[tuple[Q, asyncio.Future[A]]] = []
        self._reading: set[asyncio.Task[None]] = set()

    async def ask(self, question: Q) -> A:
        """The answer to `question`, read together with whatever else is being asked."""
        future: asyncio.Future[A] = asyncio.get_running_loop().create_future()
        self._waiting.append((question, future))
        if len(self._reading) < self.readers:
            self._reading.add(asyncio.create_task(self._read_all(), name=self.name))
        return await future

    async def _read_all(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                self.reads += 1
                try:
                    found = await self.read({question for question, _ in batch})
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for question, future in batch:
                    if not future.done():
                        future.set_result(found.get(question, self.missing))
        finally:
            # At once, with no await since the last look at `_waiting`: a question asked from
            # now on starts a reader of its own.
            task = asyncio.current_task()
            if task is not None:
                self._reading.discard(task)
