"""Fulfillment and after-sales: buyers' addresses, parcels, receipt, refund requests

Revision ID: 0019_fulfillment
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import livecommerce.kit.types

revision: str = "0019_fulfillment"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("province", sa.String(length=32), nullable=False),
        sa.Column("city", sa.String(length=32), nullable=False),
        sa.Column("district", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_addresses_buyer_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
    )
    op.create_index(op.f("ix_addresses_buyer_id"), "addresses", ["buyer_id"])
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("address_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("fulfillment", sa.String(length=16), nullable=False, server_default="unshipped"))
        batch.add_column(sa.Column("shipped_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("delivered_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True))
        batch.create_foreign_key(batch.f("fk_orders_address_id_addresses"), "addresses", ["address_id"], ["id"])
        batch.create_index("ix_orders_fulfillment_shipped_at", ["fulfillment", "shipped_at"])
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("fulfillment", server_default=None)
    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(length=32), nullable=False),
        sa.Column("tracking_no", sa.String(length=40), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_shipments_order_id_orders")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_shipments_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("carrier", "tracking_no", name="uq_shipments_carrier_tracking_no"),
    )
    op.create_index(op.f("ix_shipments_order_id"), "shipments", ["order_id"])
    op.create_table(
        "refund_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_refund_requests_order_id_orders")),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_refund_requests_buyer_id_users")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_refund_requests_decided_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_requests")),
    )
    op.create_index(op.f("ix_refund_requests_order_id"), "refund_requests", ["order_id"])
    op.create_index(op.f("ix_refund_requests_buyer_id"), "refund_requests", ["buyer_id"])
    op.create_index(op.f("ix_refund_requests_status"), "refund_requests", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_refund_requests_status"), table_name="refund_requests")
    op.drop_index(op.f("ix_refund_requests_buyer_id"), table_name="refund_requests")
    op.drop_index(op.f("ix_refund_requests_order_id"), table_name="refund_requests")
    op.drop_table("refund_requests")
    op.drop_index(op.f("ix_shipments_order_id"), table_name="shipments")
    op.drop_table("shipments")
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_fulfillment_shipped_at")
        batch.drop_constraint(batch.f("fk_orders_address_id_addresses"), type_="foreignkey")
        batch.drop_column("delivered_at")
        batch.drop_column("shipped_at")
        batch.drop_column("fulfillment")
        batch.drop_column("address_id")
    op.drop_index(op.f("ix_addresses_buyer_id"), table_name="addresses")
    op.drop_table("addresses")
