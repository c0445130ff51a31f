"""Privacy bookkeeping: erasure tombstones, servers that removed the bot, and when each member last exported.

See `bot.services.privacy` and docs/privacy.md for what each row is for and how long it stays.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, Snowflake


class ErasedUser(Base):
    """The tombstone of a person whose data was erased: their Discord id and when, nothing else.

    No foreign key on purpose: it outlives the `users` row. Written before anything is deleted and marked
    finished after the last row is gone, so an erasure interrupted halfway is found and finished. Kept for
    `privacy.tombstone_days` (as long as backups are), so erasures can be applied again to a restored backup.
    """

    __tablename__ = "erased_users"
    __table_args__ = (Index("ix_erased_users_finished_at", "finished_at"),)

    user_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    # "self" (the person asked, with /profile delete) or "operator" (`coursebot privacy delete`).
    requested_by: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class GuildRemoval(Base):
    """A server that removed the bot: its data is purged at `purge_at`, unless the bot is added back first."""

    __tablename__ = "guild_removals"
    __table_args__ = (Index("ix_guild_removals_purge_at", "purge_at"),)

    guild_id: Mapped[int] = mapped_column(
        Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    removed_at: Mapped[datetime]
    purge_at: Mapped[datetime]


class DataExport(Base):
    """When a member last exported their data (`/profile export` allows one per `privacy.export_every_hours`)."""

    __tablename__ = "data_exports"

    user_id: Mapped[int] = mapped_column(
        Snowflake, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    exported_at: Mapped[datetime]
