"""Schema v1: tenancy and people, courses and content, quizzes and progress, engagement, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 01:40:33.573557
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import db.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        # Embeddings (tutor retrieval) use pgvector. Downgrade leaves the extension: it may be shared.
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "audit_logs",
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column(
            "target_ids", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "meta", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
    )
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.create_index("ix_audit_logs_guild_id_created_at", ["guild_id", "created_at"], unique=False)

    op.create_table(
        "guilds",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column(
            "settings", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guilds")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column(
            "preferences", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("last_active_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "activity_events",
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "meta", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guilds.id"], name=op.f("fk_activity_events_guild_id_guilds"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_activity_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_events")),
    )
    with op.batch_alter_table("activity_events", schema=None) as batch_op:
        batch_op.create_index("ix_activity_events_guild_id_at", ["guild_id", "at"], unique=False)
        batch_op.create_index("ix_activity_events_user_id_at", ["user_id", "at"], unique=False)

    op.create_table(
        "courses",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "INTRODUCTORY",
                "INTERMEDIATE",
                "ADVANCED",
                "EXPERT",
                name="courselevel",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("passing_score", sa.Integer(), nullable=False),
        sa.Column("cache_enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("is_published", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("deleted_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("passing_score BETWEEN 0 AND 100", name=op.f("ck_courses_passing_score_percent")),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guilds.id"], name=op.f("fk_courses_guild_id_guilds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
    )
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_courses_guild_id"), ["guild_id"], unique=False)
        batch_op.create_index(
            "uq_courses_guild_id_code_live",
            ["guild_id", "code"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "guild_members",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "STUDENT", "TA", "INSTRUCTOR", "ADMIN", name="memberrole", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guilds.id"], name=op.f("fk_guild_members_guild_id_guilds"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_guild_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guild_members")),
        sa.UniqueConstraint("guild_id", "user_id", "role", name=op.f("uq_guild_members_guild_id_user_id_role")),
    )
    with op.batch_alter_table("guild_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_guild_members_user_id"), ["user_id"], unique=False)

    op.create_table(
        "member_stats",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("total_xp", sa.Integer(), nullable=False),
        sa.Column("updated_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guilds.id"], name=op.f("fk_member_stats_guild_id_guilds"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_member_stats_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("guild_id", "user_id", name=op.f("pk_member_stats")),
    )
    with op.batch_alter_table("member_stats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_stats_user_id"), ["user_id"], unique=False)
        batch_op.create_index("ix_member_stats_guild_id_total_xp", ["guild_id", "total_xp", "user_id"], unique=False)

    op.create_table(
        "streaks",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("current", sa.Integer(), nullable=False),
        sa.Column("longest", sa.Integer(), nullable=False),
        sa.Column("last_activity_date", sa.Date(), nullable=True),
        sa.Column("total_active_days", sa.Integer(), nullable=False),
        sa.Column("freezes_available", sa.Integer(), nullable=False),
        sa.Column("freeze_used_on", sa.Date(), nullable=True),
        sa.Column("updated_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("current >= 0 AND longest >= current", name=op.f("ck_streaks_counts_consistent")),
        sa.CheckConstraint("freezes_available >= 0", name=op.f("ck_streaks_freezes_not_negative")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_streaks_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_streaks")),
    )
    op.create_table(
        "user_profiles",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("learning_goal", sa.String(length=40), nullable=True),
        sa.Column("study_level", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_profiles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_profiles")),
    )
    op.create_table(
        "xp_daily",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("xp", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guilds.id"], name=op.f("fk_xp_daily_guild_id_guilds"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_xp_daily_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("guild_id", "user_id", "day", "course_id", name=op.f("pk_xp_daily")),
    )
    with op.batch_alter_table("xp_daily", schema=None) as batch_op:
        batch_op.create_index("ix_xp_daily_course_id_day", ["course_id", "day"], unique=False)
        batch_op.create_index("ix_xp_daily_guild_id_day", ["guild_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_xp_daily_user_id"), ["user_id"], unique=False)

    op.create_table(
        "concepts",
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_concepts_course_id_courses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concepts")),
        sa.UniqueConstraint("course_id", "slug", name=op.f("uq_concepts_course_id_slug")),
    )
    with op.batch_alter_table("concepts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_concepts_course_id"), ["course_id"], unique=False)

    op.create_table(
        "course_offerings",
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("term_name", sa.String(length=100), nullable=False),
        sa.Column("starts_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("enrollment_start", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("enrollment_end", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "visibility",
            sa.Enum(
                "PUBLIC",
                "UNLISTED",
                "INVITE_ONLY",
                name="offeringvisibility",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("invite_code", sa.String(length=40), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("role_id", sa.BigInteger(), nullable=True),
        sa.Column("is_open", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("capacity IS NULL OR capacity > 0", name=op.f("ck_course_offerings_capacity_positive")),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_course_offerings_course_id_courses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_offerings")),
        sa.UniqueConstraint("course_id", "term_name", name=op.f("uq_course_offerings_course_id_term_name")),
    )
    with op.batch_alter_table("course_offerings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_offerings_course_id"), ["course_id"], unique=False)
        batch_op.create_index("uq_course_offerings_invite_code", ["invite_code"], unique=True)

    op.create_table(
        "course_prerequisites",
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("prerequisite_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint("course_id <> prerequisite_id", name=op.f("ck_course_prerequisites_not_self")),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_course_prerequisites_course_id_courses"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["prerequisite_id"],
            ["courses.id"],
            name=op.f("fk_course_prerequisites_prerequisite_id_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("course_id", "prerequisite_id", name=op.f("pk_course_prerequisites")),
    )
    with op.batch_alter_table("course_prerequisites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_prerequisites_prerequisite_id"), ["prerequisite_id"], unique=False)

    op.create_table(
        "modules",
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "module_type",
            sa.Enum(
                "COURSE_ROOT",
                "UNIT",
                "CHAPTER",
                "LESSON",
                "TOPIC",
                "SECTION",
                "LAB",
                "QUIZ",
                name="moduletype",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("sequence_index", sa.Integer(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
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
            ["course_id"], ["courses.id"], name=op.f("fk_modules_course_id_courses"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["modules.id"], name=op.f("fk_modules_parent_id_modules"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modules")),
        sa.UniqueConstraint("course_id", "slug", name=op.f("uq_modules_course_id_slug")),
    )
    with op.batch_alter_table("modules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_modules_course_id"), ["course_id"], unique=False)
        batch_op.create_index("ix_modules_parent_id_sequence_index", ["parent_id", "sequence_index"], unique=False)

    op.create_table(
        "xp_events",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_xp_events_course_id_courses"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["guild_id"], ["guilds.id"], name=op.f("fk_xp_events_guild_id_guilds"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_xp_events_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xp_events")),
        sa.UniqueConstraint("source_key", name=op.f("uq_xp_events_source_key")),
    )
    with op.batch_alter_table("xp_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_xp_events_course_id"), ["course_id"], unique=False)
        batch_op.create_index("ix_xp_events_guild_id_user_id", ["guild_id", "user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_xp_events_user_id"), ["user_id"], unique=False)

    op.create_table(
        "concept_dependencies",
        sa.Column("concept_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("depends_on_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "strength",
            sa.Enum(
                "REQUIRED",
                "RECOMMENDED",
                "OPTIONAL",
                name="dependencystrength",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("concept_id <> depends_on_id", name=op.f("ck_concept_dependencies_not_self")),
        sa.ForeignKeyConstraint(
            ["concept_id"],
            ["concepts.id"],
            name=op.f("fk_concept_dependencies_concept_id_concepts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["depends_on_id"],
            ["concepts.id"],
            name=op.f("fk_concept_dependencies_depends_on_id_concepts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("concept_id", "depends_on_id", name=op.f("pk_concept_dependencies")),
    )
    with op.batch_alter_table("concept_dependencies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_concept_dependencies_depends_on_id"), ["depends_on_id"], unique=False)

    op.create_table(
        "concept_mastery",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("concept_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "NOT_STARTED", "IN_PROGRESS", "MASTERED", name="masterylevel", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("correct_count", sa.Integer(), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.CheckConstraint("confidence BETWEEN 0 AND 1", name=op.f("ck_concept_mastery_confidence_unit")),
        sa.ForeignKeyConstraint(
            ["concept_id"], ["concepts.id"], name=op.f("fk_concept_mastery_concept_id_concepts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_concept_mastery_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concept_mastery")),
        sa.UniqueConstraint("user_id", "concept_id", name=op.f("uq_concept_mastery_user_id_concept_id")),
    )
    with op.batch_alter_table("concept_mastery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_concept_mastery_concept_id"), ["concept_id"], unique=False)

    op.create_table(
        "content_items",
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("module_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "TEXT",
                "VIDEO",
                "LINK",
                "QUIZ",
                "EXERCISE",
                name="contentkind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("sequence_index", sa.Integer(), nullable=False),
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
            ["course_id"], ["courses.id"], name=op.f("fk_content_items_course_id_courses"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["module_id"], ["modules.id"], name=op.f("fk_content_items_module_id_modules"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_items")),
        sa.UniqueConstraint("course_id", "slug", name=op.f("uq_content_items_course_id_slug")),
    )
    with op.batch_alter_table("content_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_content_items_course_id"), ["course_id"], unique=False)
        batch_op.create_index(
            "ix_content_items_module_id_sequence_index", ["module_id", "sequence_index"], unique=False
        )

    op.create_table(
        "course_enrollments",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("offering_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "ACTIVE",
                "COMPLETED",
                "DROPPED",
                "PENDING",
                "WAITLISTED",
                name="enrollmentstatus",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("enrolled_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dropped_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("final_grade", sa.Float(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["course_offerings.id"],
            name=op.f("fk_course_enrollments_offering_id_course_offerings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_course_enrollments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_enrollments")),
        sa.UniqueConstraint("user_id", "offering_id", name=op.f("uq_course_enrollments_user_id_offering_id")),
    )
    with op.batch_alter_table("course_enrollments", schema=None) as batch_op:
        batch_op.create_index("ix_course_enrollments_offering_id_status", ["offering_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_course_enrollments_user_id"), ["user_id"], unique=False)

    op.create_table(
        "module_revisions",
        sa.Column("module_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "visibility",
            sa.Enum("DRAFT", "PUBLISHED", name="revisionvisibility", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["module_id"], ["modules.id"], name=op.f("fk_module_revisions_module_id_modules"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_module_revisions")),
        sa.UniqueConstraint("module_id", "version", name=op.f("uq_module_revisions_module_id_version")),
    )
    op.create_table(
        "content_concepts",
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("concept_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["concept_id"], ["concepts.id"], name=op.f("fk_content_concepts_concept_id_concepts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["content_items.id"],
            name=op.f("fk_content_concepts_item_id_content_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", "concept_id", name=op.f("pk_content_concepts")),
    )
    with op.batch_alter_table("content_concepts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_content_concepts_concept_id"), ["concept_id"], unique=False)

    op.create_table(
        "content_progress",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("offering_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_opened_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_opened_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.CheckConstraint("percent BETWEEN 0 AND 100", name=op.f("ck_content_progress_percent_range")),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["content_items.id"],
            name=op.f("fk_content_progress_item_id_content_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["course_offerings.id"],
            name=op.f("fk_content_progress_offering_id_course_offerings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_content_progress_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_progress")),
        sa.UniqueConstraint(
            "user_id", "offering_id", "item_id", name=op.f("uq_content_progress_user_id_offering_id_item_id")
        ),
    )
    with op.batch_alter_table("content_progress", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_content_progress_item_id"), ["item_id"], unique=False)
        batch_op.create_index(
            "ix_content_progress_offering_id_user_id_last_opened_at",
            ["offering_id", "user_id", "last_opened_at"],
            unique=False,
        )

    op.create_table(
        "content_revisions",
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "learning_objectives",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("estimated_duration_seconds", sa.Integer(), nullable=True),
        sa.Column(
            "visibility",
            sa.Enum("DRAFT", "PUBLISHED", name="revisionvisibility", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("published_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["content_items.id"],
            name=op.f("fk_content_revisions_item_id_content_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_revisions")),
        sa.UniqueConstraint("item_id", "version", name=op.f("uq_content_revisions_item_id_version")),
    )
    with op.batch_alter_table("content_revisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_content_revisions_item_id_visibility_version", ["item_id", "visibility", "version"], unique=False
        )

    op.create_table(
        "questions",
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("concept_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "question_type",
            sa.Enum(
                "MULTIPLE_CHOICE",
                "TRUE_FALSE",
                "MULTI_SELECT",
                name="questiontype",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("difficulty", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "options", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "answer", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "created_at",
            db.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("difficulty BETWEEN 1 AND 5", name=op.f("ck_questions_difficulty_range")),
        sa.CheckConstraint("points >= 0", name=op.f("ck_questions_points_not_negative")),
        sa.ForeignKeyConstraint(
            ["concept_id"], ["concepts.id"], name=op.f("fk_questions_concept_id_concepts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["content_items.id"], name=op.f("fk_questions_item_id_content_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questions")),
    )
    with op.batch_alter_table("questions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_questions_concept_id"), ["concept_id"], unique=False)
        batch_op.create_index("ix_questions_item_id_is_active", ["item_id", "is_active"], unique=False)

    op.create_table(
        "quiz_attempts",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("offering_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("attempt_number", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "IN_PROGRESS", "SUBMITTED", "ABANDONED", name="attemptstatus", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column(
            "question_order",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "option_orders",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("correct_count", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("started_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("time_taken_seconds", sa.Integer(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["content_items.id"], name=op.f("fk_quiz_attempts_item_id_content_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["course_offerings.id"],
            name=op.f("fk_quiz_attempts_offering_id_course_offerings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_quiz_attempts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_attempts")),
        sa.UniqueConstraint(
            "user_id",
            "offering_id",
            "item_id",
            "attempt_number",
            name=op.f("uq_quiz_attempts_user_id_offering_id_item_id_attempt_number"),
        ),
    )
    with op.batch_alter_table("quiz_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quiz_attempts_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quiz_attempts_offering_id"), ["offering_id"], unique=False)
        batch_op.create_index(
            "uq_quiz_attempts_one_in_progress",
            ["user_id", "offering_id", "item_id"],
            unique=True,
            sqlite_where=sa.text("status = 'IN_PROGRESS'"),
            postgresql_where=sa.text("status = 'IN_PROGRESS'"),
        )

    op.create_table(
        "question_answers",
        sa.Column("attempt_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("question_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "answer", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("is_correct", sa.Boolean(), nullable=False),
        sa.Column("answered_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["quiz_attempts.id"],
            name=op.f("fk_question_answers_attempt_id_quiz_attempts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_question_answers_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_question_answers")),
        sa.UniqueConstraint("attempt_id", "question_id", name=op.f("uq_question_answers_attempt_id_question_id")),
    )
    with op.batch_alter_table("question_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_question_answers_question_id"), ["question_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("question_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_answers_question_id"))

    op.drop_table("question_answers")
    with op.batch_alter_table("quiz_attempts", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_quiz_attempts_one_in_progress",
            sqlite_where=sa.text("status = 'IN_PROGRESS'"),
            postgresql_where=sa.text("status = 'IN_PROGRESS'"),
        )
        batch_op.drop_index(batch_op.f("ix_quiz_attempts_offering_id"))
        batch_op.drop_index(batch_op.f("ix_quiz_attempts_item_id"))

    op.drop_table("quiz_attempts")
    with op.batch_alter_table("questions", schema=None) as batch_op:
        batch_op.drop_index("ix_questions_item_id_is_active")
        batch_op.drop_index(batch_op.f("ix_questions_concept_id"))

    op.drop_table("questions")
    with op.batch_alter_table("content_revisions", schema=None) as batch_op:
        batch_op.drop_index("ix_content_revisions_item_id_visibility_version")

    op.drop_table("content_revisions")
    with op.batch_alter_table("content_progress", schema=None) as batch_op:
        batch_op.drop_index("ix_content_progress_offering_id_user_id_last_opened_at")
        batch_op.drop_index(batch_op.f("ix_content_progress_item_id"))

    op.drop_table("content_progress")
    with op.batch_alter_table("content_concepts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_content_concepts_concept_id"))

    op.drop_table("content_concepts")
    op.drop_table("module_revisions")
    with op.batch_alter_table("course_enrollments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_enrollments_user_id"))
        batch_op.drop_index("ix_course_enrollments_offering_id_status")

    op.drop_table("course_enrollments")
    with op.batch_alter_table("content_items", schema=None) as batch_op:
        batch_op.drop_index("ix_content_items_module_id_sequence_index")
        batch_op.drop_index(batch_op.f("ix_content_items_course_id"))

    op.drop_table("content_items")
    with op.batch_alter_table("concept_mastery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_concept_mastery_concept_id"))

    op.drop_table("concept_mastery")
    with op.batch_alter_table("concept_dependencies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_concept_dependencies_depends_on_id"))

    op.drop_table("concept_dependencies")
    with op.batch_alter_table("xp_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_xp_events_user_id"))
        batch_op.drop_index("ix_xp_events_guild_id_user_id")
        batch_op.drop_index(batch_op.f("ix_xp_events_course_id"))

    op.drop_table("xp_events")
    with op.batch_alter_table("modules", schema=None) as batch_op:
        batch_op.drop_index("ix_modules_parent_id_sequence_index")
        batch_op.drop_index(batch_op.f("ix_modules_course_id"))

    op.drop_table("modules")
    with op.batch_alter_table("course_prerequisites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_prerequisites_prerequisite_id"))

    op.drop_table("course_prerequisites")
    with op.batch_alter_table("course_offerings", schema=None) as batch_op:
        batch_op.drop_index("uq_course_offerings_invite_code")
        batch_op.drop_index(batch_op.f("ix_course_offerings_course_id"))

    op.drop_table("course_offerings")
    with op.batch_alter_table("concepts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_concepts_course_id"))

    op.drop_table("concepts")
    with op.batch_alter_table("xp_daily", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_xp_daily_user_id"))
        batch_op.drop_index("ix_xp_daily_guild_id_day")
        batch_op.drop_index("ix_xp_daily_course_id_day")

    op.drop_table("xp_daily")
    op.drop_table("user_profiles")
    op.drop_table("streaks")
    with op.batch_alter_table("member_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_member_stats_guild_id_total_xp")
        batch_op.drop_index(batch_op.f("ix_member_stats_user_id"))

    op.drop_table("member_stats")
    with op.batch_alter_table("guild_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guild_members_user_id"))

    op.drop_table("guild_members")
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_courses_guild_id_code_live",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_courses_guild_id"))

    op.drop_table("courses")
    with op.batch_alter_table("activity_events", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_events_user_id_at")
        batch_op.drop_index("ix_activity_events_guild_id_at")

    op.drop_table("activity_events")
    op.drop_table("users")
    op.drop_table("guilds")
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_logs_guild_id_created_at")

    op.drop_table("audit_logs")
