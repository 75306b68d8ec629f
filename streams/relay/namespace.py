"""The deployment's Redis namespace: the operator's prefix and the id its database was given at its first migration.

Redis pub/sub channels are global to a server whatever the database number, so two deployments
(staging and production, or a database and its replacement) sharing one Redis must not share
channel or key names. The id lives in the database, so it is the same for every instance of one
deployment and differs as soon as the database does.
"""

from __future__ import annotations

from livecommerce.broadcasts.events import deployment_namespace
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings


async def redis_namespace(db: Database, settings: Settings) -> str:
    """The prefix of every relay channel and key of this deployment: `<redis_prefix>:<deployment id>`."""
    async with db.transaction() as session:
        namespace = await deployment_namespace(session)
    return f"{settings.redis_prefix}:{namespace}"
