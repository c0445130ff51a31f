"""The parsed form of a course package: what `load_package` returns and `write_package` writes.

Every model is frozen and validates its own invariants (answers among the options, aware datetimes,
an invite code for invite-only cohorts, ...), so a `CoursePackage` built in code is as trustworthy as
one loaded from files. Invariants that span files (unique slugs, known concepts, no dependency
cycles) are checked by the loader, which can say which file and line broke them.

Every text, number and list is capped at what the database columns and the quiz's Discord message
can hold (the limits below), so a package that validates also imports and plays, on either backend.
"""

from __future__ import annotations

import re
from collections import Counter
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import BigInteger, Integer, SmallInteger, String
from sqlalchemy.orm import InstrumentedAttribute

from db.models import Concept, ContentRevision, Course, CourseOffering, ModuleRevision, Question
from db.models.enums import CourseLevel, DependencyStrength, OfferingVisibility, QuestionType

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
COURSE_CODE_PATTERN = r"^[A-Z][A-Z0-9-]{1,19}$"
TRUE_FALSE_OPTIONS = ("True", "False")

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
"""Lowercase letters, digits, `-` and `_`, starting with a letter or digit, at most 64 characters."""

CourseCode = Annotated[str, Field(pattern=COURSE_CODE_PATTERN)]
"""An uppercase letter, then 1-19 uppercase letters, digits or `-`, such as `PY101`."""

NonBlankText = Annotated[str, Field(pattern=r"\S")]
"""Text with at least one non-whitespace character, kept exactly as written."""


def column_length(column: InstrumentedAttribute[Any]) -> int:
    """The characters a `String(n)` column holds: PostgreSQL refuses more, so the package format does too."""
    column_type = column.type
    if not isinstance(column_type, String) or column_type.length is None:
        raise TypeError(f"{column} is not a String column with a length")
    return column_type.length


def column_max(column: InstrumentedAttribute[Any]) -> int:
    """The largest value an integer column holds on PostgreSQL (SQLite would store more, silently)."""
    column_type = column.type
    for kind, bits in ((SmallInteger, 16), (BigInteger, 64), (Integer, 32)):
        if isinstance(column_type, kind):
            return 2 ** (bits - 1) - 1
    raise TypeError(f"{column} is not an integer column")


# --- Limits: what the schema and the quiz's Discord message hold (docs/course-format.md lists them) ---

