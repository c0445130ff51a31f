"""Servers that removed the bot: their data is purged a grace period later.

`schedule_guild_purge`, `cancel_guild_purge` and `reconcile_guilds` keep `guild_removals` (the bookkeeping, in the
caller's `AsyncSession`); `purge_guild` deletes everything of a server, leaves first, a batch at a time, and is run
by the maintenance once the grace period ends, or by `coursebot privacy purge-guild`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit
from bot.services.privacy.batches import Batch, deleting, drain
from bot.services.privacy.registry import NO_ONE
from db.models import (
    ActivityEvent,
    AuditLog,
    ChatMessage,
    ChatSession,
    Concept,
    ConceptMastery,
    ContentItem,
    ContentProgress,
    ContentRevision,
    Course,
    CourseEnrollment,
    CourseMemberStats,
    CourseOffering,
    Guild,
    GuildMember,
    GuildRemoval,
    LLMResponseCache,
    Material,
    MaterialChunk,
    MemberStats,
    Notification,
    Question,
    QuestionAnswer,
    QuizAttempt,
    ReminderPreference,
    XPDaily,
    XPEvent,
    XPLevel,
)
from db.session import Database, dialect_insert

PURGED = "guild.purge"  # the audit action that records a purge


async def schedule_guild_purge(session: AsyncSession, *, guild_id: int, now: datetime, grace: timedelta) -> None:
    """The bot left `guild_id`: purge its data after `grace`. A second notice keeps the first date; a guild never
    stored has nothing to purge."""
    if not await session.scalar(select(exists().where(Guild.id == guild_id))):
        return
    statement = dialect_insert(session, GuildRemoval).values(guild_id=guild_id, removed_at=now, purge_at=now + grace)
    await session.execute(statement.on_conflict_do_nothing(index_elements=[GuildRemoval.guild_id]))


async def cancel_guild_purge(session: AsyncSession, *, guild_id: int) -> bool:
    """The bot is in `guild_id` again: its data stays. True if a purge was cancelled."""
    result = await session.execute(delete(GuildRemoval).where(GuildRemoval.guild_id == guild_id))
    return bool(result.rowcount)


async def reconcile_guilds(
    session: AsyncSession, *, present: Iterable[int], now: datetime, grace: timedelta
) -> list[int]:
    """After connecting: purge later every stored guild the bot is no longer in (it was removed while the bot was
    offline), and cancel the purge of every guild it is in. Returns the guilds newly scheduled."""
    present = set(present)
    if present:
        await session.execute(delete(GuildRemoval).where(GuildRemoval.guild_id.in_(present)))
    absent = select(Guild.id).where(~exists().where(GuildRemoval.guild_id == Guild.id))
    if present:
        absent = absent.where(Guild.id.not_in(present))
    gone = (await session.scalars(absent)).all()
    for guild_id in gone:
        await schedule_guild_purge(session, guild_id=guild_id, now=now, grace=grace)
    return list(gone)


def _guild_batches(guild_id: int) -> list[tuple[str, Batch]]:
    """Every step of purging a guild, leaves first, so no single statement cascades into thousands of rows;
    the courses, then the guild row, take the rest (small by then) with them."""
    courses = select(Course.id).where(Course.guild_id == guild_id)
    offerings = select(CourseOffering.id).where(CourseOffering.course_id.in_(courses))
    items = select(ContentItem.id).where(ContentItem.course_id.in_(courses))
    attempts = select(QuizAttempt.id).where(QuizAttempt.offering_id.in_(offerings))
    sessions = select(ChatSession.id).where(ChatSession.guild_id == guild_id)
    concepts = select(Concept.id).where(Concept.course_id.in_(courses))
    return [
        ("question_answers", deleting(QuestionAnswer.__table__, QuestionAnswer.attempt_id.in_(attempts))),
        ("quiz_attempts", deleting(QuizAttempt.__table__, QuizAttempt.offering_id.in_(offerings))),
        ("content_progress", deleting(ContentProgress.__table__, ContentProgress.offering_id.in_(offerings))),
        ("course_enrollments", deleting(CourseEnrollment.__table__, CourseEnrollment.offering_id.in_(offerings))),
        ("concept_mastery", deleting(ConceptMastery.__table__, ConceptMastery.concept_id.in_(concepts))),
        ("chat_messages", deleting(ChatMessage.__table__, ChatMessage.session_id.in_(sessions))),
        ("chat_sessions", deleting(ChatSession.__table__, ChatSession.guild_id == guild_id)),
        # Newest first: a cached answer is younger than the answer it follows, so a batch takes leaves.
        (
            "llm_response_cache",
            deleting(LLMResponseCache.__table__, LLMResponseCache.content_item_id.in_(items), newest_first=True),
        ),
        ("material_chunks", deleting(MaterialChunk.__table__, MaterialChunk.course_id.in_(courses))),
        ("materials", deleting(Material.__table__, Material.course_id.in_(courses))),
        ("xp_events", deleting(XPEvent.__table__, XPEvent.guild_id == guild_id)),
        ("xp_daily", deleting(XPDaily.__table__, XPDaily.guild_id == guild_id)),
        ("course_member_stats", deleting(CourseMemberStats.__table__, CourseMemberStats.course_id.in_(courses))),
        ("member_stats", deleting(MemberStats.__table__, MemberStats.guild_id == guild_id)),
        ("xp_levels", deleting(XPLevel.__table__, XPLevel.guild_id == guild_id)),
        ("activity_events", deleting(ActivityEvent.__table__, ActivityEvent.guild_id == guild_id)),
        ("notifications", deleting(Notification.__table__, Notification.guild_id == guild_id)),
        ("reminder_preferences", deleting(ReminderPreference.__table__, ReminderPreference.guild_id == guild_id)),
        ("questions", deleting(Question.__table__, Question.item_id.in_(items))),
        ("content_revisions", deleting(ContentRevision.__table__, ContentRevision.item_id.in_(items))),
        ("courses", deleting(Course.__table__, Course.guild_id == guild_id)),
        ("guild_members", deleting(GuildMember.__table__, GuildMember.guild_id == guild_id)),
        # Its audit log, except the records of earlier purges (a rerun would otherwise purge its own record).
        ("audit_logs", deleting(AuditLog.__table__, (AuditLog.guild_id == guild_id) & (AuditLog.action != PURGED))),
        ("guilds", deleting(Guild.__table__, Guild.id == guild_id)),
    ]


async def purge_guild(database: Database, *, guild_id: int, reason: str, batch_size: int) -> dict[str, int]:
    """Delete everything of `guild_id` (its courses and everything in them, members' progress, XP, conversations,
    reminders, audit log, the guild row), a batch at a time; idempotent. Members' own rows (`users`, streaks) stay:
    they are not the server's. One audit row records the purge, naming no one. Returns rows deleted per table."""
    removed: Counter[str] = Counter()
    for name, batch in _guild_batches(guild_id):
        if count := await drain(database, batch, batch_size):
            removed[name] += count
    if removed:
        async with database.session_scope() as session:
            await audit.record(
                session,
                guild_id=guild_id,
                actor_id=NO_ONE,
                action=PURGED,
                target_type="guild",
                target_ids=[guild_id],
                meta={"reason": reason, "rows": sum(removed.values())},
            )
    return dict(removed)
