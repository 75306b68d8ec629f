"""scheduling: anchor availability windows and limits, sent notifications, the scheduler lease

Revision ID: 0006_scheduling
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import livecommerce.kit.types

revision: str = "0006_scheduling"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "anchor_availability",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("anchor_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.CheckConstraint("weekday >= 0 AND weekday <= 6", name=op.f("ck_anchor_availability_weekday")),
        sa.CheckConstraint(
            "start_minute >= 0 AND end_minute <= 1440 AND end_minute > start_minute", name=op.f("ck_anchor_availability_window")
        ),
        sa.ForeignKeyConstraint(["anchor_id"], ["anchors.id"], name=op.f("fk_anchor_availability_anchor_id_anchors"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anchor_availability")),
    )
    with op.batch_alter_table("anchor_availability", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_anchor_availability_anchor_id"), ["anchor_id"], unique=False)

    op.create_table(
        "anchor_limits",
        sa.Column("anchor_id", sa.Integer(), nullable=False),
        sa.Column("max_broadcasts_per_week", sa.Integer(), nullable=True),
        sa.Column("max_air_minutes_per_day", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["anchor_id"], ["anchors.id"], name=op.f("fk_anchor_limits_anchor_id_anchors"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("anchor_id", name=op.f("pk_anchor_limits")),
    )

    op.create_table(
        "sent_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("county_id", sa.Integer(), nullable=True),
        sa.Column("recipients", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("content", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("sent_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_notifications")),
    )
    with op.batch_alter_table("sent_notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sent_notifications_key"), ["key"], unique=True)
        batch_op.create_index(batch_op.f("ix_sent_notifications_booking_id"), ["booking_id"], unique=False)

    op.create_table(
        "scheduler_leases",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("expires_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leases")),
    )


def downgrade() -> None:
    op.drop_table("scheduler_leases")
    with op.batch_alter_table("sent_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sent_notifications_booking_id"))
        batch_op.drop_index(batch_op.f("ix_sent_notifications_key"))
    op.drop_table("sent_notifications")
    op.drop_table("anchor_limits")
    with op.batch_alter_table("anchor_availability", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anchor_availability_anchor_id"))
    op.drop_table("anchor_availability")
