"""The audit log: every instructor and admin change, append-only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdMixin, Snowflake, TimestampMixin


class AuditLog(IdMixin, TimestampMixin, Base):
    # No foreign keys on purpose: the record must outlive the guild, user or row it names.
    __tablename__ = "audit_logs"
    __table_args__ = (Index("ix_audit_logs_guild_id_created_at", "guild_id", "created_at"),)

    guild_id: Mapped[int | None] = mapped_column(Snowflake)
    actor_id: Mapped[int] = mapped_column(Snowflake)
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_ids: Mapped[list[Any]] = mapped_column(default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
