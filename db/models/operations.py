"""Operations: the LLM servers and models the bot may use, and bot-wide settings. Secrets are stored encrypted."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdKey, IdMixin, Snowflake, TimestampMixin, enum_column_type, utcnow


class ModelPurpose(enum.StrEnum):
    CHAT = "CHAT"
    EMBEDDING = "EMBEDDING"


class LLMBackend(IdMixin, TimestampMixin, Base):
    """An OpenAI-compatible server. `api_key_encrypted` is a Fernet token (see `bot.tutor.secrets`), never plain."""

    __tablename__ = "llm_backends"
    __table_args__ = (UniqueConstraint("name"),)

    name: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(50))
    base_url: Mapped[str] = mapped_column(String(500))
    api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(Snowflake)


class LLMModel(IdMixin, TimestampMixin, Base):
    """A model offered by a backend, for chat or for embeddings; at most one default per purpose."""

    __tablename__ = "llm_models"
    __table_args__ = (
        UniqueConstraint("backend_id", "model", "purpose"),
        Index(
            "uq_llm_models_default_per_purpose",
            "purpose",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    backend_id: Mapped[int] = mapped_column(IdKey, ForeignKey("llm_backends.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[ModelPurpose] = mapped_column(enum_column_type(ModelPurpose))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The output width of an embedding model; must match the schema's embedding column to be usable.
    embedding_dimensions: Mapped[int | None] = mapped_column(Integer)


class SystemSetting(IdMixin, Base):
    __tablename__ = "system_settings"
    __table_args__ = (UniqueConstraint("key"),)

    key: Mapped[str] = mapped_column(String(100))
    # A Fernet token when `is_encrypted`.
    value: Mapped[str] = mapped_column(Text)
    is_encrypted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    description: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(Snowflake)
