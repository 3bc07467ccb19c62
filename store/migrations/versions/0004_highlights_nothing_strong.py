"""personal highlights on digest items; each reader's own "nothing strong today" choice

``digest_items.highlight``: the abstract sentence closest to what the reader likes (embedding
backend only; empty otherwise), kept so every resend and archive page shows the same one.
``readers.nothing_strong``: ``note`` or ``skip`` when nothing clears the reader's threshold; NULL
follows ``PAPERDIGEST_NOTHING_STRONG`` (issue #11).

Revision ID: 0004_highlights_nothing_strong
Revises: 0003_digest_claims
Create Date: 2026-12-04 02:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_highlights_nothing_strong'
down_revision = '0003_digest_claims'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('digest_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('highlight', sa.Text(), nullable=False, server_default=''))
    with op.batch_alter_table('readers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nothing_strong', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('readers', schema=None) as batch_op:
        batch_op.drop_column('nothing_strong')
    with op.batch_alter_table('digest_items', schema=None) as batch_op:
        batch_op.drop_column('highlight')
