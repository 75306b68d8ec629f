"""Studios belong to a county (or, with none, are shared by every county)

Revision ID: 0022_studio_county
Revises: 0021_linkage
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_studio_county"
down_revision: str | Sequence[str] | None = "0021_linkage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing studios stay shared (no county): nobody loses sight of a studio they used.
    with op.batch_alter_table("studios") as batch:
        batch.add_column(sa.Column("county_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(batch.f("fk_studios_county_id_counties"), "counties", ["county_id"], ["id"])
        batch.create_index(batch.f("ix_studios_county_id"), ["county_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("studios") as batch:
        batch.drop_index(batch.f("ix_studios_county_id"))
        batch.drop_constraint(batch.f("fk_studios_county_id_counties"), type_="foreignkey")
        batch.drop_column("county_id")
