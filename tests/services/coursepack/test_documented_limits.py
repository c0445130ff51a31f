"""The limits table in docs/course-format.md states the limits the package model enforces."""

from __future__ import annotations

from pathlib import Path

from bot.services.coursepack.model import (
    ATTEMPTS_MAX,
    CAPACITY_MAX,
    ESTIMATED_MINUTES_MAX,
    MAX_CONCEPTS,
    MAX_DEPENDENCIES,
    MAX_LISTED,
    MAX_OPTIONS,
    MAX_QUESTIONS,
    POINTS_MAX,
    QUESTION_DISPLAY_MAX,
    ROLE_ID_MAX,
    column_length,
)
from bot.services.coursepack.problems import MAX_PROBLEMS
from bot.services.coursepack.toml_source import MAX_NESTING, MAX_TOML_CHARACTERS
from db.models import Concept, ContentRevision, Course, CourseOffering, ModuleRevision

FORMAT_DOC = Path(__file__).parents[3] / "docs" / "course-format.md"


def limits_table() -> dict[str, str]:
    section = FORMAT_DOC.read_text(encoding="utf-8").split("## Limits on content", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    return {what.strip(): limit.strip() for what, limit in rows[1:]}


def test_the_documented_limits_are_the_enforced_ones() -> None:
    titles = {column_length(column) for column in (Course.title, ModuleRevision.title, ContentRevision.title)}
    assert limits_table() == {
        "course, module, lesson and quiz `title`, concept `name`": f"{titles.pop()} characters",
        "cohort `term_name`": f"{column_length(CourseOffering.term_name)} characters",
        "cohort `invite_code`": f"{column_length(CourseOffering.invite_code)} characters",
        "`options` of a question": f"{MAX_OPTIONS}",
        "a question's `text` and `options` together": f"{QUESTION_DISPLAY_MAX:,} characters",
        "questions in a quiz": f"{MAX_QUESTIONS}",
        "`points`": f"{POINTS_MAX:,}",
        "`estimated_minutes`": f"{ESTIMATED_MINUTES_MAX:,} (a week)",
        "`capacity`": f"{CAPACITY_MAX:,}",
        "`max_attempts`": f"{ATTEMPTS_MAX:,}",
        "`role_id`": f"{ROLE_ID_MAX:,}",
        "concepts in `concepts.toml`": f"{MAX_CONCEPTS:,}",
        "`depends_on` of one concept": f"{MAX_DEPENDENCIES}",
        "`objectives`, a lesson's `concepts`, `prerequisites`, `[[cohorts]]`": f"{MAX_LISTED} each",
        "one TOML file, or one lesson's front matter": f"{MAX_TOML_CHARACTERS:,} characters",
        "arrays and inline tables inside one another": f"{MAX_NESTING} deep",
    }
    assert not titles  # one length for every title column, as the table says
    assert column_length(Concept.name) == column_length(Course.title)


def test_the_documented_problem_count_is_the_enforced_one() -> None:
    assert f"lists its first {MAX_PROBLEMS} problems" in FORMAT_DOC.read_text(encoding="utf-8")
