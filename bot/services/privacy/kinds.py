"""The kinds of data Coursebot keeps about a person, as `/profile data` shows them and the export names them.

Each `Kind` has a label, a `Retention` (how long it stays, said with the `[privacy]` settings by `retention_text`),
the `PERSON_COLUMNS` its rows hang off (so it knows what erasure does to it), and the query of its rows, whose
columns are what the export holds. Every column of the registry is covered by at least one kind.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Select, literal, select, type_coerce, union_all

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


KINDS: tuple[Kind, ...] = (
    Kind(
        "account",
        "Account: name, language, time zone, settings",
        Retention.UNTIL_DELETED,
        ("users.id",),
        lambda user, _: select(
            User.id.label("user_id"),
            User.display_name,
            User.locale,
            User.time_zone,
            User.preferences,
            User.created_at,
            User.last_active_at,
        ).where(User.id == user),
    ),
    Kind(
        "profile",
        "Learning profile",
        Retention.UNTIL_DELETED,
        ("user_profiles.user_id",),
        lambda user, _: select(UserProfile.learning_goal, UserProfile.study_level).where(UserProfile.user_id == user),
    ),
    Kind(
        "roles",
        "Levels Coursebot gave you",
        Retention.WITH_SERVER,
        ("guild_members.user_id",),
        lambda user, _: select(GuildMember.guild_id, GuildMember.role, GuildMember.created_at).where(
            GuildMember.user_id == user
        ),
    ),
    Kind(
        "enrollments",
        "Course enrollments",
        Retention.WITH_SERVER,
        ("course_enrollments.user_id",),
        lambda user, _: (
            select(
                Course.guild_id,
                Course.code.label("course"),
                CourseOffering.term_name.label("cohort"),
                CourseEnrollment.status,
                CourseEnrollment.enrolled_at,
                CourseEnrollment.completed_at,
                CourseEnrollment.dropped_at,
                CourseEnrollment.final_grade,
            )
            .join(CourseOffering, CourseOffering.id == CourseEnrollment.offering_id)
            .join(Course, Course.id == CourseOffering.course_id)
            .where(CourseEnrollment.user_id == user)
            .order_by(CourseEnrollment.id)
        ),
    ),
    Kind(
        "progress",
        "Lesson progress",
        Retention.WITH_SERVER,
        ("content_progress.user_id",),
        lambda user, _: (
            select(
                Course.guild_id,
                Course.code.label("course"),
                ContentItem.slug.label("item"),
                ContentProgress.percent,
                ContentProgress.attempts,
                ContentProgress.first_opened_at,
                ContentProgress.last_opened_at,
                ContentProgress.completed_at,
            )
            .join(ContentItem, ContentItem.id == ContentProgress.item_id)
            .join(Course, Course.id == ContentItem.course_id)
            .where(ContentProgress.user_id == user)
            .order_by(ContentProgress.id)
        ),
    ),
    Kind(
        "quiz_attempts",
        "Quiz attempts",
        Retention.ANONYMOUS,
        ("quiz_attempts.user_id",),
        lambda user, _: (
            select(
                QuizAttempt.id.label("attempt_id"),
                Course.guild_id,
                Course.code.label("course"),
                ContentItem.slug.label("quiz"),
                QuizAttempt.attempt_number,
                QuizAttempt.status,
                QuizAttempt.score,
                QuizAttempt.correct_count,
                QuizAttempt.passed,
                QuizAttempt.started_at,
                QuizAttempt.submitted_at,
                QuizAttempt.time_taken_seconds,
            )
            .join(ContentItem, ContentItem.id == QuizAttempt.item_id)
            .join(Course, Course.id == ContentItem.course_id)
            .where(QuizAttempt.user_id == user)
            .order_by(QuizAttempt.id)
        ),
    ),
    Kind(
        "quiz_answers",
        "Quiz answers",
        Retention.ANONYMOUS,
        ("quiz_attempts.user_id",),
        lambda user, _: (
            select(
                QuestionAnswer.attempt_id,
                Question.text.label("question"),
                Question.options,
                QuestionAnswer.answer,
                QuestionAnswer.is_correct,
                QuestionAnswer.answered_at,
            )
            .join(QuizAttempt, QuizAttempt.id == QuestionAnswer.attempt_id)
            .join(Question, Question.id == QuestionAnswer.question_id)
            .where(QuizAttempt.user_id == user)
            .order_by(QuestionAnswer.id)
        ),
    ),
    Kind(
        "concept_mastery",
        "Concept mastery",
        Retention.WITH_SERVER,
        ("concept_mastery.user_id",),
        lambda user, _: (
            select(
                Course.guild_id,
                Course.code.label("course"),
                Concept.slug.label("concept"),
                ConceptMastery.level,
                ConceptMastery.confidence,
                ConceptMastery.correct_count,
                ConceptMastery.attempt_count,
                ConceptMastery.updated_at,
            )
            .join(Concept, Concept.id == ConceptMastery.concept_id)
            .join(Course, Course.id == Concept.course_id)
            .where(ConceptMastery.user_id == user)
            .order_by(ConceptMastery.id)
        ),
    ),
    Kind(
        "review_cards",
        "Review cards (when each question you answered comes back)",
        Retention.WITH_SERVER,
        ("review_cards.user_id",),
        lambda user, _: (
            select(
                Course.guild_id,
                Course.code.label("course"),
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
            )
            .join(Course, Course.id == ReviewCard.course_id)
            .where(ReviewCard.user_id == user)
            .order_by(ReviewCard.id)
        ),
    ),
    Kind(
        "xp_events",
        "XP ledger entries",
        Retention.WITH_SERVER,
        ("xp_events.user_id",),
        lambda user, _: (
            select(
                XPEvent.guild_id,
                Course.code.label("course"),
                XPEvent.amount,
                XPEvent.action,
                XPEvent.reason,
                XPEvent.source_key,
                XPEvent.day,
                XPEvent.created_at,
            )
            .outerjoin(Course, Course.id == XPEvent.course_id)
            .where(XPEvent.user_id == user)
            .order_by(XPEvent.id)
        ),
    ),
    Kind(
        "xp_totals",
        "Leaderboard totals per server",
        Retention.WITH_SERVER,
        ("member_stats.user_id",),
        lambda user, _: select(MemberStats.guild_id, MemberStats.total_xp, MemberStats.updated_at).where(
            MemberStats.user_id == user
        ),
    ),
    Kind(
        "course_xp_totals",
        "Leaderboard totals per course",
        Retention.WITH_SERVER,
        ("course_member_stats.user_id",),
        lambda user, _: (
            select(Course.guild_id, Course.code.label("course"), CourseMemberStats.total_xp)
            .join(Course, Course.id == CourseMemberStats.course_id)
            .where(CourseMemberStats.user_id == user)
        ),
    ),
    Kind(
        "xp_by_day",
        "XP per day (weekly and monthly boards)",
        Retention.WITH_SERVER,
        ("xp_daily.user_id",),
        lambda user, _: (
            select(XPDaily.guild_id, XPDaily.day, XPDaily.course_id, XPDaily.xp)
            .where(XPDaily.user_id == user)
            .order_by(XPDaily.day)
        ),
    ),
    Kind(
        "streak",
        "Streak",
        Retention.UNTIL_DELETED,
        ("streaks.user_id",),
        lambda user, _: select(
            Streak.current,
            Streak.longest,
            Streak.last_activity_date,
            Streak.total_active_days,
            Streak.freezes_available,
            Streak.freeze_used_on,
            Streak.updated_at,
        ).where(Streak.user_id == user),
    ),
    Kind(
        "activity",
        "Study days (the streak calendar)",
        Retention.ACTIVITY,
        ("activity_events.user_id",),
        lambda user, _: (
            select(ActivityEvent.guild_id, ActivityEvent.kind, ActivityEvent.at, ActivityEvent.meta)
            .where(ActivityEvent.user_id == user)
            .order_by(ActivityEvent.id)
        ),
    ),
    Kind(
        "tutor_sessions",
        "Tutor conversations",
        Retention.TUTOR,
        ("chat_sessions.user_id",),
        lambda user, _: (
            select(
                ChatSession.id.label("session_id"),
                ChatSession.guild_id,
                Course.code.label("course"),
                ChatSession.source_mode,
                ChatSession.thread_id,
                ChatSession.started_at,
                ChatSession.last_message_at,
                ChatSession.ended_at,
                ChatSession.end_reason,
            )
            .outerjoin(Course, Course.id == ChatSession.course_id)
            .where(ChatSession.user_id == user)
            .order_by(ChatSession.id)
        ),
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
    Kind(
        "tutor_feedback",
        "Your ratings of tutor answers",
        Retention.TUTOR,
        ("chat_message_feedback.user_id",),
        lambda user, _: (
            select(
                ChatMessageFeedback.message_id,
                ChatMessageFeedback.rating,
                ChatMessageFeedback.comment,
                ChatMessageFeedback.created_at,
                ChatMessageFeedback.updated_at,
            )
            .where(ChatMessageFeedback.user_id == user)
            .order_by(ChatMessageFeedback.id)
        ),
    ),
    Kind(
        "reminders",
        "Study reminders",
        Retention.WITH_SERVER,
        ("reminder_preferences.user_id",),
        lambda user, _: (
            select(
                ReminderPreference.guild_id,
                Course.code.label("course"),
                ReminderPreference.local_time,
                ReminderPreference.weekdays,
                ReminderPreference.next_fire_at,
                ReminderPreference.streak_nudges,
                ReminderPreference.deadline_nudges,
                ReminderPreference.paused_reason,
                ReminderPreference.created_at,
            )
            .join(Course, Course.id == ReminderPreference.course_id)
            .where(ReminderPreference.user_id == user)
            .order_by(ReminderPreference.id)
        ),
    ),
    Kind(
        "notifications",
        "Reminders and nudges sent to you",
        Retention.NOTIFICATIONS,
        ("notifications.user_id",),
        lambda user, _: (
            select(
                Notification.guild_id,
                Notification.kind,
                Notification.status,
                Notification.due_at,
                Notification.sent_at,
                Notification.payload,
                Notification.created_at,
            )
            .where(Notification.user_id == user)
            .order_by(Notification.id)
        ),
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
    Kind(
        "exports",
        "Your last data export",
        Retention.EXPORTS,
        ("data_exports.user_id",),
        lambda user, _: select(DataExport.exported_at).where(DataExport.user_id == user),
    ),
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
    Kind(
        "erasures",
        "Earlier erasure of your data",
        Retention.TOMBSTONE,
        ("erased_users.user_id",),
        lambda user, _: select(ErasedUser.requested_at, ErasedUser.finished_at).where(ErasedUser.user_id == user),
    ),
)
