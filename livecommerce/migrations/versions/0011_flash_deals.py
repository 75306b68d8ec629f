"""Flash deals, and order lines that remember the deal they bought from

Revision ID: 0011_flash_deals
Revises: 0010_money_bigint
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import livecommerce.kit.types

revision: str = "0011_flash_deals"
down_revision: str | Sequence[str] | None = "0010_money_bigint"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flash_deals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("per_buyer_limit", sa.Integer(), nullable=False),
        sa.Column("starts_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_announced", sa.Boolean(), nullable=False),
        sa.Column("ended_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("returned", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("remaining >= 0 AND remaining <= quantity", name=op.f("ck_flash_deals_remaining")),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_flash_deals_price_pos")),
        sa.CheckConstraint("per_buyer_limit > 0", name=op.f("ck_flash_deals_limit_pos")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_flash_deals_window")),
        sa.ForeignKeyConstraint(["stream_id"], ["streams.id"], name=op.f("fk_flash_deals_stream_id_streams")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_flash_deals_product_id_products")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_flash_deals_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_deals")),
    )
    op.create_index(op.f("ix_flash_deals_stream_id"), "flash_deals", ["stream_id"])
    op.create_index(op.f("ix_flash_deals_product_id"), "flash_deals", ["product_id"])
    op.create_index(op.f("ix_flash_deals_ends_at"), "flash_deals", ["ends_at"])
    with op.batch_alter_table("order_lines") as batch:
        batch.add_column(sa.Column("flash_deal_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_order_lines_flash_deal_id"), ["flash_deal_id"])
        batch.create_foreign_key(batch.f("fk_order_lines_flash_deal_id_flash_deals"), "flash_deals", ["flash_deal_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("order_lines") as batch:
        batch.drop_constraint(batch.f("fk_order_lines_flash_deal_id_flash_deals"), type_="foreignkey")
        batch.drop_index(batch.f("ix_order_lines_flash_deal_id"))
        batch.drop_column("flash_deal_id")
    op.drop_index(op.f("ix_flash_deals_ends_at"), table_name="flash_deals")
    op.drop_index(op.f("ix_flash_deals_product_id"), table_name="flash_deals")
    op.drop_index(op.f("ix_flash_deals_stream_id"), table_name="flash_deals")
    op.drop_table("flash_deals")
