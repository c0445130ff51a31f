"""Courses and content: courses, cohorts (offerings), enrollments, the module tree, revisioned content, concepts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdKey, IdMixin, Snowflake, SoftDeleteMixin, TimestampMixin, enum_column_type, utcnow
from db.models.enums import (
    ContentKind,
    CourseLevel,
    DependencyStrength,
    EnrollmentStatus,
    ModuleType,
    OfferingVisibility,
    RevisionVisibility,
)


class Course(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "courses"
    __table_args__ = (
        # A deleted course frees its code for a new one.
        Index(
            "uq_courses_guild_id_code_live",
            "guild_id",
            "code",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        CheckConstraint("passing_score BETWEEN 0 AND 100", name="passing_score_percent"),
    )

    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    level: Mapped[CourseLevel] = mapped_column(enum_column_type(CourseLevel), default=CourseLevel.INTRODUCTORY)
    passing_score: Mapped[int] = mapped_column(Integer, default=70)
    cache_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_published: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_by: Mapped[int | None] = mapped_column(Snowflake)


class CoursePrerequisite(Base):
    __tablename__ = "course_prerequisites"
    __table_args__ = (CheckConstraint("course_id <> prerequisite_id", name="not_self"),)

    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    prerequisite_id: Mapped[int] = mapped_column(
        IdKey, ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CourseOffering(IdMixin, TimestampMixin, Base):
    """A cohort: one run of a course with its own window, visibility, capacity and Discord role."""

    __tablename__ = "course_offerings"
    __table_args__ = (
        UniqueConstraint("course_id", "term_name"),
        # What enrollment relies on: `/course enroll course: invite:` finds one cohort. The services also keep a
        # code unique among the live courses of one guild; never across guilds, which would let one guild's
        # admins probe another's codes.
        Index("uq_course_offerings_course_id_invite_code", "course_id", "invite_code", unique=True),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
    )

    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    term_name: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    enrollment_start: Mapped[datetime | None]
    enrollment_end: Mapped[datetime | None]
    visibility: Mapped[OfferingVisibility] = mapped_column(
        enum_column_type(OfferingVisibility), default=OfferingVisibility.PUBLIC
    )
    invite_code: Mapped[str | None] = mapped_column(String(40))
    capacity: Mapped[int | None] = mapped_column(Integer)
    role_id: Mapped[int | None] = mapped_column(Snowflake)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class CourseEnrollment(IdMixin, Base):
    __tablename__ = "course_enrollments"
    __table_args__ = (
        UniqueConstraint("user_id", "offering_id"),
        Index("ix_course_enrollments_offering_id_status", "offering_id", "status"),
    )

    user_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    offering_id: Mapped[int] = mapped_column(IdKey, ForeignKey("course_offerings.id", ondelete="CASCADE"))
    status: Mapped[EnrollmentStatus] = mapped_column(enum_column_type(EnrollmentStatus))
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    dropped_at: Mapped[datetime | None]
    final_grade: Mapped[float | None]


class Module(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A node of a course's module tree; its title lives in `module_revisions`."""

    __tablename__ = "modules"
    __table_args__ = (
        UniqueConstraint("course_id", "slug"),
        Index("ix_modules_parent_id_sequence_index", "parent_id", "sequence_index"),
    )

    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(IdKey, ForeignKey("modules.id", ondelete="CASCADE"))
    module_type: Mapped[ModuleType] = mapped_column(enum_column_type(ModuleType))
    slug: Mapped[str] = mapped_column(String(100))
    sequence_index: Mapped[int] = mapped_column(Integer)
    depth: Mapped[int] = mapped_column(Integer, default=0)


class ModuleRevision(IdMixin, TimestampMixin, Base):
    __tablename__ = "module_revisions"
    __table_args__ = (UniqueConstraint("module_id", "version"),)

    module_id: Mapped[int] = mapped_column(IdKey, ForeignKey("modules.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[RevisionVisibility] = mapped_column(enum_column_type(RevisionVisibility))
    created_by: Mapped[int | None] = mapped_column(Snowflake)


class ContentItem(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A lesson, quiz or other item; what students see is its latest PUBLISHED revision."""

    __tablename__ = "content_items"
    __table_args__ = (
        UniqueConstraint("course_id", "slug"),
        Index("ix_content_items_module_id_sequence_index", "module_id", "sequence_index"),
    )

    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    module_id: Mapped[int] = mapped_column(IdKey, ForeignKey("modules.id", ondelete="CASCADE"))
    kind: Mapped[ContentKind] = mapped_column(enum_column_type(ContentKind))
    slug: Mapped[str] = mapped_column(String(100))
    sequence_index: Mapped[int] = mapped_column(Integer)


class ContentRevision(IdMixin, TimestampMixin, Base):
    __tablename__ = "content_revisions"
    __table_args__ = (
        UniqueConstraint("item_id", "version"),
        Index("ix_content_revisions_item_id_visibility_version", "item_id", "visibility", "version"),
    )

    item_id: Mapped[int] = mapped_column(IdKey, ForeignKey("content_items.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    # Kind-specific settings, e.g. a quiz's shuffle/feedback/max_attempts.
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    learning_objectives: Mapped[list[Any]] = mapped_column(default=list)
    estimated_duration_seconds: Mapped[int | None] = mapped_column(Integer)
    visibility: Mapped[RevisionVisibility] = mapped_column(enum_column_type(RevisionVisibility))
    published_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(Snowflake)


class Concept(IdMixin, Base):
    __tablename__ = "concepts"
    __table_args__ = (UniqueConstraint("course_id", "slug"),)

    course_id: Mapped[int] = mapped_column(IdKey, ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")


class ConceptDependency(Base):
    __tablename__ = "concept_dependencies"
    __table_args__ = (CheckConstraint("concept_id <> depends_on_id", name="not_self"),)

    concept_id: Mapped[int] = mapped_column(IdKey, ForeignKey("concepts.id", ondelete="CASCADE"), primary_key=True)
    depends_on_id: Mapped[int] = mapped_column(
        IdKey, ForeignKey("concepts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    strength: Mapped[DependencyStrength] = mapped_column(enum_column_type(DependencyStrength))


class ContentConcept(Base):
    __tablename__ = "content_concepts"

    item_id: Mapped[int] = mapped_column(IdKey, ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True)
    concept_id: Mapped[int] = mapped_column(
        IdKey, ForeignKey("concepts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
