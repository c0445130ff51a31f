"""Reminders cost Discord one request: the stored DM channel, and when a student was last confirmed in the server.

- `users.dm_channel_id`: the DM channel, opened once (opening it is a request to Discord, and it never changes).
- `reminder_preferences.member_seen_at`: membership is confirmed every few days, not before every message.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dm_channel_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("reminder_preferences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_seen_at", db.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reminder_preferences", schema=None) as batch_op:
        batch_op.drop_column("member_seen_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("dm_channel_id")
