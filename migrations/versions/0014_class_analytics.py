"""Class analytics: daily snapshots per course and cohort, the DIGEST notification kind, and indexes that read a
cohort's quiz attempts of one day.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import db.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = ("REMINDER", "STREAK_AT_RISK", "COHORT_DEADLINE", "ANNOUNCEMENT")
KIND_CHECK = "ck_notifications_notificationkind"
ATTEMPT_TIMES = ("started_at", "submitted_at")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _allow_kinds(kinds: Sequence[str]) -> None:
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(KIND_CHECK), type_="check")
        batch_op.create_check_constraint(op.f(KIND_CHECK), sa.text(f"kind IN ({listed})"))


def upgrade() -> None:
    op.create_table(
        "class_analytics",
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("offering_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("computed_at", db.base.UTCDateTime(timezone=True), nullable=False),
        *(
            sa.Column(name, sa.Integer(), server_default="0", nullable=False)
            for name in ("total_students", "active_students", "learning_students", "asking_students")
        ),
        *(
            sa.Column(name, sa.Float(), server_default="0", nullable=False)
            for name in ("avg_questions", "avg_minutes", "engagement_score")
        ),
        *(
            sa.Column(name, sa.Integer(), server_default="0", nullable=False)
            for name in (
                "quiz_attempts",
                "quiz_passed",
                "tutor_sessions",
                "tutor_messages",
                "tutor_replies",
                "cached_replies",
                "thumbs_up",
                "thumbs_down",
                "tutor_tokens",
            )
        ),
        sa.Column("module_completion", JSON, nullable=False),
        sa.Column("top_concepts", JSON, nullable=False),
        sa.Column("struggling_concepts", JSON, nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_class_analytics_course_id_courses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_analytics")),
        sa.UniqueConstraint(
            "course_id", "offering_id", "day", name=op.f("uq_class_analytics_course_id_offering_id_day")
        ),
    )
    with op.batch_alter_table("class_analytics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_class_analytics_course_id"), ["course_id"], unique=False)
    with op.batch_alter_table("quiz_attempts", schema=None) as batch_op:
        for column in ATTEMPT_TIMES:
            batch_op.create_index(f"ix_quiz_attempts_offering_id_{column}", ["offering_id", column], unique=False)
    _allow_kinds([*KINDS_BEFORE, "DIGEST"])


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE kind = 'DIGEST'")
    _allow_kinds(KINDS_BEFORE)
    with op.batch_alter_table("quiz_attempts", schema=None) as batch_op:
        for column in ATTEMPT_TIMES:
            batch_op.drop_index(f"ix_quiz_attempts_offering_id_{column}")
    with op.batch_alter_table("class_analytics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_class_analytics_course_id"))
    op.drop_table("class_analytics")
