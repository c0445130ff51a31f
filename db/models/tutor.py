"""The tutor: chat sessions and messages, the LLM response cache tree, prompts, course materials and their chunks.

Full-text and vector search objects that only one backend understands (PostgreSQL's HNSW and GIN
indexes and the stored tsvector column they search, SQLite's FTS5 table and its triggers) are created by
the migrations, not declared here: see `migrations/versions/0002_tutor.py`, `0007_course_scoped_full_text.py`
and `SEARCH_OBJECTS`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import (
    Base,
    IdKey,
    IdMixin,
    Snowflake,
    SoftDeleteMixin,
    TimestampMixin,
    enum_column_type,
    utcnow,
)
from db.models.embeddings import HNSW_INDEXES, MODEL_NAME_LENGTH, AnyWidthEmbedding

# The width `llm.embedding_dimensions` defaults to: text-embedding-3-small's. Vectors of any width are stored
# (migration 0015), each with the model that made it.
EMBEDDING_DIMENSIONS = 1536

# Created by migrations for one backend only, so `alembic check` must not compare them with the models.
FTS_TABLE = "material_chunks_fts"  # SQLite: FTS5 over `content`, and `course_id` to scope a search to a course
TSV_COLUMN = "content_tsv"  # PostgreSQL: material_chunks' stored `to_tsvector('english', content)`
SEARCH_OBJECTS = (FTS_TABLE, TSV_COLUMN, *HNSW_INDEXES, "ix_material_chunks_content_tsv")

PROMPT_LABEL_LENGTH = 36


class SourceMode(enum.StrEnum):
    """What a tutor session retrieves from: one lesson, the whole course, or nothing course-specific."""

    LESSON = "LESSON"
    COURSE = "COURSE"
    GENERAL = "GENERAL"


class CacheState(enum.StrEnum):
    """TRACKING: the conversation still follows cached branches. DIVERGED: a free-form message left the tree."""

    TRACKING = "TRACKING"
    DIVERGED = "DIVERGED"


class SessionEndReason(enum.StrEnum):
    USER = "USER"  # `/tutor end`
    INACTIVITY = "INACTIVITY"  # the inactivity sweep
    THREAD_GONE = "THREAD_GONE"  # the thread was deleted or archived by hand
    ADMIN = "ADMIN"


class MessageRole(enum.StrEnum):
    USER = "USER"
    ASSISTANT = "ASSISTANT"
    SYSTEM = "SYSTEM"


class GenerationStatus(enum.StrEnum):
    STREAMING = "STREAMING"
    COMPLETED = "COMPLETED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


class IndexingStatus(enum.StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class LLMResponseCache(IdMixin, TimestampMixin, Base):
    """One node of a lesson's response tree: the greeting is a root, each branch a student takes a child.

    A node is keyed by its parent (or, for a root, its content item), the hash of the normalised user
    message, and the prompt version, model and provider that produced it, so changing any of those
    grows a new tree instead of replaying stale answers.
    """

    __tablename__ = "llm_response_cache"
    __table_args__ = (
        # Two partial indexes, because NULL <> NULL would let a plain unique constraint admit duplicate roots.
        Index(
            "uq_cache_child_node",
            "parent_id",
            "user_message_hash",
            "prompt_version",
            "llm_model_id",
            "llm_provider",
            unique=True,
            sqlite_where=text("parent_id IS NOT NULL"),
            postgresql_where=text("parent_id IS NOT NULL"),
        ),
        Index(
            "uq_cache_root_node",
            "content_item_id",
            "user_message_hash",
            "prompt_version",
            "llm_model_id",
            "llm_provider",
            unique=True,
            sqlite_where=text("parent_id IS NULL"),
            postgresql_where=text("parent_id IS NULL"),
        ),
        Index("ix_llm_cache_content_item", "content_item_id"),
        # Leads with parent_id, so it also serves the self-referencing foreign key.
        Index("ix_llm_cache_lookup", "parent_id", "user_message_hash"),
        Index(
            "ix_llm_cache_root",
            "content_item_id",
            "prompt_version",
            "llm_model_id",
            "llm_provider",
            sqlite_where=text("parent_id IS NULL"),
            postgresql_where=text("parent_id IS NULL"),
        ),
    )

    content_item_id: Mapped[int] = mapped_column(IdKey, ForeignKey("content_items.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(IdKey, ForeignKey("llm_response_cache.id", ondelete="CASCADE"))
    prompt_id: Mapped[int] = mapped_column(IdKey, ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    prompt_version: Mapped[int] = mapped_column(Integer)
    llm_provider: Mapped[str] = mapped_column(String(50))
    llm_model_id: Mapped[str] = mapped_column(String(255))
    user_message_hash: Mapped[str] = mapped_column(String(64))
    user_message: Mapped[str] = mapped_column(Text)
    response_content: Mapped[str] = mapped_column(Text)
    response_meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The streamed deltas as they arrived, so a replay edits the message the way the model did.
    response_chunks: Mapped[list[Any]] = mapped_column(default=list)
    hit_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChatSession(IdMixin, Base):
    """A tutor conversation, bound to one private Discord thread."""

    __tablename__ = "chat_sessions"
    __table_args__ = (
        UniqueConstraint("thread_id"),
        Index("ix_chat_sessions_guild_id_ended_at", "guild_id", "ended_at"),
        # The inactivity sweep reads open sessions by their last message.
        Index(
            "ix_chat_sessions_open_last_message_at",
            "last_message_at",
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"))
    # SET NULL: the conversation is the student's history and outlives the course or lesson it was about.
    course_id: Mapped[int | None] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="SET NULL"), index=True)
    content_item_id: Mapped[int | None] = mapped_column(
        IdKey, ForeignKey("content_items.id", ondelete="SET NULL"), index=True
    )
    thread_id: Mapped[int] = mapped_column(Snowflake)
    source_mode: Mapped[SourceMode] = mapped_column(enum_column_type(SourceMode))
    # NULL while TRACKING means "at the start": the greeting (a root node) comes next.
    cache_node_id: Mapped[int | None] = mapped_column(
        IdKey, ForeignKey("llm_response_cache.id", ondelete="SET NULL"), index=True
    )
    cache_state: Mapped[CacheState] = mapped_column(enum_column_type(CacheState), default=CacheState.TRACKING)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[SessionEndReason | None] = mapped_column(enum_column_type(SessionEndReason))


class ChatMessage(IdMixin, Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_session_id_created_at", "session_id", "created_at"),)

    session_id: Mapped[int] = mapped_column(IdKey, ForeignKey("chat_sessions.id", ondelete="CASCADE"))
    role: Mapped[MessageRole] = mapped_column(enum_column_type(MessageRole))
    content: Mapped[str] = mapped_column(Text, default="")
    # model, prompt_name, prompt_version, prompt/completion/total_tokens, latency_ms, cached: see tutor.sessions.
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    generation_status: Mapped[GenerationStatus] = mapped_column(
        enum_column_type(GenerationStatus), default=GenerationStatus.COMPLETED
    )
    discord_message_id: Mapped[int | None] = mapped_column(Snowflake)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatMessageCitation(Base):
    """A source an answer cites, in the order the answer numbers them."""

    __tablename__ = "chat_message_citations"
    __table_args__ = (PrimaryKeyConstraint("message_id", "rank"), CheckConstraint("rank >= 1", name="rank_positive"))

    message_id: Mapped[int] = mapped_column(IdKey, ForeignKey("chat_messages.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    # SET NULL: re-indexing replaces chunks; the answer keeps its numbered sources, minus the link.
    chunk_id: Mapped[int | None] = mapped_column(
        IdKey, ForeignKey("material_chunks.id", ondelete="SET NULL"), index=True
    )
    score: Mapped[float]


class ChatMessageFeedback(IdMixin, TimestampMixin, Base):
    __tablename__ = "chat_message_feedback"
    __table_args__ = (
        UniqueConstraint("message_id", "user_id"),
        CheckConstraint("rating IN (-1, 1)", name="rating_is_thumb"),
    )

    message_id: Mapped[int] = mapped_column(IdKey, ForeignKey("chat_messages.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChatNote(IdMixin, TimestampMixin, Base):
    __tablename__ = "chat_notes"

    session_id: Mapped[int] = mapped_column(IdKey, ForeignKey("chat_sessions.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(
        IdKey, ForeignKey("chat_messages.id", ondelete="SET NULL"), index=True
    )
    content: Mapped[str] = mapped_column(Text)
    selected_text: Mapped[str | None] = mapped_column(Text)


class Prompt(IdMixin, TimestampMixin, Base):
    """One version of a named prompt. Versions are immutable; labels move between them.

    `labels` mirrors `prompt_labels` for display; `prompt_labels` is what enforces and resolves them.
    """

    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("name", "version"), CheckConstraint("version >= 1", name="version_positive"))

    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(20), default="text")
    prompt: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    commit_message: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[int | None] = mapped_column(Snowflake)  # None: shipped with the bot


class PromptLabel(Base):
    """Which version of a prompt name carries a label: the primary key makes a label unique per name."""

    __tablename__ = "prompt_labels"
    __table_args__ = (PrimaryKeyConstraint("name", "label"),)

    name: Mapped[str] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(PROMPT_LABEL_LENGTH))
    prompt_id: Mapped[int] = mapped_column(IdKey, ForeignKey("prompts.id", ondelete="CASCADE"), index=True)


class PromptDependency(IdMixin, TimestampMixin, Base):
    """A reference `@@@prompt:name=X|label=Y@@@` (or `|version=N`) inside a prompt version."""

    __tablename__ = "prompt_dependencies"
    __table_args__ = (
        CheckConstraint("(child_version IS NULL) <> (child_label IS NULL)", name="version_or_label"),
        Index("ix_prompt_dependencies_child_name", "child_name"),
    )

    parent_id: Mapped[int] = mapped_column(IdKey, ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    child_name: Mapped[str] = mapped_column(String(255))
    child_version: Mapped[int | None] = mapped_column(Integer)
    child_label: Mapped[str | None] = mapped_column(String(PROMPT_LABEL_LENGTH))


class Material(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A document the tutor can cite: an uploaded file, or a published lesson (`content_item_id` set)."""

    __tablename__ = "materials"
    __table_args__ = (
        # Uploading the same bytes twice to a course gives back the first material.
        Index(
            "uq_materials_course_id_sha256_live",
            "course_id",
            "sha256",
            unique=True,
            sqlite_where=text("deleted_at IS NULL AND content_item_id IS NULL"),
            postgresql_where=text("deleted_at IS NULL AND content_item_id IS NULL"),
        ),
    )

    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    # One material per lesson, re-indexed in place when a new revision is published.
    content_item_id: Mapped[int | None] = mapped_column(
        IdKey, ForeignKey("content_items.id", ondelete="CASCADE"), unique=True
    )
    uploader_id: Mapped[int | None] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    file_type: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    indexing_status: Mapped[IndexingStatus] = mapped_column(
        enum_column_type(IndexingStatus), default=IndexingStatus.PENDING
    )
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    has_embeddings: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class MaterialChunk(IdMixin, Base):
    """A retrieval unit of a READY material. Chunks exist only for live, READY materials."""

    __tablename__ = "material_chunks"
    __table_args__ = (UniqueConstraint("material_id", "chunk_index"),)

    material_id: Mapped[int] = mapped_column(IdKey, ForeignKey("materials.id", ondelete="CASCADE"))
    # Copied from the material, so vector and full-text searches filter the chunk table alone.
    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    chunk_index: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(500))
    page: Mapped[int | None] = mapped_column(Integer)
    token_count: Mapped[int] = mapped_column(Integer)
    # Words that make the chunk findable beyond its text (symbols spelled out): see `bot.tutor.retrieval`.
    search_terms: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Any width: the model and width that made it say which queries it may be compared with (migration 0015).
    embedding: Mapped[list[float] | None] = mapped_column(AnyWidthEmbedding())
    embedding_model: Mapped[str | None] = mapped_column(String(MODEL_NAME_LENGTH))
    embedding_dimensions: Mapped[int | None] = mapped_column(Integer)
