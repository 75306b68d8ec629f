"""Benefit linkage (联农带农): how each household benefits, and each product's mechanism for benefiting households

Revision ID: 0021_linkage
Revises: 0020_rules

Both columns are nullable: what was recorded before this revision is "not recorded".
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_linkage"
down_revision: str | Sequence[str] | None = "0020_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("households") as batch:
        batch.add_column(sa.Column("linkage_type", sa.String(length=16), nullable=True))
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("linkage_mechanism", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.drop_column("linkage_mechanism")
    with op.batch_alter_table("households") as batch:
        batch.drop_column("linkage_type")
