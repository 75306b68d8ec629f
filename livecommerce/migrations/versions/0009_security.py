"""single-use refresh tokens: the ids of refresh tokens already exchanged

Revision ID: 0009_security
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import livecommerce.kit.types

revision: str = "0009_security"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refresh_token_uses",
        sa.Column("jti", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("used_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_refresh_token_uses_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_refresh_token_uses")),
    )
    with op.batch_alter_table("refresh_token_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refresh_token_uses_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_refresh_token_uses_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refresh_token_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_token_uses_user_id"))
        batch_op.drop_index(batch_op.f("ix_refresh_token_uses_expires_at"))
    op.drop_table("refresh_token_uses")
