"""Group commit: concurrent callers' work written together, one transaction per batch, each caller answered from it.

Callers `submit` a member to a lane. The first caller of an idle lane starts its leader,
which takes up to `max_batch` waiting members at a time and hands them to `write` (which
opens and commits one transaction); members that arrive meanwhile wait for the next batch.
If a batch fails as a whole (a deadlock victim, a constraint a concurrent writer took, the
database going away), each of its members is written again alone by its own caller, so one
bad member never fails the others and an outage still answers each caller from its own
attempt. `write` may also mark a member `again` itself (say, two members that must not
share a transaction): it is then written alone after its batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

import structlog

log = structlog.get_logger(__name__)


class Member(Protocol):
    """What a batch member carries for the batcher: whether it must be written again alone."""

    again: bool


M = TypeVar("M", bound=Member)


class GroupCommit(Generic[M]):
    """Writes members in shared transactions, one batch at a time per lane; a single member is a batch of one."""

    def __init__(self, write: Callable[[list[M]], Awaitable[None]], *, max_batch: int, name: str) -> None:
        self.write = write
        self.max_batch = max_batch
        self.name = name
        self.batches_written = 0
        self._waiting: dict[str, list[tuple[M, asyncio.Future[None]]]] = {}
        self._leaders: dict[str, asyncio.Task[None]] = {}

    async def submit(self, lane: str, member: M) -> None:
        """Return once `member` was written, in a batch or alone; a failure of writing it alone is raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(lane, []).append((member, future))
        if lane not in self._leaders:
            # Kept in `_leaders` until it ends; it ends once nobody waits in its lane.
            self._leaders[lane] = asyncio.create_task(self._lead(lane), name=f"{self.name}-{lane}")
        await future
        if member.again:
            member.again = False
            await self._write([member])

    async def _lead(self, lane: str) -> None:
        try:
            while waiting := self._waiting.get(lane):
                batch = waiting[: self.max_batch]
                del waiting[: self.max_batch]
                live = [(member, future) for member, future in batch if not future.done()]  # a caller that went away is not written
                if live:
                    await self._run(live)
        finally:
            self._leaders.pop(lane, None)
            if not self._waiting.get(lane):
                self._waiting.pop(lane, None)

    async def _run(self, batch: list[tuple[M, asyncio.Future[None]]]) -> None:
        try:
            await self._write([member for member, _ in batch])
        except Exception as exc:
            log.warning(f"{self.name}_batch_failed", members=len(batch), error=f"{type(exc).__name__}: {exc}")
            for member, future in batch:
                if not future.done():
                    future.set_result(None)
                    member.again = True  # written alone by its own caller
            return
        except BaseException:
            for _, future in batch:
                if not future.done():
                    future.cancel()
            raise
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    async def _write(self, members: list[M]) -> None:
        await self.write(members)
        self.batches_written += 1
