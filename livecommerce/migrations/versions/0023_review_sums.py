"""Running figures for the post-stream review: sales per stream and minute, viewer counts per minute, audiences, buyers

Each table is created and filled from the facts it sums (the journal, the event log, the
viewer records, the orders), so a database upgraded with history reviews exactly as before.

Revision ID: 0023_review_sums
Revises: 0022_studio_county
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import livecommerce.kit.types

revision: str = "0023_review_sums"
down_revision: str | Sequence[str] | None = "0022_studio_county"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _minute(column: str) -> str:
    """SQL for the clock minute (UTC) of a timestamp column, in the form the column itself stores."""
    if op.get_bind().dialect.name == "postgresql":
        return f"(date_trunc('minute', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    # SQLite keeps UTCDateTime as naive UTC text with microseconds.
    return f"strftime('%Y-%m-%d %H:%M:00.000000', {column})"


def _count() -> str:
    """SQL for the whole-number `count` of an event's data (NULL when there is none)."""
    if op.get_bind().dialect.name == "postgresql":
        return "CAST((data ->> 'count') AS INTEGER)"
    return "CAST(json_extract(data, '$.\"count\"') AS INTEGER)"


def _backfill() -> None:
    op.execute(
        f"""
        INSERT INTO sales_minutes (stream_id, minute, paid_orders, gmv_fen, refunded_orders, refunded_fen)
        SELECT t.stream_id, {_minute("t.created_at")},
               COUNT(DISTINCT CASE WHEN t.kind = 'sale' THEN t.id END),
               COALESCE(SUM(CASE WHEN t.kind = 'sale' THEN e.amount_fen END), 0),
               COUNT(DISTINCT CASE WHEN t.kind = 'reversal' THEN t.id END),
               COALESCE(SUM(CASE WHEN t.kind = 'reversal' THEN e.amount_fen END), 0)
        FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
        WHERE t.stream_id IS NOT NULL AND t.kind IN ('sale', 'reversal') AND e.quantity IS NOT NULL
        GROUP BY t.stream_id, {_minute("t.created_at")}
        """
    )
    op.execute(
        f"""
        INSERT INTO audience_minutes (stream_id, minute, peak, last, last_seq)
        SELECT g.stream_id, g.minute, g.peak, COALESCE({_count().replace("data", "e.data")}, 0), g.last_seq
        FROM (
            SELECT stream_id, {_minute("ts")} AS minute, COALESCE(MAX({_count()}), 0) AS peak, MAX(seq) AS last_seq
            FROM outbox_events WHERE type = 'viewers.updated'
            GROUP BY stream_id, {_minute("ts")}
        ) g JOIN outbox_events e ON e.stream_id = g.stream_id AND e.seq = g.last_seq
        """
    )
    op.execute(
        """
        INSERT INTO stream_audience (stream_id, peak_viewers, unique_viewers)
        SELECT s.stream_id, COALESCE(MAX(p.peak), 0), COALESCE(MAX(v.n), 0)
        FROM (SELECT stream_id FROM audience_minutes UNION SELECT stream_id FROM stream_viewers) s
        LEFT JOIN (SELECT stream_id, MAX(peak) AS peak FROM audience_minutes GROUP BY stream_id) p ON p.stream_id = s.stream_id
        LEFT JOIN (SELECT stream_id, COUNT(*) AS n FROM stream_viewers GROUP BY stream_id) v ON v.stream_id = s.stream_id
        GROUP BY s.stream_id
        """
    )
    op.execute(
        """
        INSERT INTO stream_buyers (stream_id, buyer_id, paid)
        SELECT stream_id, buyer_id, MAX(CASE WHEN paid_at IS NOT NULL THEN 1 ELSE 0 END) = 1
        FROM orders WHERE stream_id IS NOT NULL
        GROUP BY stream_id, buyer_id
        """
    )


def upgrade() -> None:
    op.create_table(
        "sales_minutes",
        sa.Column("stream_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("minute", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_orders", sa.BigInteger(), nullable=False),
        sa.Column("gmv_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_orders", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "minute", name=op.f("pk_sales_minutes")),
    )
    op.create_table(
        "stream_audience",
        sa.Column("stream_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("peak_viewers", sa.Integer(), nullable=False),
        sa.Column("unique_viewers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", name=op.f("pk_stream_audience")),
    )
    op.create_table(
        "audience_minutes",
        sa.Column("stream_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("minute", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "minute", name=op.f("pk_audience_minutes")),
    )
    op.create_table(
        "stream_buyers",
        sa.Column("stream_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("buyer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("paid", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "buyer_id", name=op.f("pk_stream_buyers")),
    )
    _backfill()


def downgrade() -> None:
    op.drop_table("stream_buyers")
    op.drop_table("audience_minutes")
    op.drop_table("stream_audience")
    op.drop_table("sales_minutes")
