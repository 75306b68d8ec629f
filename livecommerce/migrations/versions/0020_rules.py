"""Certified-only campaigns, their streams marked so that flash deals keep to the rule; urgent sales of products

Revision ID: 0020_rules
Revises: 0020_settle
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import livecommerce.kit.types

revision: str = "0020_rules"
down_revision: str | Sequence[str] | None = "0020_settle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("campaigns", "streams"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("certified_only", sa.Boolean(), nullable=False, server_default=sa.false()))
        with op.batch_alter_table(table) as batch:
            batch.alter_column("certified_only", server_default=None)
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("urgent_until", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.drop_column("urgent_until")
    for table in ("streams", "campaigns"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("certified_only")
