"""Every column that can name a person, and what erasing that person does to each.

`PERSON_COLUMNS` lists every column that can hold a person's Discord id with its `Treatment`; `person_columns()`
derives the same set from the models. The tests fail when a column is missing from the list, or from every kind of
`kinds.KINDS`, so a new table cannot be forgotten. `audit_names` and `own_sessions` find a person's rows where their
id is not a plain column: in an audit row's list of targets, and in their tutor conversations' messages and notes.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import BigInteger, Column, ColumnElement, MetaData, Select, Table, exists, func, literal, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeEngine

from db.base import Base
from db.models import AuditLog, ChatSession

# The id an erased person's audit rows name instead of theirs: 0 is no one (the bot and the CLI also act as 0).
NO_ONE = 0
# Discord snowflakes that are never a person.
NOT_PEOPLE = frozenset({"guild_id", "role_id", "channel_id", "dm_channel_id", "thread_id", "discord_message_id"})
# The human loop's posts: where an escalation or a feedback request was posted (channels and messages, no one).
NOT_PEOPLE |= {"staff_channel_id", "staff_message_id", "public_channel_id", "public_message_id"}


class Treatment(enum.StrEnum):
    """What erasing a person does to a column that holds their id."""

    DELETE = "deleted"
    DETACH = "kept without your name"  # the column is emptied; the row stays, naming no one
    PSEUDONYMISE = "kept, your id removed"  # audit rows: the record of what was done stays, not who
    TOMBSTONE = "kept as the tombstone"


# Every column that can hold a person's Discord id, in the order erasure treats them: leaderboard presence first,
# `users` last (its row is what the others hang off). `audit_logs.target_ids` is a JSON list of ids.
PERSON_COLUMNS: dict[str, Treatment] = {
    "member_stats.user_id": Treatment.DELETE,
    "course_member_stats.user_id": Treatment.DELETE,
    "xp_daily.user_id": Treatment.DELETE,
    "xp_events.user_id": Treatment.DELETE,
    "activity_events.user_id": Treatment.DELETE,
    "chat_message_feedback.user_id": Treatment.DELETE,
    "chat_sessions.user_id": Treatment.DELETE,
    # Answers hang off attempts: detached, they keep every question's statistics right without the person.
    "quiz_attempts.user_id": Treatment.DETACH,
    "content_progress.user_id": Treatment.DELETE,
    "concept_mastery.user_id": Treatment.DELETE,
    "review_cards.user_id": Treatment.DELETE,
    "reminder_preferences.user_id": Treatment.DELETE,
    "notifications.user_id": Treatment.DELETE,
    "course_enrollments.user_id": Treatment.DELETE,
    "guild_members.user_id": Treatment.DELETE,
    "user_profiles.user_id": Treatment.DELETE,
    "streaks.user_id": Treatment.DELETE,
    "data_exports.user_id": Treatment.DELETE,
    # What staff made belongs to the course: it stays, without their name.
    "materials.uploader_id": Treatment.DETACH,
    "materials.deleted_by": Treatment.DETACH,
    "courses.created_by": Treatment.DETACH,
    "courses.deleted_by": Treatment.DETACH,
    "modules.deleted_by": Treatment.DETACH,
    "module_revisions.created_by": Treatment.DETACH,
    "content_items.deleted_by": Treatment.DETACH,
    "content_revisions.created_by": Treatment.DETACH,
    "prompts.created_by": Treatment.DETACH,
    "llm_backends.created_by": Treatment.DETACH,
    "system_settings.updated_by": Treatment.DETACH,
    # The human loop: what a member asked or sent is theirs; the staff who handled it stay unnamed.
    "escalations.student_id": Treatment.DELETE,
    "escalations.claimed_by": Treatment.DETACH,
    "feature_request_votes.user_id": Treatment.DELETE,
    "feature_requests.requester_id": Treatment.DELETE,
    "feature_requests.status_changed_by": Treatment.DETACH,
    "material_submissions.student_id": Treatment.DELETE,
    "material_submissions.decided_by": Treatment.DETACH,
    "audit_logs.actor_id": Treatment.PSEUDONYMISE,
    "audit_logs.target_ids": Treatment.PSEUDONYMISE,
    "users.id": Treatment.DELETE,
    "erased_users.user_id": Treatment.TOMBSTONE,
}


def is_snowflake(column_type: TypeEngine[Any]) -> bool:
    """Whether a column type is a Discord id: `Snowflake` is a plain BIGINT, where internal keys (`IdKey`) are
    INTEGER on SQLite."""
    return isinstance(column_type, BigInteger) and column_type.compile(dialect=sqlite.dialect()) == "BIGINT"


def person_columns(metadata: MetaData = Base.metadata) -> set[str]:
    """Every column of the schema that can hold a person's Discord id: a foreign key to `users`, or a Discord id
    that is not a server, role, channel, thread or message. Each must have a treatment in `PERSON_COLUMNS`."""
    found = set()
    for table in metadata.tables.values():
        for column in table.columns:
            refers_to_users = any(key.column.table.name == "users" for key in column.foreign_keys)
            a_discord_id = is_snowflake(column.type) and column.name not in NOT_PEOPLE and table.name != "guilds"
            if refers_to_users or a_discord_id:
                found.add(f"{table.name}.{column.name}")
    return found


def column_of(qualified: str) -> tuple[Table, Column[Any]]:
    """The table and column of "table.column"."""
    table_name, name = qualified.split(".")
    table = Base.metadata.tables[table_name]
    return table, table.c[name]


def audit_names(user_id: int, dialect: str) -> ColumnElement[bool]:
    """Audit rows about the person: those they did, and those about them as a member."""
    if dialect == "postgresql":
        person = func.jsonb_build_array(literal(user_id, BigInteger))
        listed: ColumnElement[bool] = AuditLog.target_ids.op("@>", is_comparison=True)(person)
    else:
        ids = func.json_each(AuditLog.target_ids).table_valued("value")
        listed = exists(select(literal(1)).select_from(ids).where(ids.c.value == user_id))
    return (AuditLog.actor_id == user_id) | ((AuditLog.target_type == "member") & listed)


def own_sessions(user_id: int) -> Select[Any]:
    """The person's tutor conversations, whose messages and notes are theirs too."""
    return select(ChatSession.id).where(ChatSession.user_id == user_id)
