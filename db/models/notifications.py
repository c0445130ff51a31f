"""What the bot sends on its own: students' reminder preferences, and the outbox every such message goes through."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdKey, IdMixin, Snowflake, TimestampMixin, enum_column_type, utcnow
from db.models.enums import NotificationKind, NotificationStatus


class ReminderPreference(IdMixin, TimestampMixin, Base):
    """A student's study reminder for one course: a local time on some weekdays, in the student's time zone.

    `next_fire_at` is the UTC instant of the next reminder, NULL while reminders are off or paused; the planner
    reads only rows whose instant has come (an index, so its work follows what is due, not how many students
    there are) and moves it on. `last_planned_day` is the local day last planned, so no day is planned twice,
    even when the student changes time zone.
    """

    __tablename__ = "reminder_preferences"
    __table_args__ = (
        # Also the index of `user_id` (its leading column): the planner's update maintains every index of the
        # table, so there is no second one.
        UniqueConstraint("user_id", "course_id"),
        CheckConstraint("weekdays BETWEEN 1 AND 127", name="weekdays_bitmask"),
        # The few students paused and not told yet; the planner never touches these rows, so never this index.
        Index(
            "ix_reminder_preferences_untold",
            "guild_id",
            "user_id",
            postgresql_where=text("pause_untold"),
            sqlite_where=text("pause_untold = 1"),
        ),
    )

    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    local_time: Mapped[time] = mapped_column(Time)
    weekdays: Mapped[int] = mapped_column(Integer)  # bit 0 = Monday ... bit 6 = Sunday
    next_fire_at: Mapped[datetime | None] = mapped_column(index=True)
    last_planned_day: Mapped[date | None] = mapped_column(Date)
    streak_nudges: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    deadline_nudges: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    paused_reason: Mapped[str | None] = mapped_column(String(300))
    # Paused and the student not told yet: the first process to tell them clears it, so no one tells twice.
    pause_untold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When Discord last confirmed the student is in the guild: checked every few days, not before every message.
    member_seen_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Notification(IdMixin, TimestampMixin, Base):
    """The outbox: one row per message the bot sends on its own. `dedupe_key` is unique, so planning the same
    message twice (a rerun, a second process) inserts nothing the second time.

    `course_id` has no foreign key: the planner inserts thousands of rows a minute and each key is a check per
    row, and a course is only ever deleted with its guild, whose key removes the row anyway. A message whose
    course is gone is skipped when it is composed."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_due_at", "status", "due_at"),)

    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[NotificationKind] = mapped_column(enum_column_type(NotificationKind))
    status: Mapped[NotificationStatus] = mapped_column(
        enum_column_type(NotificationStatus), default=NotificationStatus.PENDING
    )
    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int | None] = mapped_column(IdKey)
    channel_id: Mapped[int | None] = mapped_column(Snowflake)  # where a channel post goes (announcements)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(500))
