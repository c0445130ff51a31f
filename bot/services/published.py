"""What students see of a course: its published items, each as its newest published revision.

An item is published when it is live (neither the item nor its module is deleted) and has at least one
PUBLISHED revision. Students read its newest PUBLISHED revision: a newer draft stays the instructor's until
it is published, and an item with drafts only is not there at all. Every read of course content on a
student's behalf (the outline, quizzes, the course card, the tutor, nudges) starts from `items`, so this rule
is written once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select

from db.models import ContentItem, ContentKind, ContentRevision, Course, Module, RevisionVisibility

# The order a student meets a course's items in: module by module, each module's items in turn.
OUTLINE_ORDER = (Module.sequence_index, ContentItem.sequence_index)


def items(*course_ids: int) -> Select[Any]:
    """The published items of these courses, each joined to its newest published revision and to its module.

    Columns: id, course_id, slug, kind, title, body. A caller narrows it with `with_only_columns` (the joins
    stay, so any column of ContentItem, ContentRevision or Module may be picked), `where`, `join` and
    `order_by`, or makes it a CTE.
    """
    return _published(ContentItem.course_id.in_(course_ids))


def quizzes(course_id: int, *columns: Any) -> Select[Any]:
    """The published quizzes of a course, as `items` narrowed to `columns`."""
    return items(course_id).with_only_columns(*columns).where(ContentItem.kind == ContentKind.QUIZ)


def items_of_guild(guild_id: int) -> Select[Any]:
    """The published items of every live, published course of a guild, as `items`, with `Course` joined too."""
    return _published(Course.guild_id == guild_id, Course.is_published.is_(True), Course.deleted_at.is_(None)).join(
        Course, Course.id == ContentItem.course_id
    )


def newest_revision_of(item_id: ColumnElement[int]) -> ColumnElement[bool]:
    """The join condition that makes `ContentRevision` the newest published revision of the item `item_id` names
    (for a read that reaches the item another way, e.g. from a quiz attempt)."""
    newest_published = (
        select(func.max(ContentRevision.version))
        .where(ContentRevision.item_id == item_id, ContentRevision.visibility == RevisionVisibility.PUBLISHED)
        .correlate_except(ContentRevision)
        .scalar_subquery()
    )
    return and_(ContentRevision.item_id == item_id, ContentRevision.version == newest_published)


def _published(*of_courses: ColumnElement[bool]) -> Select[Any]:
    return (
        select(
            ContentItem.id,
            ContentItem.course_id,
            ContentItem.slug,
            ContentItem.kind,
            ContentRevision.title,
            ContentRevision.body,
        )
        .join(ContentRevision, newest_revision_of(ContentItem.id))
        .join(Module, Module.id == ContentItem.module_id)
        .where(*of_courses, ContentItem.deleted_at.is_(None), Module.deleted_at.is_(None))
    )
