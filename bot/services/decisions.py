"""What staff decide on, once: a student's submission, an escalated tutor conversation, a feedback request.

Each is a row of a guild with a status. A decision is one conditional UPDATE from the status it needs, so of
concurrent presses exactly one wins; every caller then reads the row as it now is, so a loser can say who won.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import NotFound
from db.models import Course


class GuildRow(Protocol):
    id: Any
    guild_id: Any
    status: Any


Decided = TypeVar("Decided", bound=GuildRow)


async def in_guild(
    session: AsyncSession, model: type[Decided], row_id: int, *, guild_id: int, what: str, for_update: bool = False
) -> Decided:
    """The row `row_id` of `model` as the database has it now, if it belongs to the guild; else `NotFound` (`what` names
    the kind of thing, its reference is `#<id>`). `for_update` locks it until the caller's transaction ends."""
    row = await session.get(model, row_id, with_for_update=for_update, populate_existing=True)
    if row is None or row.guild_id != guild_id:
        raise NotFound(what, f"#{row_id}")
    return row


async def decide_once(
    session: AsyncSession,
    model: type[Decided],
    row_id: int,
    *,
    guild_id: int,
    what: str,
    needs: Any,
    where: Sequence[ColumnElement[bool]] = (),
    **values: Any,
) -> tuple[Decided, bool]:
    """Write `values` to the row `row_id` of `model` if it is the guild's, in the status `needs`, and `where` holds.

    Returns the row as it now is and whether this call changed it (False: it was not in `needs`, e.g. another press
    decided first). Raises `NotFound` for a row the guild does not have."""
    won = await session.scalar(
        update(model)
        .where(model.id == row_id, model.guild_id == guild_id, model.status == needs, *where)
        .values(**values)
        .returning(model.id)
    )
    return await in_guild(session, model, row_id, guild_id=guild_id, what=what), won is not None


async def course_code(session: AsyncSession, course_id: int | None) -> str | None:
    """The code of the course a decided row belongs to (None for none)."""
    if course_id is None:
        return None
    return await session.scalar(select(Course.code).where(Course.id == course_id))
