"""Engagement: the XP ledger and its denormalised totals, streaks, and raw activity for analytics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdKey, IdMixin, Snowflake, TimestampMixin, utcnow


class XPEvent(IdMixin, TimestampMixin, Base):
    """Append-only ledger. `source_key` makes every award idempotent: a replay inserts nothing.

    A trigger (revision 0008) adds each inserted row to `member_stats` and `xp_daily` in the same transaction.
    """

    __tablename__ = "xp_events"
    __table_args__ = (Index("ix_xp_events_guild_id_user_id", "guild_id", "user_id"),)

    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int | None] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="SET NULL"), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(300), default="")
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    day: Mapped[date] = mapped_column(Date)  # the guild-local date the XP counts on (xp_daily's day)


class MemberStats(Base):
    """Total XP per member, kept by the ledger's trigger in the same transaction as each ledger row."""

    __tablename__ = "member_stats"
    __table_args__ = (Index("ix_member_stats_guild_id_total_xp", "guild_id", "total_xp", "user_id"),)

    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Snowflake, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    total_xp: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CourseMemberStats(Base):
    """Total XP per member within one course, kept by the ledger's trigger: the course's all-time board."""

    __tablename__ = "course_member_stats"
    __table_args__ = (Index("ix_course_member_stats_course_id_total_xp", "course_id", "total_xp", "user_id"),)

    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Snowflake, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    total_xp: Mapped[int] = mapped_column(Integer, default=0)


class XPLevel(Base):
    """How many of a guild's members hold each total XP, kept by a trigger on `member_stats` (on PostgreSQL it runs
    as the transaction commits, so the many members moving between the same two totals do not queue on them).

    A rank on the guild's all-time board sums the levels above a total: that reads one row per distinct
    total instead of one per member, so the rank of the last member costs about as little as the first's.
    """

    __tablename__ = "xp_levels"

    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"), primary_key=True)
    total_xp: Mapped[int] = mapped_column(Integer, primary_key=True)
    members: Mapped[int] = mapped_column(Integer)


class XPDaily(Base):
    """XP per member, course and day (guild's zone), for weekly and monthly boards.

    A derived aggregate kept by the ledger's trigger (rebuildable from `xp_events`); `course_id` 0 means XP not
    tied to a course, so the key stays non-null and upserts stay simple.
    """

    __tablename__ = "xp_daily"
    __table_args__ = (
        # Covering the board's sums (user_id, xp): a week or course board reads the index alone, not the table.
        Index("ix_xp_daily_guild_board", "guild_id", "day", "user_id", "xp"),
        Index("ix_xp_daily_course_board", "course_id", "day", "user_id", "xp"),
    )

    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Snowflake, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    course_id: Mapped[int] = mapped_column(IdKey, primary_key=True, default=0)
    xp: Mapped[int] = mapped_column(Integer, default=0)


class Streak(Base):
    __tablename__ = "streaks"
    __table_args__ = (
        CheckConstraint("freezes_available >= 0", name="freezes_not_negative"),
        CheckConstraint("current >= 0 AND longest >= current", name="counts_consistent"),
    )

    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    current: Mapped[int] = mapped_column(Integer, default=0)
    longest: Mapped[int] = mapped_column(Integer, default=0)
    # A date in the user's own time zone, as of the activity.
    last_activity_date: Mapped[date | None] = mapped_column(Date)
    total_active_days: Mapped[int] = mapped_column(Integer, default=0)
    freezes_available: Mapped[int] = mapped_column(Integer, default=0)
    freeze_used_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ActivityEvent(IdMixin, Base):
    __tablename__ = "activity_events"
    __table_args__ = (
        Index("ix_activity_events_guild_id_at", "guild_id", "at"),
        Index("ix_activity_events_user_id_at", "user_id", "at"),
    )

    guild_id: Mapped[int | None] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
