"""ledger: report columns on entries, running sales aggregates per stream and per day

Revision ID: 0005_ledger
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005_ledger"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTERS = ("orders", "units", "gross_fen", "refunded_orders", "refunded_units", "refunded_fen")


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("county_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("quantity", sa.Integer(), nullable=True))
        batch_op.alter_column("amount_fen", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.alter_column("balance_fen", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)

    op.create_table(
        "sales_aggregates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("party", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=False) for name in _COUNTERS],
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_aggregates")),
        sa.UniqueConstraint("stream_id", "product_id", "party", name="uq_sales_aggregates_key"),
    )
    op.create_table(
        "sales_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=False) for name in _COUNTERS],
        sa.Column("household_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_household_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_daily")),
        sa.UniqueConstraint("day", "county_id", "channel", name="uq_sales_daily_key"),
    )

    _append_only_triggers()


def _append_only_triggers() -> None:
    """Entries and journal transactions are never edited: the database refuses it.

    PostgreSQL refuses UPDATE and DELETE (TRUNCATE, an operator's tool, still works);
    SQLite refuses UPDATE only, because emptying a test database deletes rows.
    """
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'ledger rows are append-only (% on %)', TG_OP, TG_TABLE_NAME; END $$"
        )
        for table in ("ledger_entries", "ledger_transactions"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
            )
        return
    for table in ("ledger_entries", "ledger_transactions"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END"
        )


def downgrade() -> None:
    for table in ("ledger_entries", "ledger_transactions"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only" + (f" ON {table}" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ledger_append_only()")
    op.drop_table("sales_daily")
    op.drop_table("sales_aggregates")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.alter_column("balance_fen", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.alter_column("amount_fen", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
        batch_op.drop_column("quantity")
        batch_op.drop_column("county_id")
