"""Privacy: erasure tombstones, servers that removed the bot, export times; quiz attempts that outlive their student.

- `erased_users`: the tombstone of an erasure (a Discord id and when), so one interrupted is finished and erasures
  can be applied again to a restored backup.
- `guild_removals`: a server that removed the bot, and when its data is purged unless the bot comes back.
- `data_exports`: when a member last exported their data (the once-a-day limit).
- `quiz_attempts.user_id` may be NULL (and is set NULL, not cascaded, when its user row goes): an erased student's
  attempts and answers stay, naming no one, so the course's quiz statistics stay right.

SQLite rebuilds `quiz_attempts` for that (batch mode), and dropping the old table deletes what cascades from it
(foreign keys are on): `question_answers` are set aside in a temporary table and put back. Downgrading deletes the
attempts that no longer name a student (and their answers), which the old schema cannot hold.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erased_users",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("requested_by", sa.String(length=20), nullable=False),
        sa.Column("requested_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_erased_users")),
    )
    op.create_index("ix_erased_users_finished_at", "erased_users", ["finished_at"])
    op.create_table(
        "data_exports",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("exported_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_data_exports_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_data_exports")),
    )
    op.create_table(
        "guild_removals",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("removed_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("purge_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guilds.id"], name=op.f("fk_guild_removals_guild_id_guilds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_guild_removals")),
    )
    op.create_index("ix_guild_removals_purge_at", "guild_removals", ["purge_at"])
    with _answers_kept(), op.batch_alter_table("quiz_attempts") as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.BigInteger(), nullable=True)
        batch_op.drop_constraint("fk_quiz_attempts_user_id_users", type_="foreignkey")
        batch_op.create_foreign_key("fk_quiz_attempts_user_id_users", "users", ["user_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    op.execute("DELETE FROM quiz_attempts WHERE user_id IS NULL")
    with _answers_kept(), op.batch_alter_table("quiz_attempts") as batch_op:
        batch_op.drop_constraint("fk_quiz_attempts_user_id_users", type_="foreignkey")
        batch_op.create_foreign_key("fk_quiz_attempts_user_id_users", "users", ["user_id"], ["id"], ondelete="CASCADE")
        batch_op.alter_column("user_id", existing_type=sa.BigInteger(), nullable=False)
    op.drop_index("ix_guild_removals_purge_at", table_name="guild_removals")
    op.drop_table("guild_removals")
    op.drop_table("data_exports")
    op.drop_index("ix_erased_users_finished_at", table_name="erased_users")
    op.drop_table("erased_users")


@contextmanager
def _answers_kept() -> Iterator[None]:
    """On SQLite, keep `question_answers` across the rebuild of `quiz_attempts`: dropping the old table runs an
    implicit DELETE whose ON DELETE CASCADE would take every answer with it."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE kept_question_answers AS SELECT * FROM question_answers")
    yield
    if sqlite:
        op.execute("INSERT INTO question_answers SELECT * FROM kept_question_answers")
        op.execute("DROP TABLE kept_question_answers")
