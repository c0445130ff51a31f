"""PostgreSQL moves a member between XP levels locking the lower total's row first, whichever way they move.

A move updates two `xp_levels` rows: it leaves the old total and joins the new one, in that order. A member moving
up (an award) locked the lower row first; a member moving down (an admin's negative adjustment) the higher one
first. Crossing the same two totals at the same moment, each could hold one row and wait for the other: a deadlock,
which PostgreSQL ends by failing one of the two transactions. Every move now takes the lower row first.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEAVE_LEVEL = "UPDATE xp_levels SET members = members - 1 WHERE guild_id = OLD.guild_id AND total_xp = OLD.total_xp;"
JOIN_LEVEL = """
    INSERT INTO xp_levels (guild_id, total_xp, members) VALUES (NEW.guild_id, NEW.total_xp, 1)
    ON CONFLICT (guild_id, total_xp) DO UPDATE SET members = xp_levels.members + 1;
"""
LEAVE_THEN_JOIN = f"""
    IF TG_OP IN ('UPDATE', 'DELETE') THEN {LEAVE_LEVEL} END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN {JOIN_LEVEL} END IF;
"""
LOWEST_FIRST = f"""
    IF TG_OP = 'UPDATE' AND NEW.total_xp < OLD.total_xp THEN {JOIN_LEVEL} {LEAVE_LEVEL} ELSE {LEAVE_THEN_JOIN} END IF;
"""


def move_level(body: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION member_stats_move_level() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {body} RETURN NULL; END $$"""


def upgrade() -> None:
    if _postgres():
        op.execute(move_level(LOWEST_FIRST))


def downgrade() -> None:
    if _postgres():
        op.execute(move_level(LEAVE_THEN_JOIN))


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
