"""Index the members hidden from leaderboards, so a board never reads the whole users table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_users_leaderboard_hidden",
        "users",
        ["id"],
        postgresql_where=sa.text("(preferences ->> 'leaderboard') = 'off'"),
        sqlite_where=sa.text("json_extract(preferences, '$.leaderboard') = 'off'"),
    )


def downgrade() -> None:
    op.drop_index("ix_users_leaderboard_hidden", table_name="users")
