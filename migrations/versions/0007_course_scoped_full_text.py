"""Full-text search scoped by course inside the SQLite index, and a stored tsvector for PostgreSQL ranking.

- SQLite: `material_chunks_fts` gains the column `course_id` (mirroring `material_chunks.course_id`, weight 0
  in BM25), so `course_id : "12" AND content : (...)` intersects the course's postings inside FTS5 instead of
  ranking the matches of every course and filtering afterwards. The triggers carry the new column; the index
  is rebuilt from `material_chunks`.
- PostgreSQL: the generated column `material_chunks.content_tsv` (`to_tsvector('english', content)`, STORED)
  with the GIN index `ix_material_chunks_content_tsv` on it, so ranking reads the stored vector instead of
  parsing every matching chunk again. Adding the column fills it for the existing chunks.

Like the objects of 0002 these exist on one backend only and are not declared on the models
(`db.models.tutor.SEARCH_OBJECTS`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TOKENIZE = "tokenize='porter unicode61 remove_diacritics 2'"
_TRIGGER_EVENTS = ("insert", "delete", "update")


def _sqlite_fts(columns: Sequence[str]) -> tuple[str, ...]:
    """The FTS5 table over `columns` of `material_chunks`, its three triggers, and the rebuild that fills it."""
    names = ", ".join(columns)
    new = ", ".join(f"new.{column}" for column in columns)
    old = ", ".join(f"old.{column}" for column in columns)
    return (
        f"CREATE VIRTUAL TABLE material_chunks_fts USING fts5("
        f"{names}, content='material_chunks', content_rowid='id', {_TOKENIZE})",
        f"""CREATE TRIGGER material_chunks_fts_after_insert AFTER INSERT ON material_chunks BEGIN
            INSERT INTO material_chunks_fts (rowid, {names}) VALUES (new.id, {new});
        END""",
        f"""CREATE TRIGGER material_chunks_fts_after_delete AFTER DELETE ON material_chunks BEGIN
            INSERT INTO material_chunks_fts (material_chunks_fts, rowid, {names}) VALUES ('delete', old.id, {old});
        END""",
        f"""CREATE TRIGGER material_chunks_fts_after_update AFTER UPDATE OF {names} ON material_chunks BEGIN
            INSERT INTO material_chunks_fts (material_chunks_fts, rowid, {names}) VALUES ('delete', old.id, {old});
            INSERT INTO material_chunks_fts (rowid, {names}) VALUES (new.id, {new});
        END""",
        "INSERT INTO material_chunks_fts (material_chunks_fts) VALUES ('rebuild')",
    )


def _replace_sqlite_fts(columns: Sequence[str]) -> None:
    for event in _TRIGGER_EVENTS:
        op.execute(f"DROP TRIGGER IF EXISTS material_chunks_fts_after_{event}")
    op.execute("DROP TABLE IF EXISTS material_chunks_fts")
    for statement in _sqlite_fts(columns):
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        _replace_sqlite_fts(("content", "course_id"))
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_material_chunks_content_tsv")
        op.execute(
            "ALTER TABLE material_chunks ADD COLUMN content_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', content)) STORED"
        )
        op.execute("CREATE INDEX ix_material_chunks_content_tsv ON material_chunks USING gin (content_tsv)")


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        _replace_sqlite_fts(("content",))
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_material_chunks_content_tsv")
        op.execute("ALTER TABLE material_chunks DROP COLUMN content_tsv")
        op.execute(
            "CREATE INDEX ix_material_chunks_content_tsv ON material_chunks USING gin (to_tsvector('english', content))"
        )
