"""PostgreSQL moves a member between XP levels as the transaction commits, not at the award.

`xp_levels` holds one row per distinct total in a guild, and a class earns alike: when a whole class answers the
same question at once, every award moves a member from the same total to the same next one, so every answer's
transaction updates the same two rows. Updated at the award, early in the answer's transaction, each row stayed
locked for the rest of that transaction (several round trips more), and the class queued behind it: under a
burst, statements waited past the statement timeout. As a deferred constraint trigger the move runs at COMMIT,
and each row is locked only while its transaction commits. The totals are the same; inside the transaction that
awards, the levels are not yet moved (nothing reads them there). SQLite has one writer: unchanged.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENTS = "AFTER INSERT OR UPDATE OF total_xp OR DELETE ON member_stats"


def upgrade() -> None:
    if _postgres():
        op.execute("DROP TRIGGER member_stats_move_level ON member_stats")
        op.execute(
            f"CREATE CONSTRAINT TRIGGER member_stats_move_level {EVENTS}"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION member_stats_move_level()"
        )


def downgrade() -> None:
    if _postgres():
        op.execute("DROP TRIGGER member_stats_move_level ON member_stats")
        op.execute(
            f"CREATE TRIGGER member_stats_move_level {EVENTS} FOR EACH ROW EXECUTE FUNCTION member_stats_move_level()"
        )


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
