"""Chunk vectors of any width, and the vectors a change of embedding model stages before it takes over.

`material_chunks.embedding` holds the vector each chunk is searched by, with the model and width that made it
(`embedding_model`, `embedding_dimensions`), so a query is only ever compared with vectors of its own model. When
the embedding model changes, the new model's vectors are written to `staged_embeddings` in small batches; once
every chunk of a course has one, they replace the course's vectors in one transaction (`bot.tutor.materials`).
PostgreSQL keeps one HNSW index per common width (migration 0015), each over the rows of that width only.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, Embedding, IdKey, TimestampMixin

MODEL_NAME_LENGTH = 200
# PostgreSQL: an HNSW index (over `embedding::vector(N)`, for the rows of width N) for each of these widths, the
# output sizes of the usual embedding models; a vector of another width is searched exactly.
INDEXED_DIMENSIONS = (256, 384, 768, 1024, 1536)
HNSW_INDEXES = tuple(f"ix_material_chunks_embedding_hnsw_{width}" for width in INDEXED_DIMENSIONS)


class AnyWidthEmbedding(Embedding):
    """A float32 vector of any width: pgvector `vector` on PostgreSQL, little-endian float32 bytes on SQLite."""

    cache_ok = True  # SQLAlchemy asks each TypeDecorator class itself

    def __init__(self) -> None:
        super().__init__(dimensions=None)


class StagedEmbedding(TimestampMixin, Base):
    """A chunk's vector from the embedding model the course is moving to, waiting for the rest of the course."""

    __tablename__ = "staged_embeddings"
    __table_args__ = (PrimaryKeyConstraint("chunk_id", "embedding_model"),)

    chunk_id: Mapped[int] = mapped_column(IdKey, ForeignKey("material_chunks.id", ondelete="CASCADE"))
    embedding_model: Mapped[str] = mapped_column(String(MODEL_NAME_LENGTH))
    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    embedding_dimensions: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[list[float]] = mapped_column(AnyWidthEmbedding())
