"""Spaced repetition: one review card per student and question, scheduled by FSRS (`bot.services.reviews`)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdKey, IdMixin, Snowflake, enum_column_type


class CardState(enum.StrEnum):
    """FSRS's card states, stored by name like the other vocabularies."""

    LEARNING = "LEARNING"
    REVIEW = "REVIEW"
    RELEARNING = "RELEARNING"


class ReviewCard(IdMixin, Base):
    """A question a student answered, with its FSRS memory state and when to ask it again.

    Written in the same unit of work as every answer (quiz, review, practice). `reps` counts the answers and
    doubles as the card's version: a review button carries the `reps` it was shown with, so a double click updates
    once. A retired card (its question gone with no same question in its place) is kept for the lapse history.
    """

    __tablename__ = "review_cards"
    __table_args__ = (
        UniqueConstraint("user_id", "question_id"),
        # The due queue: one student's live cards of one course, oldest due first.
        Index(
            "ix_review_cards_due_queue",
            "user_id",
            "course_id",
            "due",
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
    )

    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(IdKey, ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    state: Mapped[CardState] = mapped_column(enum_column_type(CardState))
    step: Mapped[int | None] = mapped_column(Integer)
    stability: Mapped[float | None] = mapped_column(Float)
    difficulty: Mapped[float | None] = mapped_column(Float)
    due: Mapped[datetime]
    last_review: Mapped[datetime | None]
    # The FSRS rating of the latest answer (1 Again: wrong, 3 Good: right); practice prefers the ones got wrong.
    last_rating: Mapped[int] = mapped_column(Integer)
    reps: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    lapses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The local day the card last earned review XP: at most once a day per card.
    xp_day: Mapped[date | None] = mapped_column(Date)
    retired_at: Mapped[datetime | None]
