"""digest claims: who claimed a digest and when

A digest is now ``claimed`` (by a run, not yet handed to the server) before it is ``sending``; the
owner and time let a later run tell a dead run's claim from a live one (issues #9 and #14).

Revision ID: 0003_digest_claims
Revises: 0002_reader_pages
Create Date: 2026-12-02 04:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_digest_claims'
down_revision = '0002_reader_pages'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('digests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('digests', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claimed_by')
