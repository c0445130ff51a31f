"""Invite codes are unique per course, no longer across every guild.

A code unique across all guilds let one guild's admins probe another guild's secret invite codes ("already used
by another cohort"). The index now covers (course_id, invite_code), which is what enrollment needs (it looks a
code up among one course's cohorts); the services keep a code unique among the live courses of one guild.

Only indexes change, so SQLite needs no table rebuild. Downgrading restores the global index and fails if two
cohorts (in two guilds or courses) now share a code.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("course_offerings") as batch_op:
        batch_op.drop_index("uq_course_offerings_invite_code")
        batch_op.create_index("uq_course_offerings_course_id_invite_code", ["course_id", "invite_code"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("course_offerings") as batch_op:
        batch_op.drop_index("uq_course_offerings_course_id_invite_code")
        batch_op.create_index("uq_course_offerings_invite_code", ["invite_code"], unique=True)
