"""Settlement: each account's balance split into pending and settled, each entry's bucket, each sale's settlement state

Revision ID: 0020_settle
Revises: 0018_assistance

Entries, transactions and balances posted before this revision were paid out under the old
rule (credited in full when paid), so they count as settled: their entries take the bucket
`settled`, each account's settled part is its balance, and each earlier sale gets a
settlement row that is `settled` (or `refunded` if it was reversed) with no `settled_at`:
no transfer settled it. Nothing is edited but the new columns' defaults.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import livecommerce.kit.types

revision: str = "0020_settle"
down_revision: str | Sequence[str] | None = "0018_assistance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    # Plain ADD COLUMN (no batch copy): SQLite keeps ledger_entries' append-only trigger, and
    # on PostgreSQL a constant default fills existing rows without an UPDATE the trigger refuses.
    op.add_column("ledger_entries", sa.Column("bucket", sa.String(length=8), nullable=False, server_default="settled"))
    op.add_column("ledger_accounts", sa.Column("pending_fen", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("ledger_accounts", sa.Column("settled_fen", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE ledger_accounts SET settled_fen = balance_fen")
    if postgresql:
        # New entries always name their bucket; on SQLite dropping a default means copying the table.
        op.alter_column("ledger_entries", "bucket", server_default=None)
        op.alter_column("ledger_accounts", "pending_fen", server_default=None)
        op.alter_column("ledger_accounts", "settled_fen", server_default=None)
    op.create_table(
        "ledger_settlements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("sale_transaction_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("delivered_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_ledger_settlements_order_id_orders")),
        sa.ForeignKeyConstraint(
            ["sale_transaction_id"], ["ledger_transactions.id"], name=op.f("fk_ledger_settlements_sale_transaction_id_ledger_transactions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_settlements")),
        sa.UniqueConstraint("order_id", name=op.f("uq_ledger_settlements_order_id")),
        sa.UniqueConstraint("sale_transaction_id", name=op.f("uq_ledger_settlements_sale_transaction_id")),
    )
    op.create_index("ix_ledger_settlements_status_delivered_at", "ledger_settlements", ["status", "delivered_at"])
    op.execute(
        "INSERT INTO ledger_settlements (order_id, sale_transaction_id, status, delivered_at, settled_at, refunded_at, created_at) "
        "SELECT s.order_id, s.id, CASE WHEN r.id IS NULL THEN 'settled' ELSE 'refunded' END, s.created_at, NULL, "
        "r.created_at, s.created_at "
        "FROM ledger_transactions s LEFT JOIN ledger_transactions r ON r.reverses_id = s.id WHERE s.kind = 'sale'"
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_settlements_status_delivered_at", table_name="ledger_settlements")
    op.drop_table("ledger_settlements")
    # Settlement transfers net to zero on every account, so the balances stand without them;
    # their entries stay (the ledger is append-only), with kind `settlement`.
    op.drop_column("ledger_accounts", "settled_fen")
    op.drop_column("ledger_accounts", "pending_fen")
    op.drop_column("ledger_entries", "bucket")
