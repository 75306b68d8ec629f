"""scheduling finished: co-hosts, county approvals, followers and reminders, campaign plans

Revision ID: 0013
Revises: 0011_flash_deals
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import livecommerce.kit.types


revision: str = '0013'
down_revision: str | Sequence[str] | None = '0011_flash_deals'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('anchor_follows',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('anchor_id', sa.Integer(), nullable=False),
    sa.Column('created_at', livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['anchor_id'], ['anchors.id'], name=op.f('fk_anchor_follows_anchor_id_anchors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_anchor_follows_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'anchor_id', name=op.f('pk_anchor_follows'))
    )
    with op.batch_alter_table('anchor_follows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_anchor_follows_anchor_id'), ['anchor_id'], unique=False)

    op.create_table('campaign_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('objective', sa.BigInteger(), nullable=False),
    sa.Column('bound', sa.BigInteger(), nullable=False),
    sa.Column('assignments', sa.JSON(), nullable=False),
    sa.Column('unfilled', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('applied_at', livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_plans_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_campaign_plans_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_plans'))
    )
    with op.batch_alter_table('campaign_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_plans_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('stream_reminders',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('stream_id', sa.Integer(), nullable=False),
    sa.Column('created_at', livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['stream_id'], ['streams.id'], name=op.f('fk_stream_reminders_stream_id_streams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_stream_reminders_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'stream_id', name=op.f('pk_stream_reminders'))
    )
    with op.batch_alter_table('stream_reminders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stream_reminders_stream_id'), ['stream_id'], unique=False)

    op.create_table('user_notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('stream_id', sa.Integer(), nullable=False),
    sa.Column('at', livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['stream_id'], ['streams.id'], name=op.f('fk_user_notifications_stream_id_streams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_notifications')),
    sa.UniqueConstraint('user_id', 'kind', 'stream_id', name='uq_user_notifications_once')
    )
    with op.batch_alter_table('user_notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_notifications_user_id'), ['user_id'], unique=False)

    op.create_table('booking_approvals',
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('county_id', sa.Integer(), nullable=False),
    sa.Column('approved_by', sa.Integer(), nullable=True),
    sa.Column('approved_at', livecommerce.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['approved_by'], ['users.id'], name=op.f('fk_booking_approvals_approved_by_users')),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_booking_approvals_booking_id_bookings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['county_id'], ['counties.id'], name=op.f('fk_booking_approvals_county_id_counties')),
    sa.PrimaryKeyConstraint('booking_id', 'county_id', name=op.f('pk_booking_approvals'))
    )
    with op.batch_alter_table('booking_anchors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('accepted_at', livecommerce.kit.types.UTCDateTime(timezone=True), nullable=True))
    # Bookings made before co-hosts were asked: everyone in them counts as having accepted.
    op.execute(
        "UPDATE booking_anchors SET accepted_at = "
        "(SELECT bookings.created_at FROM bookings WHERE bookings.id = booking_anchors.booking_id)"
    )



def downgrade() -> None:
    with op.batch_alter_table('booking_anchors', schema=None) as batch_op:
        batch_op.drop_column('accepted_at')
        batch_op.drop_column('position')

    op.drop_table('booking_approvals')
    with op.batch_alter_table('user_notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_notifications_user_id'))

    op.drop_table('user_notifications')
    with op.batch_alter_table('stream_reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stream_reminders_stream_id'))

    op.drop_table('stream_reminders')
    with op.batch_alter_table('campaign_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_plans_campaign_id'))

    op.drop_table('campaign_plans')
    with op.batch_alter_table('anchor_follows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_anchor_follows_anchor_id'))

    op.drop_table('anchor_follows')
