"""The closed vocabularies of the schema. Values are stored as text, so they read well in SQL."""

from __future__ import annotations

import enum


class MemberRole(enum.StrEnum):
    """Permission levels, lowest first; comparisons go through `bot.services.permissions`."""

    STUDENT = "STUDENT"
    TA = "TA"
    INSTRUCTOR = "INSTRUCTOR"
    ADMIN = "ADMIN"


class CourseLevel(enum.StrEnum):
    INTRODUCTORY = "INTRODUCTORY"
    INTERMEDIATE = "INTERMEDIATE"
    ADVANCED = "ADVANCED"
    EXPERT = "EXPERT"


class OfferingVisibility(enum.StrEnum):
    PUBLIC = "PUBLIC"
    UNLISTED = "UNLISTED"
    INVITE_ONLY = "INVITE_ONLY"


class EnrollmentStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    DROPPED = "DROPPED"
    PENDING = "PENDING"
    WAITLISTED = "WAITLISTED"


class ModuleType(enum.StrEnum):
    COURSE_ROOT = "COURSE_ROOT"
    UNIT = "UNIT"
    CHAPTER = "CHAPTER"
    LESSON = "LESSON"
    TOPIC = "TOPIC"
    SECTION = "SECTION"
    LAB = "LAB"
    QUIZ = "QUIZ"


class ContentKind(enum.StrEnum):
    TEXT = "TEXT"
    VIDEO = "VIDEO"
    LINK = "LINK"
    QUIZ = "QUIZ"
    EXERCISE = "EXERCISE"


class RevisionVisibility(enum.StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"


class DependencyStrength(enum.StrEnum):
    REQUIRED = "REQUIRED"
    RECOMMENDED = "RECOMMENDED"
    OPTIONAL = "OPTIONAL"


class QuestionType(enum.StrEnum):
    MULTIPLE_CHOICE = "MULTIPLE_CHOICE"
    TRUE_FALSE = "TRUE_FALSE"
    MULTI_SELECT = "MULTI_SELECT"


class AttemptStatus(enum.StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    SUBMITTED = "SUBMITTED"
    ABANDONED = "ABANDONED"


class MasteryLevel(enum.StrEnum):
    NOT_STARTED = "NOT_STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    MASTERED = "MASTERED"


class NotificationKind(enum.StrEnum):
    REMINDER = "REMINDER"
    STREAK_AT_RISK = "STREAK_AT_RISK"
    COHORT_DEADLINE = "COHORT_DEADLINE"
    ANNOUNCEMENT = "ANNOUNCEMENT"
    DIGEST = "DIGEST"  # the weekly class analytics digest to a course's staff
    ESCALATION_REANNOUNCE = "ESCALATION_REANNOUNCE"  # an Ask-a-TA post nobody claimed, posted again once
    REQUEST_STATUS = "REQUEST_STATUS"  # a feedback request's status changed: its requester is told
    SUBMISSION_DECISION = "SUBMISSION_DECISION"  # a submitted material was approved, rejected or withdrawn


class NotificationStatus(enum.StrEnum):
    PENDING = "PENDING"  # planned, waiting for its due time or a sender
    SENDING = "SENDING"  # claimed by a sender; never claimed again (at most once)
    SENT = "SENT"
    FAILED = "FAILED"  # with last_error; a SENDING row whose sender died also ends here, never sent twice
    SKIPPED = "SKIPPED"  # no longer worth sending (studied already, left the server, quiet hours passed it by)
