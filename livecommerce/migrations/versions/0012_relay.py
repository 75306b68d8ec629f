"""relay: the deployment's namespace, an epoch per stream's history, chat messages and mutes, stream media

Revision ID: 0012
Revises: 0013
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import livecommerce.kit.types

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    deployments = op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("namespace", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
    )
    # Drawn here, once per database: a recreated database gets another namespace.
    op.bulk_insert(deployments, [{"id": 1, "namespace": secrets.token_hex(8), "created_at": datetime.now(UTC)}])
    with op.batch_alter_table("stream_sequences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("epoch", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    op.execute(sa.text("UPDATE stream_sequences SET epoch = :epoch").bindparams(epoch=secrets.token_hex(8)))
    with op.batch_alter_table("stream_sequences", schema=None) as batch_op:
        batch_op.alter_column("epoch", existing_type=sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False)
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("hidden_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["stream_id"], ["streams.id"], name=op.f("fk_chat_messages_stream_id_streams"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_chat_messages_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
    )
    op.create_index("ix_chat_messages_stream_id_id", "chat_messages", ["stream_id", "id"], unique=False)
    op.create_index("ix_chat_messages_user_id_created_at", "chat_messages", ["user_id", "created_at"], unique=False)
    op.create_table(
        "chat_mutes",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("until", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("muted_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["muted_by"], ["users.id"], name=op.f("fk_chat_mutes_muted_by_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["stream_id"], ["streams.id"], name=op.f("fk_chat_mutes_stream_id_streams"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_chat_mutes_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("stream_id", "user_id", name=op.f("pk_chat_mutes")),
    )


    op.create_table(
        "stream_media",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("live_room_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("hls_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("updated_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["stream_id"], ["streams.id"], name=op.f("fk_stream_media_stream_id_streams"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("stream_id", name=op.f("pk_stream_media")),
    )


def downgrade() -> None:
    op.drop_table("stream_media")
    op.drop_table("chat_mutes")
    op.drop_index("ix_chat_messages_user_id_created_at", table_name="chat_messages")
    op.drop_index("ix_chat_messages_stream_id_id", table_name="chat_messages")
    op.drop_table("chat_messages")
    with op.batch_alter_table("stream_sequences", schema=None) as batch_op:
        batch_op.drop_column("epoch")
    op.drop_table("deployments")
