"""The kinds of data Coursebot keeps about a person, as `/profile data` shows them and the export names them.

Each `Kind` has a label, a `Retention` (how long it stays, said with the `[privacy]` settings by `retention_text`),
the `PERSON_COLUMNS` its rows hang off (so it knows what erasure does to it), and the query of its rows, whose
columns are what the export holds. Every column of the registry is covered by at least one kind. Most kinds are
the rows of one table that name the person in one column (`_owned`: columns, joins and order, nothing else).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Boolean, ColumnElement, Select, literal, select, type_coerce, union_all
from sqlalchemy.orm import InstrumentedAttribute

from bot.config import PrivacySettings
from bot.services.privacy.registry import PERSON_COLUMNS, Treatment, audit_names, column_of, own_sessions
from db.models import (
    ActivityEvent,
    AuditLog,
    ChatMessage,
    ChatMessageFeedback,
    ChatNote,
    ChatSession,
    Concept,
    ConceptMastery,
    ContentItem,
    ContentProgress,
    Course,
    CourseEnrollment,
    CourseMemberStats,
    CourseOffering,
    DataExport,
    ErasedUser,
    Escalation,
    FeatureRequest,
    FeatureRequestVote,
    GuildMember,
    MaterialSubmission,
    MemberStats,
    Notification,
    Question,
    QuestionAnswer,
    QuizAttempt,
    ReminderPreference,
    ReviewCard,
    Streak,
    User,
    UserProfile,
    XPDaily,
    XPEvent,
)


class Retention(enum.StrEnum):
    """How long a kind of data is kept; `retention_text` says it with the configured numbers."""

    UNTIL_DELETED = "until you delete it"
    WITH_SERVER = "until you delete it, or {guild_grace_days} days after the server removes Coursebot"
    ANONYMOUS = "with your name until you delete it; then without it, for the course's quiz statistics"
    TUTOR = "{tutor_conversation_days} days after the conversation ends"
    ACTIVITY = "{activity_days} days"
    NOTIFICATIONS = "{notification_days} days after it was sent"
    EXPORTS = "{export_every_hours} hours: it is what limits exports"
    AUDIT = "as long as the server's audit log; your id is removed when you delete your data"
    CREDITS = "as long as the course; your name is removed when you delete your data"
    TOMBSTONE = "{tombstone_days} days after an erasure: your Discord id and when, nothing else"


def retention_text(retention: Retention, settings: PrivacySettings) -> str:
    return retention.value.format(**settings.model_dump())


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of data about a person: how it is named, how long it stays, and its rows (the exported columns).

    `covers` are the `PERSON_COLUMNS` its rows hang off; `rows` takes the person's id and the dialect's name.
    """

    key: str  # the export's name for it: part of the stable format
    label: str
    retention: Retention
    covers: tuple[str, ...]
    rows: Callable[[int, str], Select[Any]]

    @property
    def on_erasure(self) -> Treatment:
        treatments = {PERSON_COLUMNS[column] for column in self.covers}
        for strongest in (Treatment.TOMBSTONE, Treatment.PSEUDONYMISE, Treatment.DETACH):
            if strongest in treatments:
                return strongest
        return Treatment.DELETE


# What staff made and the course keeps: exported as references (table, row, as what), without their name on erasure.
CREDITED = (
    "materials.uploader_id",
    "materials.deleted_by",
    "courses.created_by",
    "courses.deleted_by",
    "modules.deleted_by",
    "module_revisions.created_by",
    "content_items.deleted_by",
    "content_revisions.created_by",
    "prompts.created_by",
    "llm_backends.created_by",
    "system_settings.updated_by",
)


def _credits(user_id: int, _dialect: str) -> Select[Any]:
    """The rows that name the person as their author (staff): which table, which row, as what."""
    parts = [
        select(literal(table.name).label("table"), table.c.id.label("row_id"), literal(column.name).label("as")).where(
            column == user_id
        )
        for table, column in map(column_of, CREDITED)
    ]
    return select(union_all(*parts).subquery())


class _Join(NamedTuple):
    """A table a kind's query joins, on what; `outer` keeps the person's rows that have none."""

    table: Any
    on: ColumnElement[bool]
    outer: bool = False


# Which server and course a row is about.
_IN_COURSE = (Course.guild_id, Course.code.label("course"))


def _course_of(course_id: ColumnElement[int], *, outer: bool = False) -> tuple[_Join]:
    return (_Join(Course, Course.id == course_id, outer),)


