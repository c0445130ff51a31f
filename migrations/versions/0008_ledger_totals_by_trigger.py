"""The database keeps the XP totals, by triggers, in the transaction that writes the ledger.

- `xp_events.day`: the guild-local date each row counts on, so a row carries all its totals need.
- After a ledger insert: `member_stats` (guild total), `xp_daily` (per day and course) and the new
  `course_member_stats` (course total, the course's all-time board) add the amount.
- After a `member_stats` change: the new `xp_levels` (members per distinct total in a guild) moves the member
  from the old total to the new one, so a rank on the guild's board sums a few levels, not every member above.

An award is then one statement (the ledger insert) instead of three, and no code path that writes the ledger
can forget a total. Existing rows are backfilled: the day in the guild's zone on PostgreSQL, the UTC date on
SQLite (which has no time zone data).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Statements shared by both dialects' trigger bodies (NEW/OLD are the row the trigger fires for).
ADD_TO_TOTALS = """
    INSERT INTO member_stats (guild_id, user_id, total_xp, updated_at)
    VALUES (NEW.guild_id, NEW.user_id, NEW.amount, NEW.created_at)
    ON CONFLICT (guild_id, user_id)
    DO UPDATE SET total_xp = member_stats.total_xp + excluded.total_xp, updated_at = excluded.updated_at;
    INSERT INTO xp_daily (guild_id, user_id, day, course_id, xp)
    VALUES (NEW.guild_id, NEW.user_id, NEW.day, coalesce(NEW.course_id, 0), NEW.amount)
    ON CONFLICT (guild_id, user_id, day, course_id) DO UPDATE SET xp = xp_daily.xp + excluded.xp;
    INSERT INTO course_member_stats (course_id, user_id, total_xp)
    SELECT NEW.course_id, NEW.user_id, NEW.amount WHERE NEW.course_id IS NOT NULL
    ON CONFLICT (course_id, user_id) DO UPDATE SET total_xp = course_member_stats.total_xp + excluded.total_xp;
"""
LEAVE_LEVEL = "UPDATE xp_levels SET members = members - 1 WHERE guild_id = OLD.guild_id AND total_xp = OLD.total_xp;"
JOIN_LEVEL = """
    INSERT INTO xp_levels (guild_id, total_xp, members) VALUES (NEW.guild_id, NEW.total_xp, 1)
    ON CONFLICT (guild_id, total_xp) DO UPDATE SET members = xp_levels.members + 1;
"""
POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION xp_events_add_to_totals() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {ADD_TO_TOTALS} RETURN NULL; END $$""",
    "CREATE TRIGGER xp_events_add_to_totals AFTER INSERT ON xp_events"
    " FOR EACH ROW EXECUTE FUNCTION xp_events_add_to_totals()",
    f"""CREATE FUNCTION member_stats_move_level() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {LEAVE_LEVEL} END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN {JOIN_LEVEL} END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER member_stats_move_level AFTER INSERT OR UPDATE OF total_xp OR DELETE ON member_stats"
    " FOR EACH ROW EXECUTE FUNCTION member_stats_move_level()",
]
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER xp_events_add_to_totals AFTER INSERT ON xp_events BEGIN {ADD_TO_TOTALS} END",
    f"CREATE TRIGGER member_stats_join_level AFTER INSERT ON member_stats BEGIN {JOIN_LEVEL} END",
    f"CREATE TRIGGER member_stats_move_level AFTER UPDATE OF total_xp ON member_stats BEGIN {LEAVE_LEVEL}"
    f" {JOIN_LEVEL} END",
    f"CREATE TRIGGER member_stats_leave_level AFTER DELETE ON member_stats BEGIN {LEAVE_LEVEL} END",
]


def upgrade() -> None:
    postgres = _postgres()
    op.add_column("xp_events", sa.Column("day", sa.Date(), nullable=True))
    if postgres:
        op.execute(
            "UPDATE xp_events SET day = (xp_events.created_at AT TIME ZONE guilds.time_zone)::date"
            " FROM guilds WHERE guilds.id = xp_events.guild_id"
        )
    else:
        op.execute("UPDATE xp_events SET day = date(created_at)")
    with op.batch_alter_table("xp_events") as batch_op:
        batch_op.alter_column("day", existing_type=sa.Date(), nullable=False)

    op.create_table(
        "course_member_stats",
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("total_xp", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_course_member_stats_course_id_courses"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_course_member_stats_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("course_id", "user_id", name=op.f("pk_course_member_stats")),
    )
    op.create_index(
        "ix_course_member_stats_course_id_total_xp", "course_member_stats", ["course_id", "total_xp", "user_id"]
    )
    op.create_index(op.f("ix_course_member_stats_user_id"), "course_member_stats", ["user_id"])
    op.create_table(
        "xp_levels",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("total_xp", sa.Integer(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guilds.id"], name=op.f("fk_xp_levels_guild_id_guilds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "total_xp", name=op.f("pk_xp_levels")),
    )
    op.execute(
        "INSERT INTO course_member_stats (course_id, user_id, total_xp) SELECT course_id, user_id, sum(amount)"
        " FROM xp_events WHERE course_id IS NOT NULL GROUP BY course_id, user_id"
    )
    op.execute(
        "INSERT INTO xp_levels (guild_id, total_xp, members) SELECT guild_id, total_xp, count(*)"
        " FROM member_stats GROUP BY guild_id, total_xp"
    )
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if _postgres():
        op.execute("DROP TRIGGER member_stats_move_level ON member_stats")
        op.execute("DROP FUNCTION member_stats_move_level()")
        op.execute("DROP TRIGGER xp_events_add_to_totals ON xp_events")
        op.execute("DROP FUNCTION xp_events_add_to_totals()")
    else:
        for trigger in ("member_stats_leave_level", "member_stats_move_level", "member_stats_join_level"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TRIGGER xp_events_add_to_totals")
    op.drop_table("xp_levels")
    op.drop_index(op.f("ix_course_member_stats_user_id"), table_name="course_member_stats")
    op.drop_index("ix_course_member_stats_course_id_total_xp", table_name="course_member_stats")
    op.drop_table("course_member_stats")
    with op.batch_alter_table("xp_events") as batch_op:
        batch_op.drop_column("day")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
