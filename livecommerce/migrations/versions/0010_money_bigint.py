"""64-bit order and payment amounts; joins the branch heads into one

Revision ID: 0010_money_bigint
Revises: 0005_ledger, 0006_scheduling, 0007_security, 0009_security
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_money_bigint"
down_revision: str | Sequence[str] | None = ("0005_ledger", "0006_scheduling", "0007_security", "0009_security")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("orders", "total_fen"), ("order_lines", "amount_fen"), ("payments", "amount_fen"))


def upgrade() -> None:
    for table, column in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)
    # The product of two 32-bit columns overflows in PostgreSQL before it is compared: widen first.
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_order_lines_amount"), type_="check")
        batch_op.create_check_constraint("amount", "amount_fen = CAST(quantity AS BIGINT) * unit_price_fen")


def downgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_order_lines_amount"), type_="check")
        batch_op.create_check_constraint("amount", "amount_fen = quantity * unit_price_fen")
    for table, column in reversed(COLUMNS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
