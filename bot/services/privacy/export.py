"""What Coursebot keeps about a person, and a copy of all of it: the inventory `/profile data` shows, and the JSON
export of `/profile export` and `coursebot privacy export` (its format is in docs/privacy.md).

Both take the caller's `AsyncSession` and never commit; both go kind by kind through `KINDS`.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from bot.config import PrivacySettings
from bot.errors import CourseError
from bot.services import audit
from bot.services.privacy.kinds import KINDS, retention_text
from bot.services.privacy.registry import NO_ONE, Treatment, is_snowflake
from db.models import DataExport, Guild
from db.session import dialect_insert

EXPORT_FORMAT = "coursebot-personal-data"
EXPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Holding:
    """How much of one kind Coursebot keeps about a person, and what happens to it."""

    key: str
    label: str
    count: int
    retention: str
    on_erasure: Treatment


async def inventory(session: AsyncSession, *, user_id: int, settings: PrivacySettings) -> list[Holding]:
    """What Coursebot keeps about `user_id`, kind by kind (with the kinds it holds none of)."""
    dialect = session.get_bind().dialect.name
    holdings = []
    for kind in KINDS:
        count = await session.scalar(select(func.count()).select_from(kind.rows(user_id, dialect).subquery()))
        holdings.append(
            Holding(kind.key, kind.label, count or 0, retention_text(kind.retention, settings), kind.on_erasure)
        )
    return holdings


class ExportTooSoon(CourseError):
    def __init__(self, next_at: datetime, every_hours: int) -> None:
        super().__init__(
            f"You can export your data once every {every_hours} hours; the next export is possible from "
            f"{next_at:%Y-%m-%d %H:%M} UTC. `/profile data` shows what is kept in the meantime."
        )
        self.next_at = next_at


def _exportable(value: Any, column_type: TypeEngine[Any]) -> Any:
    """A value as JSON holds it: Discord ids as strings (JavaScript numbers lose their last digits), instants,
    dates and times in ISO 8601, enums by value."""
    if value is None:
        return None
    if is_snowflake(column_type):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


async def export_data(
    session: AsyncSession,
    *,
    user_id: int,
    requested_by: str,
    guild_id: int | None,
    now: datetime,
    settings: PrivacySettings,
) -> bytes:
    """Everything stored about `user_id`, in every server, as the JSON document docs/privacy.md describes.

    `requested_by` "self": the person, once per `export_every_hours` (`data_exports` remembers when). "operator":
    `coursebot privacy export`, unlimited and not counted against the person. Either way the export is written to
    the audit log (in `guild_id`, where it was asked for), in the caller's transaction.
    """
    by_self = requested_by == "self"
    every = timedelta(hours=settings.export_every_hours)
    last = await session.scalar(select(DataExport.exported_at).where(DataExport.user_id == user_id))
    if by_self and last is not None and now < last + every:
        raise ExportTooSoon(last + every, settings.export_every_hours)
    dialect = session.get_bind().dialect.name
    data: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        query = kind.rows(user_id, dialect)
        types = [column.type for column in query.selected_columns]
        data[kind.key] = [
            {name: _exportable(value, types[index]) for index, (name, value) in enumerate(row._mapping.items())}
            for row in await session.execute(query)
        ]
    guild_ids = {int(row["guild_id"]) for rows in data.values() for row in rows if row.get("guild_id")}
    names = dict((await session.execute(select(Guild.id, Guild.name).where(Guild.id.in_(guild_ids)))).all())
    counts = {key: len(rows) for key, rows in data.items()}
    document = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "user_id": str(user_id),
        "exported_at": now.isoformat(),
        "servers": {str(guild): name for guild, name in sorted(names.items())},
        "counts": counts,
        "data": data,
    }
    if by_self and settings.export_every_hours:
        upsert = dialect_insert(session, DataExport).values(user_id=user_id, exported_at=now)
        await session.execute(
            upsert.on_conflict_do_update(index_elements=[DataExport.user_id], set_={"exported_at": now})
        )
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=user_id if by_self else NO_ONE,
        action="privacy.export",
        target_type="member",
        target_ids=[user_id],
        meta={"requested_by": requested_by, "rows": sum(counts.values())},
    )
    return json.dumps(document, ensure_ascii=False, indent=1).encode()
