"""Retention: deleting what outlived the time `[privacy]` in config.toml keeps it (docs/privacy.md explains each).

Tutor conversations, study-day activity, finished notifications, erasure tombstones and export times each go a
batch at a time once they are older than their setting.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot.config import PrivacySettings
from bot.services.privacy.batches import Batch, deleting, drain
from db.models import ActivityEvent, ChatMessage, ChatSession, DataExport, ErasedUser, Notification, NotificationStatus
from db.session import Database

FINISHED_NOTIFICATIONS = (NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.SKIPPED)


def _retention_batches(settings: PrivacySettings, now: datetime) -> list[tuple[str, Batch]]:
    """What outlived its retention: tutor conversations (messages first), study-day activity, finished
    notifications, tombstones older than the backups, and export times the rate limit no longer needs."""
    conversations_before = now - timedelta(days=settings.tutor_conversation_days)
    old_sessions = select(ChatSession.id).where(ChatSession.ended_at < conversations_before)
    return [
        ("chat_messages", deleting(ChatMessage.__table__, ChatMessage.session_id.in_(old_sessions))),
        ("chat_sessions", deleting(ChatSession.__table__, ChatSession.ended_at < conversations_before)),
        (
            "activity_events",
            deleting(ActivityEvent.__table__, ActivityEvent.at < now - timedelta(days=settings.activity_days)),
        ),
        (
            "notifications",
            deleting(
                Notification.__table__,
                Notification.status.in_(FINISHED_NOTIFICATIONS)
                & (Notification.due_at < now - timedelta(days=settings.notification_days)),
            ),
        ),
        (
            "erased_users",
            deleting(ErasedUser.__table__, ErasedUser.finished_at < now - timedelta(days=settings.tombstone_days)),
        ),
        (
            "data_exports",
            deleting(DataExport.__table__, DataExport.exported_at < now - timedelta(hours=settings.export_every_hours)),
        ),
    ]


async def enforce_retention(database: Database, *, settings: PrivacySettings, now: datetime) -> dict[str, int]:
    """Delete what outlived its retention (`[privacy]` in config.toml), a batch at a time. Rows deleted per table."""
    removed = {}
    for name, batch in _retention_batches(settings, now):
        if count := await drain(database, batch, settings.batch_size):
            removed[name] = count
    return removed
