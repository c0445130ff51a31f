"""The audit log: one append-only row per instructor or admin change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditLog


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor_id: int
    action: str
    target_type: str
    target_ids: list[Any]
    meta: dict[str, Any]


async def record(
    session: AsyncSession,
    *,
    guild_id: int | None,
    actor_id: int,
    action: str,
    target_type: str,
    target_ids: Sequence[int | str] = (),
    meta: dict[str, Any] | None = None,
) -> None:
    """Append one audit row in the caller's transaction, so the change and its record commit together."""
    session.add(
        AuditLog(
            guild_id=guild_id,
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_ids=list(target_ids),
            meta=meta or {},
        )
    )


async def recent(
    session: AsyncSession, *, guild_id: int, limit: int = 25, action: str | None = None
) -> list[AuditEntry]:
    """The guild's newest audit rows first."""
    query = select(AuditLog).where(AuditLog.guild_id == guild_id).order_by(AuditLog.id.desc()).limit(limit)
    if action:
        query = query.where(AuditLog.action == action)
    return [
        AuditEntry(row.id, row.created_at, row.actor_id, row.action, row.target_type, row.target_ids, row.meta)
        for row in await session.scalars(query)
    ]
