"""Consumption assistance: product certificates, purchasing units, subscriptions naming their unit, monitored households

Revision ID: 0018_assistance
Revises: 0019_fulfillment
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import livecommerce.kit.types

revision: str = "0018_assistance"
down_revision: str | Sequence[str] | None = "0019_fulfillment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_certifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("certificate_no", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("granted_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("granted_by", sa.Integer(), nullable=True),
        sa.Column("revoked_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_product_certifications_product_id_products")),
        sa.ForeignKeyConstraint(["granted_by"], ["users.id"], name=op.f("fk_product_certifications_granted_by_users")),
        sa.ForeignKeyConstraint(["revoked_by"], ["users.id"], name=op.f("fk_product_certifications_revoked_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_certifications")),
    )
    op.create_index(op.f("ix_product_certifications_product_id"), "product_certifications", ["product_id"])
    op.create_table(
        "purchasing_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("unit_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("annual_food_budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("reserved_share_bp", sa.Integer(), nullable=False),
        sa.Column("parent_unit_id", sa.Integer(), nullable=True),
        sa.Column("county_id", sa.Integer(), nullable=True),
        sa.Column("created_at", livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("annual_food_budget_fen >= 0", name=op.f("ck_purchasing_units_budget_nonneg")),
        sa.CheckConstraint("reserved_share_bp >= 0 AND reserved_share_bp <= 10000", name=op.f("ck_purchasing_units_share_bp")),
        sa.ForeignKeyConstraint(["parent_unit_id"], ["purchasing_units.id"], name=op.f("fk_purchasing_units_parent_unit_id_purchasing_units")),
        sa.ForeignKeyConstraint(["county_id"], ["counties.id"], name=op.f("fk_purchasing_units_county_id_counties")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchasing_units")),
    )
    op.create_index(op.f("ix_purchasing_units_parent_unit_id"), "purchasing_units", ["parent_unit_id"])
    op.create_index(op.f("ix_purchasing_units_county_id"), "purchasing_units", ["county_id"])
    with op.batch_alter_table("households") as batch:
        batch.add_column(sa.Column("monitored", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("households") as batch:
        batch.alter_column("monitored", server_default=None)
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_orders_unit_id"), ["unit_id"])
        batch.create_foreign_key(batch.f("fk_orders_unit_id_purchasing_units"), "purchasing_units", ["unit_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(batch.f("fk_orders_unit_id_purchasing_units"), type_="foreignkey")
        batch.drop_index(batch.f("ix_orders_unit_id"))
        batch.drop_column("unit_id")
    with op.batch_alter_table("households") as batch:
        batch.drop_column("monitored")
    op.drop_index(op.f("ix_purchasing_units_county_id"), table_name="purchasing_units")
    op.drop_index(op.f("ix_purchasing_units_parent_unit_id"), table_name="purchasing_units")
    op.drop_table("purchasing_units")
    op.drop_index(op.f("ix_product_certifications_product_id"), table_name="product_certifications")
    op.drop_table("product_certifications")
