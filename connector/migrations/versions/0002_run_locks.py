"""Who holds each connection's run lock (host, pid, since), so a run that finds the
lock taken can say by whom. The lock itself is the database's (PostgreSQL advisory
lock) or the operating system's (a file lock beside a SQLite database).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_locks",
        sa.Column("connection", sa.String(40), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False))


def downgrade() -> None:
    op.drop_table("run_locks")
