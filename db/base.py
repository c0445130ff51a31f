"""Declarative base, constraint naming convention and the portable column types.

The same models run on SQLite (embedded default) and PostgreSQL (production): every type here
renders natively on both and round-trips the same Python values.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Enum, Float, Integer, LargeBinary, MetaData, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive values are refused, not guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite stores no offset: what comes back is the UTC we wrote.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Embedding(TypeDecorator[list[float]]):
    """A float32 vector: pgvector `vector(dim)` on PostgreSQL, little-endian float32 bytes on SQLite. Without
    `dimensions`, a vector of any width (pgvector `vector`)."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, dimensions: int | None) -> None:
        super().__init__()
        self.dimensions = dimensions

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Vector(self.dimensions))
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        array = np.asarray(value, dtype=np.float32)
        if self.dimensions is None:
            if array.ndim != 1 or not len(array):
                raise ValueError(f"an embedding is a non-empty list of numbers, not shape {array.shape}")
        elif array.shape != (self.dimensions,):
            raise ValueError(f"embedding has shape {array.shape}, expected ({self.dimensions},)")
        # On PostgreSQL pgvector's own bind processor (the dialect impl) takes the array from here.
        return array if dialect.name == "postgresql" else array.astype("<f4").tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> list[float] | None:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return np.asarray(value, dtype=np.float32).tolist()
        return np.frombuffer(value, dtype="<f4").tolist()


# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
PortableJSON = JSON().with_variant(JSONB(), "postgresql")
# Discord ids are 64-bit snowflakes.
Snowflake = BigInteger
# Internal keys: BIGINT identity on PostgreSQL, INTEGER (rowid alias, autoincrementing) on SQLite.
IdKey = BigInteger().with_variant(Integer(), "sqlite")


def enum_column_type(enum_class: type[enum.Enum]) -> Enum:
    """A VARCHAR with a CHECK constraint: portable, and adding a member is a plain migration."""
    return Enum(
        enum_class,
        name=enum_class.__name__.lower(),
        native_enum=False,
        create_constraint=True,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # `float` stays FLOAT (SQLAlchemy 2.1 would map it to DOUBLE): the migrations created FLOAT columns.
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: PortableJSON,
        list[Any]: PortableJSON,
        float: Float(),
    }


class IdMixin:
    id: Mapped[int] = mapped_column(IdKey, primary_key=True, autoincrement=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class SoftDeleteMixin:
    """Authorable content is hidden, not erased: `deleted_at` set means gone for students."""

    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[int | None] = mapped_column(Snowflake)
