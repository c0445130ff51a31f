"""Leaderboard sums read `xp_daily` through covering indexes (day range, then user and XP) instead of the table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_xp_daily_guild_board", "xp_daily", ["guild_id", "day", "user_id", "xp"])
    op.create_index("ix_xp_daily_course_board", "xp_daily", ["course_id", "day", "user_id", "xp"])
    op.drop_index("ix_xp_daily_guild_id_day", table_name="xp_daily")
    op.drop_index("ix_xp_daily_course_id_day", table_name="xp_daily")


def downgrade() -> None:
    op.create_index("ix_xp_daily_course_id_day", "xp_daily", ["course_id", "day"])
    op.create_index("ix_xp_daily_guild_id_day", "xp_daily", ["guild_id", "day"])
    op.drop_index("ix_xp_daily_course_board", table_name="xp_daily")
    op.drop_index("ix_xp_daily_guild_board", table_name="xp_daily")
