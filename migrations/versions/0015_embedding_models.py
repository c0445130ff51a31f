"""Embedding models per chunk, staged re-embedding, and keyword search made for a programming course.

- `material_chunks` gains `embedding_model` and `embedding_dimensions` (which model made the vector, so a query
  is only compared with vectors of its own model) and `search_terms` (words that make a chunk findable beyond its
  text, written by the indexer). Vectors stored before this revision came from the configured model, whose name
  was not kept: they are marked `legacy` and re-embedded by the next model.
- `staged_embeddings`: the vectors of the model a course is moving to, until every chunk has one.
- PostgreSQL: `embedding` becomes `vector` of any width, the one HNSW index becomes one per common width (a
  partial index over `embedding::vector(N)`); the text-search configuration `coursebot` is English stemming
  without a stop list (`english` drops `if`, `for`, `not`, `in`, `is`: the words a Python course is about), and
  `content_tsv` now weights title (A) and search terms (B) above the text (C).
- SQLite: the FTS5 table also indexes `title` and `search_terms`.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXED_DIMENSIONS = (256, 384, 768, 1024, 1536)
LEGACY_MODEL = "legacy"
_TOKENIZE = "tokenize='porter unicode61 remove_diacritics 2'"
_TRIGGER_EVENTS = ("insert", "delete", "update")
_OLD_TSV = "to_tsvector('english', content)"
_NEW_TSV = (
    "setweight(to_tsvector('coursebot', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('coursebot', search_terms), 'B') || "
    "setweight(to_tsvector('coursebot', content), 'C')"
)


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


def _replace_tsv(expression: str) -> None:
    op.execute("DROP INDEX IF EXISTS ix_material_chunks_content_tsv")
    op.execute("ALTER TABLE material_chunks DROP COLUMN content_tsv")
    op.execute(f"ALTER TABLE material_chunks ADD COLUMN content_tsv tsvector GENERATED ALWAYS AS ({expression}) STORED")
    op.execute("CREATE INDEX ix_material_chunks_content_tsv ON material_chunks USING gin (content_tsv)")


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    # Plain ADD COLUMN on both backends: rebuilding the table on SQLite would drop the full-text triggers.
    op.add_column("material_chunks", sa.Column("search_terms", sa.Text(), server_default="", nullable=False))
    op.add_column("material_chunks", sa.Column("embedding_model", sa.String(length=200), nullable=True))
    op.add_column("material_chunks", sa.Column("embedding_dimensions", sa.Integer(), nullable=True))
    op.execute(
        f"UPDATE material_chunks SET embedding_model = '{LEGACY_MODEL}', embedding_dimensions = 1536 "
        "WHERE embedding IS NOT NULL"
    )
    embedding_type = sa.LargeBinary()
    if dialect == "postgresql":
        from pgvector.sqlalchemy import Vector

        embedding_type = Vector()
    op.create_table(
        "staged_embeddings",
        sa.Column("chunk_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("embedding_model", sa.String(length=200), nullable=False),
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("embedding_dimensions", sa.Integer(), nullable=False),
        sa.Column("embedding", embedding_type, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chunk_id"],
            ["material_chunks.id"],
            name=op.f("fk_staged_embeddings_chunk_id_material_chunks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_staged_embeddings_course_id_courses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chunk_id", "embedding_model", name=op.f("pk_staged_embeddings")),
    )
    op.create_index(op.f("ix_staged_embeddings_course_id"), "staged_embeddings", ["course_id"], unique=False)
    if dialect == "sqlite":
        _replace_sqlite_fts(("content", "course_id", "title", "search_terms"))
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_material_chunks_embedding_hnsw")
        op.execute("ALTER TABLE material_chunks ALTER COLUMN embedding TYPE vector")
        for width in INDEXED_DIMENSIONS:
            op.execute(
                f"CREATE INDEX ix_material_chunks_embedding_hnsw_{width} ON material_chunks "
                f"USING hnsw ((embedding::vector({width})) vector_cosine_ops) WITH (m = 16, ef_construction = 64) "
                f"WHERE embedding_dimensions = {width}"
            )
        # Snowball's English stemmer with no stop-word file: every word counts, stemmed.
        op.execute("CREATE TEXT SEARCH DICTIONARY coursebot_stem (TEMPLATE = snowball, LANGUAGE = english)")
        op.execute("CREATE TEXT SEARCH CONFIGURATION coursebot (COPY = english)")
        op.execute(
            "ALTER TEXT SEARCH CONFIGURATION coursebot ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, "
            "word, hword, hword_part WITH coursebot_stem"
        )
        _replace_tsv(_NEW_TSV)


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        _replace_tsv(_OLD_TSV)
        op.execute("DROP TEXT SEARCH CONFIGURATION coursebot")
        op.execute("DROP TEXT SEARCH DICTIONARY coursebot_stem")
        for width in INDEXED_DIMENSIONS:
            op.execute(f"DROP INDEX IF EXISTS ix_material_chunks_embedding_hnsw_{width}")
        # Only 1536-wide vectors fit the old schema.
        op.execute("UPDATE material_chunks SET embedding = NULL WHERE vector_dims(embedding) <> 1536")
        op.execute("ALTER TABLE material_chunks ALTER COLUMN embedding TYPE vector(1536)")
        op.execute(
            "CREATE INDEX ix_material_chunks_embedding_hnsw ON material_chunks "
            "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
    op.drop_index(op.f("ix_staged_embeddings_course_id"), table_name="staged_embeddings")
    op.drop_table("staged_embeddings")
    if dialect == "sqlite":
        # SQLite drops a column only when nothing refers to it: the FTS triggers above no longer do.
        with op.batch_alter_table("material_chunks") as batch:
            batch.drop_column("embedding_dimensions")
            batch.drop_column("embedding_model")
            batch.drop_column("search_terms")
        _replace_sqlite_fts(("content", "course_id"))
    else:
        op.drop_column("material_chunks", "embedding_dimensions")
        op.drop_column("material_chunks", "embedding_model")
        op.drop_column("material_chunks", "search_terms")
