"""The human loop: escalations to a TA, material submissions, feature requests and their +1s.

- `escalations`: a tutor conversation handed to the staff queue; one live (OPEN or CLAIMED) per tutor session.
- `material_submissions`: a student's file waiting for staff, then the material it became.
- `feature_requests`, `feature_request_votes`: `/feedback` and the +1s on its public posts.
- `notifications.kind` takes the three kinds these send through the outbox. The kinds are read from the code's
  `NotificationKind`, so kinds other revisions add stay allowed whichever order they are applied in.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import db.base
from db.models.enums import NotificationKind

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_KINDS = ("ESCALATION_REANNOUNCE", "REQUEST_STATUS", "SUBMISSION_DECISION")
LIVE_ESCALATION = sa.text("status IN ('OPEN', 'CLAIMED')")


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False)


def _key(name: str, *, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=nullable)


def _created_at() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "created_at", db.base.UTCDateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
    )


def _when(name: str, *, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, db.base.UTCDateTime(timezone=True), nullable=nullable)


def _status(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def _foreign_key(table: str, column: str, referred: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=ondelete
    )


def _notification_kinds(*values: str) -> sa.Enum:
    return sa.Enum(*values, name="notificationkind", native_enum=False, create_constraint=True)


def upgrade() -> None:
    op.create_table(
        "escalations",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        _key("session_id", nullable=False),
        sa.Column("student_id", sa.BigInteger(), nullable=False),
        _key("course_id", nullable=True),
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column("status", _status("escalationstatus", "OPEN", "CLAIMED", "RELEASED"), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("tutor_answer", sa.Text(), nullable=False),
        sa.Column(
            "sources", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        _key("cache_node_id", nullable=True),
        sa.Column("staff_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("staff_message_id", sa.BigInteger(), nullable=True),
        sa.Column("claimed_by", sa.BigInteger(), nullable=True),
        _when("claimed_at"),
        _when("released_at"),
        _key("ta_answer_id", nullable=True),
        _when("saved_at"),
        _id(),
        _created_at(),
        _foreign_key("escalations", "guild_id", "guilds", "CASCADE"),
        _foreign_key("escalations", "session_id", "chat_sessions", "CASCADE"),
        _foreign_key("escalations", "student_id", "users", "CASCADE"),
        _foreign_key("escalations", "course_id", "courses", "SET NULL"),
        _foreign_key("escalations", "cache_node_id", "llm_response_cache", "SET NULL"),
        _foreign_key("escalations", "claimed_by", "users", "SET NULL"),
        _foreign_key("escalations", "ta_answer_id", "chat_messages", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
    )
    op.create_index(
        "uq_escalations_session_live",
        "escalations",
        ["session_id"],
        unique=True,
        sqlite_where=LIVE_ESCALATION,
        postgresql_where=LIVE_ESCALATION,
    )
    op.create_index("ix_escalations_guild_id_status", "escalations", ["guild_id", "status"])
    op.create_index("ix_escalations_thread_id_status", "escalations", ["thread_id", "status"])
    for column in ("student_id", "course_id", "cache_node_id", "claimed_by", "ta_answer_id"):
        op.create_index(f"ix_escalations_{column}", "escalations", [column])

    op.create_table(
        "feature_requests",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("requester_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", _status("requestkind", "BUG", "IDEA", "CONTENT"), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        _key("course_id", nullable=True),
        _key("content_item_id", nullable=True),
        sa.Column(
            "status",
            _status("requeststatus", "PENDING", "UNDER_REVIEW", "PLANNED", "COMPLETED", "DECLINED"),
            nullable=False,
        ),
        sa.Column("admin_note", sa.Text(), nullable=True),
        sa.Column("status_changed_by", sa.BigInteger(), nullable=True),
        sa.Column("votes", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("public_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("public_message_id", sa.BigInteger(), nullable=True),
        _when("updated_at", nullable=False),
        _id(),
        _created_at(),
        _foreign_key("feature_requests", "guild_id", "guilds", "CASCADE"),
        _foreign_key("feature_requests", "requester_id", "users", "CASCADE"),
        _foreign_key("feature_requests", "course_id", "courses", "SET NULL"),
        _foreign_key("feature_requests", "content_item_id", "content_items", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_requests")),
    )
    op.create_index("ix_feature_requests_guild_id_status", "feature_requests", ["guild_id", "status"])
    for column in ("requester_id", "course_id", "content_item_id"):
        op.create_index(f"ix_feature_requests_{column}", "feature_requests", [column])

    op.create_table(
        "feature_request_votes",
        _key("request_id", nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        _when("created_at", nullable=False),
        _foreign_key("feature_request_votes", "request_id", "feature_requests", "CASCADE"),
        _foreign_key("feature_request_votes", "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("request_id", "user_id", name=op.f("pk_feature_request_votes")),
    )
    op.create_index("ix_feature_request_votes_user_id", "feature_request_votes", ["user_id"])

    op.create_table(
        "material_submissions",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        _key("course_id", nullable=False),
        sa.Column("student_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("file_type", sa.String(length=20), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("status", _status("submissionstatus", "PENDING", "APPROVED", "REJECTED", "UNDONE"), nullable=False),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        _when("decided_at"),
        sa.Column("reason", sa.String(length=500), nullable=True),
        _key("material_id", nullable=True),
        sa.Column("xp_awarded", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _id(),
        _created_at(),
        _foreign_key("material_submissions", "guild_id", "guilds", "CASCADE"),
        _foreign_key("material_submissions", "course_id", "courses", "CASCADE"),
        _foreign_key("material_submissions", "student_id", "users", "CASCADE"),
        _foreign_key("material_submissions", "material_id", "materials", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_submissions")),
    )
    op.create_index("ix_material_submissions_course_id_status", "material_submissions", ["course_id", "status"])
    op.create_index(
        "ix_material_submissions_student_id_created_at", "material_submissions", ["student_id", "created_at"]
    )
    op.create_index("ix_material_submissions_guild_id", "material_submissions", ["guild_id"])
    op.create_index("ix_material_submissions_material_id", "material_submissions", ["material_id"])

    every_kind = [kind.value for kind in NotificationKind]
    older_kinds = [kind for kind in every_kind if kind not in NEW_KINDS]
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_notification_kinds(*older_kinds),
            type_=_notification_kinds(*every_kind),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM notifications WHERE kind IN :kinds").bindparams(
            sa.bindparam("kinds", expanding=True, value=list(NEW_KINDS))
        )
    )
    every_kind = [kind.value for kind in NotificationKind]
    older_kinds = [kind for kind in every_kind if kind not in NEW_KINDS]
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_notification_kinds(*every_kind),
            type_=_notification_kinds(*older_kinds),
            existing_nullable=False,
        )
    op.drop_table("material_submissions")
    op.drop_table("feature_request_votes")
    op.drop_table("feature_requests")
    op.drop_table("escalations")