MAX_OPTIONS = 24
"""Options of one question. The quiz shows one lettered button per option, a Discord message holds five
rows of five buttons, and a MULTI_SELECT question needs one of them for Submit."""
QUESTION_DISPLAY_MAX = 3_500
"""Characters of a question's text and options together: they share one embed description (4,096
characters), which also holds the option letters and the multi-select hint."""
MAX_QUESTIONS = 500
"""Questions of one quiz: every attempt asks them all."""
MAX_CONCEPTS = 1_000
MAX_DEPENDENCIES = 100
"""Concepts one concept depends on directly."""
MAX_LISTED = 50
"""Entries of the other lists: objectives, a lesson's concepts, prerequisites, cohorts."""
POINTS_MAX = min(1_000, column_max(Question.points))
ESTIMATED_MINUTES_MAX = min(7 * 24 * 60, column_max(ContentRevision.estimated_duration_seconds) // 60)
"""A week; stored in seconds."""
CAPACITY_MAX = min(1_000_000, column_max(CourseOffering.capacity))
ATTEMPTS_MAX = 1_000
ROLE_ID_MAX = column_max(CourseOffering.role_id)


# The package speaks the schema's vocabulary: one definition of each closed set of values.
Level = CourseLevel
Visibility = OfferingVisibility


class FeedbackTiming(StrEnum):
    IMMEDIATE = "immediate"
    """Show right/wrong and the explanation after each answer."""
    END = "end"
    """Show results only when the attempt is submitted."""


class PackageModel(BaseModel):
    """Frozen, and strict about unknown keys so a typo in a file is reported rather than ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ConceptDependency(PackageModel):
    concept: Slug
    strength: DependencyStrength = DependencyStrength.REQUIRED


class ConceptSpec(PackageModel):
    slug: Slug
    name: NonBlankText = Field(max_length=column_length(Concept.name))
    description: str = ""
    depends_on: tuple[ConceptDependency, ...] = Field(default=(), max_length=MAX_DEPENDENCIES)


# A cohort's windows: each end field and the start field it may not come before.
_WINDOW_START = {"ends_at": "starts_at", "enrollment_end": "enrollment_start"}


class CohortSpec(PackageModel):
    """One offering of the course. Windows are open-ended where a datetime is left out."""

    term_name: NonBlankText = Field(max_length=column_length(CourseOffering.term_name))
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    enrollment_start: AwareDatetime | None = None
    enrollment_end: AwareDatetime | None = None
    visibility: Visibility = Visibility.PUBLIC
    invite_code: str | None = Field(
        default=None, validate_default=True, max_length=column_length(CourseOffering.invite_code)
    )
    capacity: int | None = Field(default=None, ge=1, le=CAPACITY_MAX)
    role_id: int | None = Field(default=None, ge=1, le=ROLE_ID_MAX)

    @field_validator(*_WINDOW_START)
    @classmethod
    def _ends_after_start(cls, end: AwareDatetime | None, info: ValidationInfo) -> AwareDatetime | None:
        start_field = _WINDOW_START[info.field_name]
        start = info.data.get(start_field)
        if end is not None and start is not None and end < start:
            raise ValueError(f"is before {start_field}")
        return end

    @field_validator("invite_code")
    @classmethod
    def _invite_only_needs_code(cls, invite_code: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("visibility") == Visibility.INVITE_ONLY and not (invite_code and invite_code.strip()):
            raise ValueError("is required for an INVITE_ONLY cohort: students enter it to enroll")
        return invite_code


class QuestionSpec(PackageModel):
    """A question whose `answer` holds the sorted, 0-based indices of the right options.

    In files, `answer` may also be a single index, an option's exact text, a list of either, or for
    TRUE_FALSE a boolean; TRUE_FALSE questions get the options `True`/`False` when none are given.
    """

    type: QuestionType
    text: NonBlankText
    options: tuple[NonBlankText, ...] = Field(default=(), validate_default=True, max_length=MAX_OPTIONS)
    answer: tuple[int, ...] = Field(max_length=MAX_OPTIONS)
    explanation: str = ""
    concept: Slug | None = None
    difficulty: int = Field(default=3, ge=1, le=5)
    points: int = Field(default=1, ge=1, le=POINTS_MAX)

    @field_validator("options")
    @classmethod
    def _options_fit_the_type(cls, options: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        question_type = info.data.get("type")
        if question_type is None:
            return options  # the type is already reported as wrong, and the rules depend on it
        if question_type == QuestionType.TRUE_FALSE:
            if not options:
                return TRUE_FALSE_OPTIONS
            if len(options) != 2:
                raise ValueError(f"must be exactly 2 for a TRUE_FALSE question, not {len(options)}")
        if len(options) < 2:
            raise ValueError(f"must be at least 2, not {len(options)}")
        duplicates = sorted(option for option, count in Counter(options).items() if count > 1)
        if duplicates:
            raise ValueError(f"must differ, but {_quoted(duplicates)} appears more than once")
        shown = len(info.data.get("text", "")) + sum(len(option) for option in options)
        if shown > QUESTION_DISPLAY_MAX:
            raise ValueError(
                f"and the question text come to {shown:,} characters; at most {QUESTION_DISPLAY_MAX:,} fit "
                "in the quiz's Discord message"
            )
        return options

    @field_validator("answer", mode="before")
    @classmethod
    def _answer_as_option_indices(cls, answer: Any, info: ValidationInfo) -> tuple[int, ...]:
        options = info.data.get("options")
        question_type = info.data.get("type")
        if options is None or question_type is None:
            return ()  # the options or type are already reported as wrong; an answer check would only add noise
        if isinstance(answer, bool) and question_type == QuestionType.TRUE_FALSE and options == TRUE_FALSE_OPTIONS:
            answer = "True" if answer else "False"
        chosen = answer if isinstance(answer, list | tuple) else [answer]
        indices = sorted({_option_index(choice, options) for choice in chosen})
        if question_type == QuestionType.MULTI_SELECT and not indices:
            raise ValueError("must name at least one right option")
        if question_type != QuestionType.MULTI_SELECT and len(indices) != 1:
            count = len(indices)
            raise ValueError(f"must name exactly one right option for a {question_type.value} question, not {count}")
        return tuple(indices)


def _option_index(choice: Any, options: tuple[str, ...]) -> int:
    if isinstance(choice, bool) or not isinstance(choice, int | str):
        raise ValueError(f"must be option numbers (counting from 0) or option texts, not {choice!r}")
    if isinstance(choice, str):
        if choice not in options:
            raise ValueError(f"names {_quoted([choice])}, which is not one of the options {_quoted(options)}")
        return options.index(choice)
    if not 0 <= choice < len(options):
        raise ValueError(f"names option {choice}, but the options are numbered from 0 to {len(options) - 1}")
    return choice


def _quoted(texts: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f'"{text}"' for text in texts)


class LessonSpec(PackageModel):
    """A Markdown lesson. `body` has no leading blank lines, no trailing whitespace and `\\n` line ends."""

    kind: Literal["lesson"] = "lesson"
    slug: Slug
    title: NonBlankText = Field(max_length=column_length(ContentRevision.title))
    body: NonBlankText
    objectives: tuple[NonBlankText, ...] = Field(default=(), max_length=MAX_LISTED)
    estimated_minutes: int | None = Field(default=None, ge=1, le=ESTIMATED_MINUTES_MAX)
    concepts: tuple[Slug, ...] = Field(default=(), max_length=MAX_LISTED)

    @field_validator("body", mode="before")
    @classmethod
    def _normalise_body(cls, body: Any) -> Any:
        return normalise_markdown(body) if isinstance(body, str) else body


def normalise_markdown(body: str) -> str:
    """The canonical form of a lesson body: what a lesson file and its rewritten copy both load as.

    Line ends become `\n` (a lone `\r` too), leading blank lines and trailing whitespace go.
    """
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"\A(?:[ \t]*\n)+", "", body).rstrip()


class QuizSpec(PackageModel):
    """A quiz; `passing_score` of None means the course's passing score applies."""

    kind: Literal["quiz"] = "quiz"
    slug: Slug
    title: NonBlankText = Field(max_length=column_length(ContentRevision.title))
    description: str = ""
    shuffle: bool = True
    feedback: FeedbackTiming = FeedbackTiming.IMMEDIATE
    max_attempts: int | None = Field(default=None, ge=1, le=ATTEMPTS_MAX)
    passing_score: int | None = Field(default=None, ge=0, le=100)
    questions: tuple[QuestionSpec, ...] = Field(default=(), validate_default=True, max_length=MAX_QUESTIONS)

    @field_validator("questions")
    @classmethod
    def _has_questions(cls, questions: tuple[QuestionSpec, ...]) -> tuple[QuestionSpec, ...]:
        if not questions:
            raise ValueError("must hold at least one question: add a [[questions]] table")
        return questions


ModuleItem = Annotated[LessonSpec | QuizSpec, Field(discriminator="kind")]


class ModuleSpec(PackageModel):
    """A module; `items` holds its lessons and quizzes in course order."""

    slug: Slug
    title: NonBlankText = Field(max_length=column_length(ModuleRevision.title))
    summary: str = ""
    items: tuple[ModuleItem, ...] = ()

    @property
    def lessons(self) -> tuple[LessonSpec, ...]:
        return tuple(item for item in self.items if isinstance(item, LessonSpec))

    @property
    def quizzes(self) -> tuple[QuizSpec, ...]:
        return tuple(item for item in self.items if isinstance(item, QuizSpec))


class CoursePackage(PackageModel):
    """A whole course as authored. Produced by `load_package`, which guarantees that module, item and
    concept slugs are unique, every concept reference names a concept of the package and concept
    dependencies have no cycles."""

    code: CourseCode
    title: NonBlankText = Field(max_length=column_length(Course.title))
    description: str = ""
    level: Level = Level.INTRODUCTORY
    passing_score: int = Field(default=70, ge=0, le=100)
    prerequisites: tuple[CourseCode, ...] = Field(default=(), max_length=MAX_LISTED)
    cohorts: tuple[CohortSpec, ...] = Field(default=(), max_length=MAX_LISTED)
    concepts: tuple[ConceptSpec, ...] = Field(default=(), max_length=MAX_CONCEPTS)
    modules: tuple[ModuleSpec, ...] = ()

    @property
    def lessons(self) -> tuple[LessonSpec, ...]:
        return tuple(lesson for module in self.modules for lesson in module.lessons)

    @property
    def quizzes(self) -> tuple[QuizSpec, ...]:
        return tuple(quiz for module in self.modules for quiz in module.quizzes)
