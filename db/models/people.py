"""Tenancy and people: a Discord guild is the tenant; users are Discord users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdMixin, Snowflake, TimestampMixin, enum_column_type
from db.models.enums import MemberRole


class Guild(TimestampMixin, Base):
    __tablename__ = "guilds"

    id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(10), default="en-US")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Role ids for instructor/TA/admin and channel ids (reminders, announcements); see services.guilds.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        # Members who hid themselves from leaderboards: boards subtract them with a scan of this small index
        # instead of reading every user. The expressions match `leaderboard._hidden_from_boards` exactly.
        Index(
            "ix_users_leaderboard_hidden",
            "id",
            postgresql_where=text("(preferences ->> 'leaderboard') = 'off'"),
            sqlite_where=text("json_extract(preferences, '$.leaderboard') = 'off'"),
        ),
    )

    id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    display_name: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(10), default="en-US")
    # Indexed: the streak-nudge planner reads only the students of the zones at their nudge hour.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", index=True)
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_active_at: Mapped[datetime | None]
    # Opened once and kept: a DM channel between the bot and a user never changes, and opening it is a request.
    dm_channel_id: Mapped[int | None] = mapped_column(Snowflake)


class GuildMember(IdMixin, TimestampMixin, Base):
    """A role a user holds in a guild, granted by the bot (Discord roles are mapped in guild settings)."""

    __tablename__ = "guild_members"
    __table_args__ = (UniqueConstraint("guild_id", "user_id", "role"),)

    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[MemberRole] = mapped_column(enum_column_type(MemberRole))


class UserProfile(Base):
    __tablename__ = "user_profiles"

    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    learning_goal: Mapped[str | None] = mapped_column(String(40))
    study_level: Mapped[str | None] = mapped_column(String(40))
