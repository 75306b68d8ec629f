"""stream_viewers: each signed-in user who watched a stream, once; outbox events by stream and type (for the post-stream review)

Revision ID: 0017
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from livecommerce.kit.types import UTCDateTime

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stream_viewers",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("first_seen", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["stream_id"], ["streams.id"], name=op.f("fk_stream_viewers_stream_id_streams"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_stream_viewers_user_id_users")),
        sa.PrimaryKeyConstraint("stream_id", "user_id", name=op.f("pk_stream_viewers")),
    )
    op.create_index(op.f("ix_stream_viewers_user_id"), "stream_viewers", ["user_id"], unique=False)
    op.create_index("ix_outbox_events_stream_type_seq", "outbox_events", ["stream_id", "type", "seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_events_stream_type_seq", table_name="outbox_events")
    op.drop_index(op.f("ix_stream_viewers_user_id"), table_name="stream_viewers")
    op.drop_table("stream_viewers")
