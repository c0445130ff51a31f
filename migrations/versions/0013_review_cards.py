"""Review cards: one FSRS-scheduled card per student and answered question, with the due-queue index.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import IdKey, UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_cards",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("course_id", IdKey, nullable=False),
        sa.Column("question_id", IdKey, nullable=False),
        sa.Column(
            "state",
            sa.Enum("LEARNING", "REVIEW", "RELEARNING", name="cardstate", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("stability", sa.Float(), nullable=True),
        sa.Column("difficulty", sa.Float(), nullable=True),
        sa.Column("due", UTCDateTime(), nullable=False),
        sa.Column("last_review", UTCDateTime(), nullable=True),
        sa.Column("last_rating", sa.Integer(), nullable=False),
        sa.Column("reps", sa.Integer(), server_default="1", nullable=False),
        sa.Column("lapses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("xp_day", sa.Date(), nullable=True),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.Column("id", IdKey, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_review_cards_course_id_courses"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["question_id"], ["questions.id"], name=op.f("fk_review_cards_question_id_questions"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_review_cards_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_cards")),
        sa.UniqueConstraint("user_id", "question_id", name=op.f("uq_review_cards_user_id_question_id")),
    )
    with op.batch_alter_table("review_cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_cards_course_id"), ["course_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_cards_question_id"), ["question_id"], unique=False)
        batch_op.create_index(
            "ix_review_cards_due_queue",
            ["user_id", "course_id", "due"],
            unique=False,
            postgresql_where=sa.text("retired_at IS NULL"),
            sqlite_where=sa.text("retired_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("review_cards", schema=None) as batch_op:
        batch_op.drop_index("ix_review_cards_due_queue")
        batch_op.drop_index(batch_op.f("ix_review_cards_question_id"))
        batch_op.drop_index(batch_op.f("ix_review_cards_course_id"))
    op.drop_table("review_cards")
