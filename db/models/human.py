"""The human loop: tutor conversations handed to a TA, material students submit for approval, and the feedback and
feature requests members send to the people who run the server."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdKey, IdMixin, Snowflake, TimestampMixin, enum_column_type, utcnow


class EscalationStatus(enum.StrEnum):
    OPEN = "OPEN"  # waiting in the staff queue
    CLAIMED = "CLAIMED"  # a TA holds the thread: the tutor is paused
    RELEASED = "RELEASED"  # the TA handed the thread back to the tutor


class RequestKind(enum.StrEnum):
    BUG = "BUG"
    IDEA = "IDEA"
    CONTENT = "CONTENT"  # a problem in a course's content, optionally about one lesson


class RequestStatus(enum.StrEnum):
    PENDING = "PENDING"
    UNDER_REVIEW = "UNDER_REVIEW"
    PLANNED = "PLANNED"
    COMPLETED = "COMPLETED"
    DECLINED = "DECLINED"


class SubmissionStatus(enum.StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"  # a course material, XP awarded
    REJECTED = "REJECTED"  # with the reason the student was told
    UNDONE = "UNDONE"  # approved, then withdrawn: material removed, XP reversed


# While an escalation is open or claimed, its tutor session has no other: a second "Ask a TA" finds this one.
LIVE_ESCALATION = "status IN ('OPEN', 'CLAIMED')"


class Escalation(IdMixin, TimestampMixin, Base):
    """A tutor conversation a student asked a TA to take over: what they asked, what the tutor said, who holds it.

    `cache_node_id` is the response cache node of the tutor's last answer when the conversation was still on the
    lesson's guided path: the place a TA's answer can be saved as the answer (`cache.approve_node`).
    """

    __tablename__ = "escalations"
    __table_args__ = (
        Index(
            "uq_escalations_session_live",
            "session_id",
            unique=True,
            sqlite_where=text(LIVE_ESCALATION),
            postgresql_where=text(LIVE_ESCALATION),
        ),
        Index("ix_escalations_guild_id_status", "guild_id", "status"),
        # Every message in a tutor thread asks whether a TA holds it.
        Index("ix_escalations_thread_id_status", "thread_id", "status"),
    )

    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(IdKey, ForeignKey("chat_sessions.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int | None] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="SET NULL"), index=True)
    thread_id: Mapped[int] = mapped_column(Snowflake)
    status: Mapped[EscalationStatus] = mapped_column(enum_column_type(EscalationStatus), default=EscalationStatus.OPEN)
    note: Mapped[str | None] = mapped_column(String(500))
    question: Mapped[str] = mapped_column(Text, default="")
    tutor_answer: Mapped[str] = mapped_column(Text, default="")
    sources: Mapped[list[Any]] = mapped_column(default=list)  # the labels the tutor's last answer cited
    cache_node_id: Mapped[int | None] = mapped_column(
        IdKey, ForeignKey("llm_response_cache.id", ondelete="SET NULL"), index=True
    )
    staff_channel_id: Mapped[int | None] = mapped_column(Snowflake)
    staff_message_id: Mapped[int | None] = mapped_column(Snowflake)
    claimed_by: Mapped[int | None] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    claimed_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    # The TA's latest answer in the thread (a `chat_messages` row of the session), and when it became the answer.
    ta_answer_id: Mapped[int | None] = mapped_column(
        IdKey, ForeignKey("chat_messages.id", ondelete="SET NULL"), index=True
    )
    saved_at: Mapped[datetime | None]


class FeatureRequest(IdMixin, TimestampMixin, Base):
    """A bug report, an idea or a content problem sent with `/feedback`; its id is the member's reference number."""

    __tablename__ = "feature_requests"
    __table_args__ = (Index("ix_feature_requests_guild_id_status", "guild_id", "status"),)

    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"))
    requester_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[RequestKind] = mapped_column(enum_column_type(RequestKind))
    title: Mapped[str] = mapped_column(String(100))
    details: Mapped[str] = mapped_column(Text)
    course_id: Mapped[int | None] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="SET NULL"), index=True)
    content_item_id: Mapped[int | None] = mapped_column(
        IdKey, ForeignKey("content_items.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[RequestStatus] = mapped_column(enum_column_type(RequestStatus), default=RequestStatus.PENDING)
    admin_note: Mapped[str | None] = mapped_column(Text)
    status_changed_by: Mapped[int | None] = mapped_column(Snowflake)
    votes: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    public_channel_id: Mapped[int | None] = mapped_column(Snowflake)
    public_message_id: Mapped[int | None] = mapped_column(Snowflake)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FeatureRequestVote(Base):
    """A member's +1 on a request: the primary key lets each member count once."""

    __tablename__ = "feature_request_votes"
    __table_args__ = (PrimaryKeyConstraint("request_id", "user_id"),)

    request_id: Mapped[int] = mapped_column(IdKey, ForeignKey("feature_requests.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MaterialSubmission(IdMixin, TimestampMixin, Base):
    """A file a student offers a course. Its bytes wait here until staff decide; approved, it becomes a material
    (`material_id`) credited to the student, and the XP it earned is in the ledger under `xp_source_key`."""

    __tablename__ = "material_submissions"
    __table_args__ = (
        Index("ix_material_submissions_course_id_status", "course_id", "status"),
        Index("ix_material_submissions_student_id_created_at", "student_id", "created_at"),
    )

    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(500))
    filename: Mapped[str] = mapped_column(String(200))
    file_type: Mapped[str] = mapped_column(String(20))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # read only to approve it
    status: Mapped[SubmissionStatus] = mapped_column(
        enum_column_type(SubmissionStatus), default=SubmissionStatus.PENDING
    )
    decided_by: Mapped[int | None] = mapped_column(Snowflake)
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(500))
    material_id: Mapped[int | None] = mapped_column(IdKey, ForeignKey("materials.id", ondelete="SET NULL"), index=True)
    xp_awarded: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