def _item_of(item_id: ColumnElement[int]) -> tuple[_Join, _Join]:
    """The content item `item_id` names, and its course."""
    return _Join(ContentItem, ContentItem.id == item_id), *_course_of(ContentItem.course_id)


def _owned(
    key: str,
    label: str,
    retention: Retention,
    owner: InstrumentedAttribute[int],
    *columns: Any,
    joins: tuple[_Join, ...] = (),
    order_by: Any = None,
) -> Kind:
    """A kind whose rows are those of one table with the person's id in `owner` (the one column it covers)."""

    def rows(user: int, _dialect: str) -> Select[Any]:
        query = select(*columns)
        for join in joins:
            query = query.join(join.table, join.on, isouter=join.outer)
        query = query.where(owner == user)
        return query if order_by is None else query.order_by(order_by)

    return Kind(key, label, retention, (f"{owner.class_.__tablename__}.{owner.key}",), rows)


KINDS: tuple[Kind, ...] = (
    _owned(
        "account",
        "Account: name, language, time zone, settings",
        Retention.UNTIL_DELETED,
        User.id,
        User.id.label("user_id"),
        User.display_name,
        User.locale,
        User.time_zone,
        User.preferences,
        User.created_at,
        User.last_active_at,
    ),
    _owned(
        "profile",
        "Learning profile",
        Retention.UNTIL_DELETED,
        UserProfile.user_id,
        UserProfile.learning_goal,
        UserProfile.study_level,
    ),
    _owned(
        "roles",
        "Levels Coursebot gave you",
        Retention.WITH_SERVER,
        GuildMember.user_id,
        GuildMember.guild_id,
        GuildMember.role,
        GuildMember.created_at,
    ),
    _owned(
        "enrollments",
        "Course enrollments",
        Retention.WITH_SERVER,
        CourseEnrollment.user_id,
        *_IN_COURSE,
        CourseOffering.term_name.label("cohort"),
        CourseEnrollment.status,
        CourseEnrollment.enrolled_at,
        CourseEnrollment.completed_at,
        CourseEnrollment.dropped_at,
        CourseEnrollment.final_grade,
        joins=(
            _Join(CourseOffering, CourseOffering.id == CourseEnrollment.offering_id),
            *_course_of(CourseOffering.course_id),
        ),
        order_by=CourseEnrollment.id,
    ),
    _owned(
        "progress",
        "Lesson progress",
        Retention.WITH_SERVER,
        ContentProgress.user_id,
        *_IN_COURSE,
        ContentItem.slug.label("item"),
        ContentProgress.percent,
        ContentProgress.attempts,
        ContentProgress.first_opened_at,
        ContentProgress.last_opened_at,
        ContentProgress.completed_at,
        joins=_item_of(ContentProgress.item_id),
        order_by=ContentProgress.id,
    ),
    _owned(
        "quiz_attempts",
        "Quiz attempts",
        Retention.ANONYMOUS,
        QuizAttempt.user_id,
        QuizAttempt.id.label("attempt_id"),
        *_IN_COURSE,
        ContentItem.slug.label("quiz"),
        QuizAttempt.attempt_number,
        QuizAttempt.status,
        QuizAttempt.score,
        QuizAttempt.correct_count,
        QuizAttempt.passed,
        QuizAttempt.started_at,
        QuizAttempt.submitted_at,
        QuizAttempt.time_taken_seconds,
        joins=_item_of(QuizAttempt.item_id),
        order_by=QuizAttempt.id,
    ),
    _owned(
        "quiz_answers",
        "Quiz answers",
        Retention.ANONYMOUS,
        QuizAttempt.user_id,
        QuestionAnswer.attempt_id,
        Question.text.label("question"),
        Question.options,
        QuestionAnswer.answer,
        QuestionAnswer.is_correct,
        QuestionAnswer.answered_at,
        joins=(
            _Join(QuizAttempt, QuizAttempt.id == QuestionAnswer.attempt_id),
            _Join(Question, Question.id == QuestionAnswer.question_id),
        ),
        order_by=QuestionAnswer.id,
    ),
    _owned(
        "concept_mastery",
        "Concept mastery",
        Retention.WITH_SERVER,
        ConceptMastery.user_id,
        *_IN_COURSE,
        Concept.slug.label("concept"),
        ConceptMastery.level,
        ConceptMastery.confidence,
        ConceptMastery.correct_count,
        ConceptMastery.attempt_count,
        ConceptMastery.updated_at,
        joins=(_Join(Concept, Concept.id == ConceptMastery.concept_id), *_course_of(Concept.course_id)),
        order_by=ConceptMastery.id,
    ),
    _owned(
        "review_cards",
        "Review cards (when each question you answered comes back)",
        Retention.WITH_SERVER,
        ReviewCard.user_id,
        *_IN_COURSE,
        ReviewCard.question_id,
        ReviewCard.state,
        ReviewCard.stability,
        ReviewCard.difficulty,
        ReviewCard.due,
        ReviewCard.last_review,
        ReviewCard.last_rating,
        ReviewCard.reps,
        ReviewCard.lapses,
        ReviewCard.retired_at,
        joins=_course_of(ReviewCard.course_id),
        order_by=ReviewCard.id,
    ),
    _owned(
        "xp_events",
        "XP ledger entries",
        Retention.WITH_SERVER,
        XPEvent.user_id,
        XPEvent.guild_id,
        Course.code.label("course"),
        XPEvent.amount,
        XPEvent.action,
        XPEvent.reason,
        XPEvent.source_key,
        XPEvent.day,
        XPEvent.created_at,
        joins=_course_of(XPEvent.course_id, outer=True),
        order_by=XPEvent.id,
    ),
    _owned(
        "xp_totals",
        "Leaderboard totals per server",
        Retention.WITH_SERVER,
        MemberStats.user_id,
        MemberStats.guild_id,
        MemberStats.total_xp,
        MemberStats.updated_at,
    ),
    _owned(
        "course_xp_totals",
        "Leaderboard totals per course",
        Retention.WITH_SERVER,
        CourseMemberStats.user_id,
        *_IN_COURSE,
        CourseMemberStats.total_xp,
        joins=_course_of(CourseMemberStats.course_id),
    ),
    _owned(
        "xp_by_day",
        "XP per day (weekly and monthly boards)",
        Retention.WITH_SERVER,
        XPDaily.user_id,
        XPDaily.guild_id,
        XPDaily.day,
        XPDaily.course_id,
        XPDaily.xp,
        order_by=XPDaily.day,
    ),
    _owned(
        "streak",
        "Streak",
        Retention.UNTIL_DELETED,
        Streak.user_id,
        Streak.current,
        Streak.longest,
        Streak.last_activity_date,
        Streak.total_active_days,
        Streak.freezes_available,
        Streak.freeze_used_on,
        Streak.updated_at,
    ),
    _owned(
        "activity",
        "Study days (the streak calendar)",
        Retention.ACTIVITY,
        ActivityEvent.user_id,
        ActivityEvent.guild_id,
        ActivityEvent.kind,
        ActivityEvent.at,
        ActivityEvent.meta,
        order_by=ActivityEvent.id,
    ),
    _owned(
        "tutor_sessions",
        "Tutor conversations",
        Retention.TUTOR,
        ChatSession.user_id,
        ChatSession.id.label("session_id"),
        ChatSession.guild_id,
        Course.code.label("course"),
        ChatSession.source_mode,
        ChatSession.thread_id,
        ChatSession.started_at,
        ChatSession.last_message_at,
        ChatSession.ended_at,
        ChatSession.end_reason,
        joins=_course_of(ChatSession.course_id, outer=True),
        order_by=ChatSession.id,
    ),
    Kind(
        "tutor_messages",
        "Tutor messages (yours and the tutor's)",
        Retention.TUTOR,
        ("chat_sessions.user_id",),
        lambda user, _: (
            select(
                ChatMessage.id.label("message_id"),
                ChatMessage.session_id,
                ChatMessage.role,
                ChatMessage.content,
                ChatMessage.generation_status,
                ChatMessage.meta,
                ChatMessage.created_at,
            )
            .where(ChatMessage.session_id.in_(own_sessions(user)))
            .order_by(ChatMessage.id)
        ),
    ),
    Kind(
        "tutor_notes",
        "Tutor notes",
        Retention.TUTOR,
        ("chat_sessions.user_id",),
        lambda user, _: (
            select(
                ChatNote.session_id, ChatNote.message_id, ChatNote.content, ChatNote.selected_text, ChatNote.created_at
            )
            .where(ChatNote.session_id.in_(own_sessions(user)))
            .order_by(ChatNote.id)
        ),
    ),
    _owned(
        "tutor_feedback",
        "Your ratings of tutor answers",
        Retention.TUTOR,
        ChatMessageFeedback.user_id,
        ChatMessageFeedback.message_id,
        ChatMessageFeedback.rating,
        ChatMessageFeedback.comment,
        ChatMessageFeedback.created_at,
        ChatMessageFeedback.updated_at,
        order_by=ChatMessageFeedback.id,
    ),
    _owned(
        "reminders",
        "Study reminders",
        Retention.WITH_SERVER,
        ReminderPreference.user_id,
        ReminderPreference.guild_id,
        Course.code.label("course"),
        ReminderPreference.local_time,
        ReminderPreference.weekdays,
        ReminderPreference.next_fire_at,
        ReminderPreference.streak_nudges,
        ReminderPreference.deadline_nudges,
        ReminderPreference.paused_reason,
        ReminderPreference.created_at,
        joins=_course_of(ReminderPreference.course_id),
        order_by=ReminderPreference.id,
    ),
    _owned(
        "notifications",
        "Reminders and nudges sent to you",
        Retention.NOTIFICATIONS,
        Notification.user_id,
        Notification.guild_id,
        Notification.kind,
        Notification.status,
        Notification.due_at,
        Notification.sent_at,
        Notification.payload,
        Notification.created_at,
        order_by=Notification.id,
    ),
    Kind(
        "escalations",
        "Tutor conversations you handed to a TA, or took over as one",
        Retention.WITH_SERVER,
        ("escalations.student_id", "escalations.claimed_by"),
        lambda user, _: (
            select(
                Escalation.guild_id,
                Escalation.status,
                Escalation.note,
                Escalation.question,
                type_coerce(Escalation.student_id == user, Boolean).label("asked_by_you"),
                Escalation.created_at,
                Escalation.claimed_at,
                Escalation.released_at,
            )
            .where((Escalation.student_id == user) | (Escalation.claimed_by == user))
            .order_by(Escalation.id)
        ),
    ),
    Kind(
        "feedback",
        "Feedback and requests you sent, changed or +1'd",
        Retention.WITH_SERVER,
        ("feature_requests.requester_id", "feature_requests.status_changed_by", "feature_request_votes.user_id"),
        lambda user, _: (
            select(
                FeatureRequest.id.label("reference"),
                FeatureRequest.guild_id,
                FeatureRequest.kind,
                FeatureRequest.title,
                FeatureRequest.details,
                FeatureRequest.status,
                type_coerce(FeatureRequest.requester_id == user, Boolean).label("sent_by_you"),
                FeatureRequest.created_at,
            )
            .where(
                (FeatureRequest.requester_id == user)
                | (FeatureRequest.status_changed_by == user)
                | FeatureRequest.id.in_(select(FeatureRequestVote.request_id).where(FeatureRequestVote.user_id == user))
            )
            .order_by(FeatureRequest.id)
        ),
    ),
    Kind(
        "submissions",
        "Material you submitted to a course, or decided on as staff",
        Retention.WITH_SERVER,
        ("material_submissions.student_id", "material_submissions.decided_by"),
        lambda user, _: (
            select(
                MaterialSubmission.guild_id,
                MaterialSubmission.title,
                MaterialSubmission.filename,
                MaterialSubmission.status,
                MaterialSubmission.reason,
                MaterialSubmission.xp_awarded,
                type_coerce(MaterialSubmission.student_id == user, Boolean).label("submitted_by_you"),
                MaterialSubmission.created_at,
                MaterialSubmission.decided_at,
            )
            .where((MaterialSubmission.student_id == user) | (MaterialSubmission.decided_by == user))
            .order_by(MaterialSubmission.id)
        ),
    ),
    _owned("exports", "Your last data export", Retention.EXPORTS, DataExport.user_id, DataExport.exported_at),
    Kind(
        "audit",
        "Audit log entries naming you",
        Retention.AUDIT,
        ("audit_logs.actor_id", "audit_logs.target_ids"),
        lambda user, dialect: (
            select(
                AuditLog.created_at,
                AuditLog.guild_id,
                AuditLog.action,
                AuditLog.target_type,
                AuditLog.meta,
                type_coerce(AuditLog.actor_id == user, Boolean).label("by_you"),
            )
            .where(audit_names(user, dialect))
            .order_by(AuditLog.id)
        ),
    ),
    Kind("credits", "Course content credited to you", Retention.CREDITS, CREDITED, _credits),
    _owned(
        "erasures",
        "Earlier erasure of your data",
        Retention.TOMBSTONE,
        ErasedUser.user_id,
        ErasedUser.requested_at,
        ErasedUser.finished_at,
    ),
)
