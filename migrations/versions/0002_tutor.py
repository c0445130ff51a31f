"""Tutor: chat sessions and messages, the LLM response cache tree, prompts, materials and their chunks.

Search objects that only one backend has are created here with SQL, not declared on the models
(`db.models.tutor.SEARCH_OBJECTS` keeps them out of `alembic check`):

- PostgreSQL: an HNSW index (cosine) on `material_chunks.embedding` and a GIN index on
  `to_tsvector('english', content)`, which `bot.tutor.retrieval` queries with the same expression;
- SQLite: the FTS5 table `material_chunks_fts`, an external-content index over `material_chunks`
  kept in sync by three triggers. A later `batch_alter_table` on `material_chunks` recreates the
  table and so drops the triggers: such a migration must create them again (`SQLITE_FTS_TRIGGERS`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:58:22.581950
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_SEARCH_INDEXES = (
    "CREATE INDEX ix_material_chunks_embedding_hnsw ON material_chunks "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)",
    "CREATE INDEX ix_material_chunks_content_tsv ON material_chunks USING gin (to_tsvector('english', content))",
)
SQLITE_FTS_TABLE = (
    "CREATE VIRTUAL TABLE material_chunks_fts USING fts5("
    "content, content='material_chunks', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
)
SQLITE_FTS_TRIGGERS = (
    """CREATE TRIGGER material_chunks_fts_after_insert AFTER INSERT ON material_chunks BEGIN
        INSERT INTO material_chunks_fts (rowid, content) VALUES (new.id, new.content);
    END""",
    """CREATE TRIGGER material_chunks_fts_after_delete AFTER DELETE ON material_chunks BEGIN
        INSERT INTO material_chunks_fts (material_chunks_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END""",
    """CREATE TRIGGER material_chunks_fts_after_update AFTER UPDATE OF content ON material_chunks BEGIN
        INSERT INTO material_chunks_fts (material_chunks_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO material_chunks_fts (rowid, content) VALUES (new.id, new.content);
    END""",
)


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column(
            "config", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "labels", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("commit_message", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_prompts_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_prompts_name_version")),
    )
    op.create_table(
        "prompt_dependencies",
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("child_name", sa.String(length=255), nullable=False),
        sa.Column("child_version", sa.Integer(), nullable=True),
        sa.Column("child_label", sa.String(length=36), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(child_version IS NULL) <> (child_label IS NULL)", name=op.f("ck_prompt_dependencies_version_or_label")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["prompts.id"], name=op.f("fk_prompt_dependencies_parent_id_prompts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_dependencies")),
    )
    with op.batch_alter_table("prompt_dependencies", schema=None) as batch_op:
        batch_op.create_index("ix_prompt_dependencies_child_name", ["child_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_prompt_dependencies_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "prompt_labels",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=36), nullable=False),
        sa.Column("prompt_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_prompt_labels_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("name", "label", name=op.f("pk_prompt_labels")),
    )
    with op.batch_alter_table("prompt_labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prompt_labels_prompt_id"), ["prompt_id"], unique=False)

    op.create_table(
        "llm_response_cache",
        sa.Column("content_item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("prompt_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("prompt_version", sa.Integer(), nullable=False),
        sa.Column("llm_provider", sa.String(length=50), nullable=False),
        sa.Column("llm_model_id", sa.String(length=255), nullable=False),
        sa.Column("user_message_hash", sa.String(length=64), nullable=False),
        sa.Column("user_message", sa.Text(), nullable=False),
        sa.Column("response_content", sa.Text(), nullable=False),
        sa.Column(
            "response_meta",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "response_chunks",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("hit_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["content_item_id"],
            ["content_items.id"],
            name=op.f("fk_llm_response_cache_content_item_id_content_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["llm_response_cache.id"],
            name=op.f("fk_llm_response_cache_parent_id_llm_response_cache"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_llm_response_cache_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_response_cache")),
    )
    with op.batch_alter_table("llm_response_cache", schema=None) as batch_op:
        batch_op.create_index("ix_llm_cache_content_item", ["content_item_id"], unique=False)
        batch_op.create_index("ix_llm_cache_lookup", ["parent_id", "user_message_hash"], unique=False)
        batch_op.create_index(
            "ix_llm_cache_root",
            ["content_item_id", "prompt_version", "llm_model_id", "llm_provider"],
            unique=False,
            sqlite_where=sa.text("parent_id IS NULL"),
            postgresql_where=sa.text("parent_id IS NULL"),
        )
        batch_op.create_index(batch_op.f("ix_llm_response_cache_prompt_id"), ["prompt_id"], unique=False)
        batch_op.create_index(
            "uq_cache_child_node",
            ["parent_id", "user_message_hash", "prompt_version", "llm_model_id", "llm_provider"],
            unique=True,
            sqlite_where=sa.text("parent_id IS NOT NULL"),
            postgresql_where=sa.text("parent_id IS NOT NULL"),
        )
        batch_op.create_index(
            "uq_cache_root_node",
            ["content_item_id", "user_message_hash", "prompt_version", "llm_model_id", "llm_provider"],
            unique=True,
            sqlite_where=sa.text("parent_id IS NULL"),
            postgresql_where=sa.text("parent_id IS NULL"),
        )

    op.create_table(
        "materials",
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("content_item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("uploader_id", sa.BigInteger(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("file_type", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column(
            "indexing_status",
            sa.Enum(
                "PENDING",
                "PROCESSING",
                "READY",
                "FAILED",
                name="indexingstatus",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("status_changed_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("has_embeddings", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("deleted_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["content_item_id"],
            ["content_items.id"],
            name=op.f("fk_materials_content_item_id_content_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_materials_course_id_courses"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["uploader_id"], ["users.id"], name=op.f("fk_materials_uploader_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_materials")),
        sa.UniqueConstraint("content_item_id", name=op.f("uq_materials_content_item_id")),
    )
    with op.batch_alter_table("materials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_materials_course_id"), ["course_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_materials_uploader_id"), ["uploader_id"], unique=False)
        batch_op.create_index(
            "uq_materials_course_id_sha256_live",
            ["course_id", "sha256"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL AND content_item_id IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL AND content_item_id IS NULL"),
        )

    op.create_table(
        "chat_sessions",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("content_item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "source_mode",
            sa.Enum("LESSON", "COURSE", "GENERAL", name="sourcemode", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("cache_node_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "cache_state",
            sa.Enum("TRACKING", "DIVERGED", name="cachestate", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("started_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "end_reason",
            sa.Enum(
                "USER",
                "INACTIVITY",
                "THREAD_GONE",
                "ADMIN",
                name="sessionendreason",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["cache_node_id"],
            ["llm_response_cache.id"],
            name=op.f("fk_chat_sessions_cache_node_id_llm_response_cache"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["content_item_id"],
            ["content_items.id"],
            name=op.f("fk_chat_sessions_content_item_id_content_items"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_chat_sessions_course_id_courses"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guilds.id"], name=op.f("fk_chat_sessions_guild_id_guilds"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_chat_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_sessions")),
        sa.UniqueConstraint("thread_id", name=op.f("uq_chat_sessions_thread_id")),
    )
    with op.batch_alter_table("chat_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_sessions_cache_node_id"), ["cache_node_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chat_sessions_content_item_id"), ["content_item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chat_sessions_course_id"), ["course_id"], unique=False)
        batch_op.create_index("ix_chat_sessions_guild_id_ended_at", ["guild_id", "ended_at"], unique=False)
        batch_op.create_index(
            "ix_chat_sessions_open_last_message_at",
            ["last_message_at"],
            unique=False,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
        batch_op.create_index(batch_op.f("ix_chat_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "material_chunks",
        sa.Column("material_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("embedding", db.base.Embedding(1536), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_material_chunks_course_id_courses"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_material_chunks_material_id_materials"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_chunks")),
        sa.UniqueConstraint("material_id", "chunk_index", name=op.f("uq_material_chunks_material_id_chunk_index")),
    )
    with op.batch_alter_table("material_chunks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_material_chunks_course_id"), ["course_id"], unique=False)

    op.create_table(
        "chat_messages",
        sa.Column("session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "role",
            sa.Enum("USER", "ASSISTANT", "SYSTEM", name="messagerole", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column(
            "meta", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "generation_status",
            sa.Enum(
                "STREAMING",
                "COMPLETED",
                "STOPPED",
                "FAILED",
                name="generationstatus",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("discord_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_sessions.id"],
            name=op.f("fk_chat_messages_session_id_chat_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
    )
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.create_index("ix_chat_messages_session_id_created_at", ["session_id", "created_at"], unique=False)

    op.create_table(
        "chat_message_citations",
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("chunk_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.CheckConstraint("rank >= 1", name=op.f("ck_chat_message_citations_rank_positive")),
        sa.ForeignKeyConstraint(
            ["chunk_id"],
            ["material_chunks.id"],
            name=op.f("fk_chat_message_citations_chunk_id_material_chunks"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["chat_messages.id"],
            name=op.f("fk_chat_message_citations_message_id_chat_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "rank", name=op.f("pk_chat_message_citations")),
    )
    with op.batch_alter_table("chat_message_citations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_message_citations_chunk_id"), ["chunk_id"], unique=False)

    op.create_table(
        "chat_message_feedback",
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("updated_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("rating IN (-1, 1)", name=op.f("ck_chat_message_feedback_rating_is_thumb")),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["chat_messages.id"],
            name=op.f("fk_chat_message_feedback_message_id_chat_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_chat_message_feedback_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_message_feedback")),
        sa.UniqueConstraint("message_id", "user_id", name=op.f("uq_chat_message_feedback_message_id_user_id")),
    )
    with op.batch_alter_table("chat_message_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_message_feedback_user_id"), ["user_id"], unique=False)

    op.create_table(
        "chat_notes",
        sa.Column("session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("selected_text", sa.Text(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["chat_messages.id"],
            name=op.f("fk_chat_notes_message_id_chat_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_sessions.id"],
            name=op.f("fk_chat_notes_session_id_chat_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_notes")),
    )
    with op.batch_alter_table("chat_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_notes_message_id"), ["message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chat_notes_session_id"), ["session_id"], unique=False)

    create_search_objects()


def create_search_objects() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        for statement in POSTGRES_SEARCH_INDEXES:
            op.execute(statement)
    elif dialect == "sqlite":
        op.execute(SQLITE_FTS_TABLE)
        for statement in SQLITE_FTS_TRIGGERS:
            op.execute(statement)


def drop_search_objects() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_material_chunks_content_tsv")
        op.execute("DROP INDEX IF EXISTS ix_material_chunks_embedding_hnsw")
    elif dialect == "sqlite":
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS material_chunks_fts_after_{event}")
        op.execute("DROP TABLE IF EXISTS material_chunks_fts")


def downgrade() -> None:
    drop_search_objects()
    with op.batch_alter_table("chat_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_notes_session_id"))
        batch_op.drop_index(batch_op.f("ix_chat_notes_message_id"))

    op.drop_table("chat_notes")
    with op.batch_alter_table("chat_message_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_message_feedback_user_id"))

    op.drop_table("chat_message_feedback")
    with op.batch_alter_table("chat_message_citations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_message_citations_chunk_id"))

    op.drop_table("chat_message_citations")
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_messages_session_id_created_at")

    op.drop_table("chat_messages")
    with op.batch_alter_table("material_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_material_chunks_course_id"))

    op.drop_table("material_chunks")
    with op.batch_alter_table("chat_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_sessions_user_id"))
        batch_op.drop_index(
            "ix_chat_sessions_open_last_message_at",
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
        batch_op.drop_index("ix_chat_sessions_guild_id_ended_at")
        batch_op.drop_index(batch_op.f("ix_chat_sessions_course_id"))
        batch_op.drop_index(batch_op.f("ix_chat_sessions_content_item_id"))
        batch_op.drop_index(batch_op.f("ix_chat_sessions_cache_node_id"))

    op.drop_table("chat_sessions")
    with op.batch_alter_table("materials", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_materials_course_id_sha256_live",
            sqlite_where=sa.text("deleted_at IS NULL AND content_item_id IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL AND content_item_id IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_materials_uploader_id"))
        batch_op.drop_index(batch_op.f("ix_materials_course_id"))

    op.drop_table("materials")
    with op.batch_alter_table("llm_response_cache", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_cache_root_node",
            sqlite_where=sa.text("parent_id IS NULL"),
            postgresql_where=sa.text("parent_id IS NULL"),
        )
        batch_op.drop_index(
            "uq_cache_child_node",
            sqlite_where=sa.text("parent_id IS NOT NULL"),
            postgresql_where=sa.text("parent_id IS NOT NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_llm_response_cache_prompt_id"))
        batch_op.drop_index(
            "ix_llm_cache_root",
            sqlite_where=sa.text("parent_id IS NULL"),
            postgresql_where=sa.text("parent_id IS NULL"),
        )
        batch_op.drop_index("ix_llm_cache_lookup")
        batch_op.drop_index("ix_llm_cache_content_item")

    op.drop_table("llm_response_cache")
    with op.batch_alter_table("prompt_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prompt_labels_prompt_id"))

    op.drop_table("prompt_labels")
    with op.batch_alter_table("prompt_dependencies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prompt_dependencies_parent_id"))
        batch_op.drop_index("ix_prompt_dependencies_child_name")

    op.drop_table("prompt_dependencies")
    op.drop_table("prompts")
