"""Class analytics: one snapshot per course, cohort and day, the history behind `/teach analytics`.

Rows hold aggregates only (counts, shares, concept ids), never a person's id: a student's erasure leaves them
as they are, and a rebuild (`coursebot analytics backfill`) recomputes them from the raw tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdKey, IdMixin, utcnow
from db.models.quizzes import QuizAttempt

# `offering_id` of the row that sums every cohort of a course (0, like `xp_daily.course_id`, so the key stays
# non-null and the upsert has one conflict target).
WHOLE_COURSE = 0


class ClassAnalytics(IdMixin, Base):
    """One course (or cohort) on one guild-local day; docs/analytics.md defines every figure."""

    __tablename__ = "class_analytics"
    __table_args__ = (UniqueConstraint("course_id", "offering_id", "day"),)

    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    offering_id: Mapped[int] = mapped_column(IdKey, default=WHOLE_COURSE)
    day: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    total_students: Mapped[int] = mapped_column(Integer, default=0)
    active_students: Mapped[int] = mapped_column(Integer, default=0)
    learning_students: Mapped[int] = mapped_column(Integer, default=0)
    asking_students: Mapped[int] = mapped_column(Integer, default=0)
    avg_questions: Mapped[float] = mapped_column(Float, default=0.0)
    avg_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    engagement_score: Mapped[float] = mapped_column(Float, default=0.0)
    quiz_attempts: Mapped[int] = mapped_column(Integer, default=0)
    quiz_passed: Mapped[int] = mapped_column(Integer, default=0)
    tutor_sessions: Mapped[int] = mapped_column(Integer, default=0)
    tutor_messages: Mapped[int] = mapped_column(Integer, default=0)
    tutor_replies: Mapped[int] = mapped_column(Integer, default=0)
    cached_replies: Mapped[int] = mapped_column(Integer, default=0)
    thumbs_up: Mapped[int] = mapped_column(Integer, default=0)
    thumbs_down: Mapped[int] = mapped_column(Integer, default=0)
    tutor_tokens: Mapped[int] = mapped_column(Integer, default=0)
    # {module id: share of the students who completed every published item of it by the day's end}
    module_completion: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # [[concept id, count], ...]: the concepts the tutor's cited lessons teach, most cited first
    top_concepts: Mapped[list[Any]] = mapped_column(default=list)
    # [[concept id, share right], ...]: the day's answers by concept, least right first
    struggling_concepts: Mapped[list[Any]] = mapped_column(default=list)


# What a course's day reads of the raw tables: its cohorts' quiz attempts started or submitted that day (and through
# them, the day's answers), without reading the rest of their history. Declared here, with the analytics that need
# them; revision 0014 creates them.
Index("ix_quiz_attempts_offering_id_started_at", QuizAttempt.offering_id, QuizAttempt.started_at)
Index("ix_quiz_attempts_offering_id_submitted_at", QuizAttempt.offering_id, QuizAttempt.submitted_at)
