"""What became of each person's deals (HubSpot deals, Salesforce opportunities): won,
lost or open, when it closed and its amount, for the funnel review.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("connection", sa.String(40), primary_key=True),
        sa.Column("contact_id", sa.String(64), primary_key=True),
        sa.Column("deal_id", sa.String(64), primary_key=True),
        sa.Column("won", sa.Boolean),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("amount", sa.Float),
        sa.Column("pulled_at", sa.DateTime(timezone=True), nullable=False))


def downgrade() -> None:
    op.drop_table("outcomes")
