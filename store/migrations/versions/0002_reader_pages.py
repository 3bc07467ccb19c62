"""reader self-service: link generation, settings revision, pause, minimum relevance, web notice

Revision ID: 0002_reader_pages
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_reader_pages'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('readers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_generation', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('settings_rev', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('paused_until', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('min_relevance', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('web_notice', sa.Boolean(), server_default=sa.true(),
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('readers', schema=None) as batch_op:
        batch_op.drop_column('web_notice')
        batch_op.drop_column('min_relevance')
        batch_op.drop_column('paused_until')
        batch_op.drop_column('settings_rev')
        batch_op.drop_column('link_generation')
