"""Quizzes and progress: questions, attempts, answers, concept mastery and content progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, Text, UniqueConstraint, text, true
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdKey, IdMixin, Snowflake, TimestampMixin, enum_column_type, utcnow
from db.models.enums import AttemptStatus, MasteryLevel, QuestionType


class Question(IdMixin, TimestampMixin, Base):
    """A question of a quiz item. Re-importing deactivates old rows, so attempts keep what was asked."""

    __tablename__ = "questions"
    __table_args__ = (
        Index("ix_questions_item_id_is_active", "item_id", "is_active"),
        CheckConstraint("difficulty BETWEEN 1 AND 5", name="difficulty_range"),
        CheckConstraint("points >= 0", name="points_not_negative"),
    )

    item_id: Mapped[int] = mapped_column(IdKey, ForeignKey("content_items.id", ondelete="CASCADE"))
    concept_id: Mapped[int | None] = mapped_column(IdKey, ForeignKey("concepts.id", ondelete="SET NULL"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    question_type: Mapped[QuestionType] = mapped_column(enum_column_type(QuestionType))
    difficulty: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[list[Any]] = mapped_column()
    # Sorted indices into `options`; never leaves the server while an attempt is open.
    answer: Mapped[list[Any]] = mapped_column()
    explanation: Mapped[str] = mapped_column(Text, default="")
    points: Mapped[int] = mapped_column(Integer, default=1)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class QuizAttempt(IdMixin, Base):
    __tablename__ = "quiz_attempts"
    __table_args__ = (
        UniqueConstraint("user_id", "offering_id", "item_id", "attempt_number"),
        # At most one open attempt per student and quiz, even under concurrent /quiz start.
        Index(
            "uq_quiz_attempts_one_in_progress",
            "user_id",
            "offering_id",
            "item_id",
            unique=True,
            sqlite_where=text("status = 'IN_PROGRESS'"),
            postgresql_where=text("status = 'IN_PROGRESS'"),
        ),
    )

    # NULL once its student erased their data: the attempt and its answers stay, anonymous, in quiz statistics.
    user_id: Mapped[int | None] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="SET NULL"))
    offering_id: Mapped[int] = mapped_column(IdKey, ForeignKey("course_offerings.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(IdKey, ForeignKey("content_items.id", ondelete="CASCADE"), index=True)
    attempt_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[AttemptStatus] = mapped_column(enum_column_type(AttemptStatus), default=AttemptStatus.IN_PROGRESS)
    # Fixed when the attempt starts: question ids in order, and per question the option permutation.
    question_order: Mapped[list[Any]] = mapped_column()
    option_orders: Mapped[dict[str, Any]] = mapped_column()
    score: Mapped[float | None] = mapped_column(Float)
    correct_count: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    time_taken_seconds: Mapped[int | None] = mapped_column(Integer)


class QuestionAnswer(IdMixin, Base):
    __tablename__ = "question_answers"
    # One answer per question per attempt: a double click or a race records once.
    __table_args__ = (UniqueConstraint("attempt_id", "question_id"),)

    attempt_id: Mapped[int] = mapped_column(IdKey, ForeignKey("quiz_attempts.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(IdKey, ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    answer: Mapped[list[Any]] = mapped_column()
    is_correct: Mapped[bool] = mapped_column(Boolean)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConceptMastery(IdMixin, Base):
    __tablename__ = "concept_mastery"
    __table_args__ = (
        UniqueConstraint("user_id", "concept_id"),
        CheckConstraint("confidence BETWEEN 0 AND 1", name="confidence_unit"),
    )

    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"))
    concept_id: Mapped[int] = mapped_column(IdKey, ForeignKey("concepts.id", ondelete="CASCADE"), index=True)
    level: Mapped[MasteryLevel] = mapped_column(enum_column_type(MasteryLevel), default=MasteryLevel.NOT_STARTED)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    correct_count: Mapped[int] = mapped_column(Integer, default=0)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ContentProgress(IdMixin, Base):
    __tablename__ = "content_progress"
    __table_args__ = (
        UniqueConstraint("user_id", "offering_id", "item_id"),
        Index("ix_content_progress_offering_id_user_id_last_opened_at", "offering_id", "user_id", "last_opened_at"),
        CheckConstraint("percent BETWEEN 0 AND 100", name="percent_range"),
    )

    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"))
    offering_id: Mapped[int] = mapped_column(IdKey, ForeignKey("course_offerings.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(IdKey, ForeignKey("content_items.id", ondelete="CASCADE"), index=True)
    percent: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
