"""Reminders: less for the planner's writes to maintain, a stored pause notice, and the students of a time zone.

- `reminder_preferences.user_id` loses its own index: the unique (user_id, course_id) already leads with it, and
  the planner's update of a minute's due rows maintains every index of the table.
- `notifications.course_id` loses its foreign key and index: each insert checked the key row by row, and a
  course is only ever deleted with its guild, whose key removes the rows anyway.
- `reminder_preferences.pause_untold`: paused and the student not told yet, so whichever process tells them
  first clears it (no process tells twice, none forgets); a partial index finds those few rows.
- `users.time_zone` is indexed: the streak-nudge planner reads only the students of the zones at their nudge hour.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_course_id"))
        batch_op.drop_constraint(batch_op.f("fk_notifications_course_id_courses"), type_="foreignkey")

    with op.batch_alter_table("reminder_preferences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pause_untold", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.drop_index(batch_op.f("ix_reminder_preferences_user_id"))
        batch_op.create_index(
            "ix_reminder_preferences_untold",
            ["guild_id", "user_id"],
            unique=False,
            postgresql_where=sa.text("pause_untold"),
            sqlite_where=sa.text("pause_untold = 1"),
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_time_zone"), ["time_zone"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_time_zone"))

    with op.batch_alter_table("reminder_preferences", schema=None) as batch_op:
        batch_op.drop_index("ix_reminder_preferences_untold")
        batch_op.create_index(batch_op.f("ix_reminder_preferences_user_id"), ["user_id"], unique=False)
        batch_op.drop_column("pause_untold")

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_notifications_course_id_courses"), "courses", ["course_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index(batch_op.f("ix_notifications_course_id"), ["course_id"], unique=False)
