"""Loading a course package (a folder or a `.zip`) into a `CoursePackage`, reporting every problem.

Reading order, which is also the order to read this module in:
1. `read_package_files` brings every file into memory (zip safety lives there);
2. `course.toml`, then `concepts.toml`, so lessons and questions can be checked against the concepts;
3. each numbered module folder: its `module.toml`, then its numbered items (lessons, quizzes).
Nothing stops at the first problem: each is recorded with its file and line, and `PackageInvalid`
lists them all at the end. See docs/course-format.md for the format itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.services.coursepack.aiken import parse_aiken
from bot.services.coursepack.archive import DEFAULT_LIMITS, PackageFiles, PackageLimits, read_package_files
from bot.services.coursepack.gift import parse_gift
from bot.services.coursepack.model import (
    SLUG_PATTERN,
    ConceptSpec,
    CoursePackage,
    LessonSpec,
    ModuleItem,
    ModuleSpec,
    PackageModel,
    QuestionSpec,
    QuizSpec,
)
from bot.services.coursepack.problems import PackageInvalid, Problem, problems_from_validation_error
from bot.services.coursepack.toml_source import TomlDocument, parse_toml

ModelT = TypeVar("ModelT", bound=BaseModel)
QuestionFileParser = Callable[[str, str], tuple[list[QuestionSpec], list[Problem]]]

COURSE_FILE = "course.toml"
CONCEPTS_FILE = "concepts.toml"
MODULE_FILE = "module.toml"
FRONT_MATTER_FENCE = "+++"

_NUMBERED_NAME = re.compile(r"^(?P<position>\d+)-(?P<slug>.+)$")
_ITEM_SUFFIXES = (".quiz.toml", ".aiken.txt", ".gift", ".md")
_QUESTION_FILE_PARSERS: dict[str, QuestionFileParser] = {".gift": parse_gift, ".aiken.txt": parse_aiken}
_DERIVED_KEY_SOURCES = {
    "slug": "it comes from the file or folder name",
    "kind": "it comes from the file's type",
    "body": "it is the Markdown after the front matter",
    "items": "they are the module folder's numbered files",
    "modules": "they are the package's numbered folders",
    "concepts": "they are listed in concepts.toml",
}


def load_package(path: Path, *, limits: PackageLimits = DEFAULT_LIMITS) -> CoursePackage:
    """The course package in the folder or `.zip` at `path`.

    Raises `PackageInvalid` with every problem found (file, line, message) when the package is
    unsafe, unreadable or inconsistent; a returned package satisfies all of `CoursePackage`'s promises.
    """
    return _PackageLoader(read_package_files(path, limits)).load()


class _ConceptsFile(PackageModel):
    concepts: tuple[ConceptSpec, ...] = ()


class _PackageLoader:
    """Reads one package's files, recording problems rather than stopping at the first."""

    def __init__(self, files: PackageFiles) -> None:
        self.files = files
        self.problems: list[Problem] = []
        self.concept_slugs: set[str] | None = None  # None: concepts.toml is unreadable, skip reference checks
        self.module_folder_by_slug: dict[str, str] = {}
        self.item_file_by_slug: dict[str, str] = {}

    def load(self) -> CoursePackage:
        course = self._read_course()
        concepts = self._read_concepts()
        modules = self._read_modules()
        if course is None or self.problems:
            raise PackageInvalid(self.problems)
        return course.model_copy(update={"concepts": concepts, "modules": modules})

    # --- course.toml and concepts.toml -------------------------------------------------------

    def _read_course(self) -> CoursePackage | None:
        document = self._read_toml(COURSE_FILE)
        if document is None:
            return None
        course = self._validate(CoursePackage, document, derived={"concepts": (), "modules": ()})
        if course is None:
            return None
        if course.code in course.prerequisites:
            line = document.line_of(("prerequisites",))
            self._report(COURSE_FILE, line, f"the course `{course.code}` cannot be its own prerequisite")
        term_names: set[str] = set()
        for index, cohort in enumerate(course.cohorts):
            if cohort.term_name in term_names:
                line = document.line_of(("cohorts", index, "term_name"))
                self._report(COURSE_FILE, line, f"cohort term_name {cohort.term_name!r} is used twice")
            term_names.add(cohort.term_name)
        return course

    def _read_concepts(self) -> tuple[ConceptSpec, ...]:
        if CONCEPTS_FILE not in self.files:
            self.concept_slugs = set()
            return ()
        document = self._read_toml(CONCEPTS_FILE)
        concepts_file = None if document is None else self._validate(_ConceptsFile, document, derived={})
        if document is None or concepts_file is None:
            return ()
        self._check_concept_graph(document, concepts_file.concepts)
        self.concept_slugs = {concept.slug for concept in concepts_file.concepts}
        return concepts_file.concepts

    def _check_concept_graph(self, document: TomlDocument, concepts: tuple[ConceptSpec, ...]) -> None:
        """Slugs are unique, dependencies name concepts of this file once each, and form no cycle."""
        slugs = {concept.slug for concept in concepts}
        seen: set[str] = set()
        for index, concept in enumerate(concepts):
            if concept.slug in seen:
                line = document.line_of(("concepts", index, "slug"))
                self._report(CONCEPTS_FILE, line, f"concept slug `{concept.slug}` is used twice")
            seen.add(concept.slug)
            line = document.line_of(("concepts", index, "depends_on"))
            dependencies = [dependency.concept for dependency in concept.depends_on]
            for dependency in sorted(set(dependencies)):
                if dependency not in slugs:
                    message = f"concept `{concept.slug}` depends on `{dependency}`, which is not a concept here"
                    self._report(CONCEPTS_FILE, line, message)
                if dependencies.count(dependency) > 1:
                    self._report(CONCEPTS_FILE, line, f"concept `{concept.slug}` lists `{dependency}` more than once")
        if len(slugs) < len(concepts):
            return  # with a slug used twice, which dependencies belong to it is ambiguous
        index_by_slug = {concept.slug: index for index, concept in enumerate(concepts)}
        for cycle in dependency_cycles(concepts):
            line = document.line_of(("concepts", index_by_slug[cycle[0]], "depends_on"))
            self._report(CONCEPTS_FILE, line, f"concept dependencies form a cycle: {' → '.join(cycle)}")

    # --- modules and their items -------------------------------------------------------------

    def _read_modules(self) -> tuple[ModuleSpec, ...]:
        folders: set[str] = set()
        for path in self.files:
            top, _, rest = path.partition("/")
            if rest and _NUMBERED_NAME.match(top):
                folders.add(top)
            elif not rest and path.endswith(_ITEM_SUFFIXES) and _NUMBERED_NAME.match(path):
                self._report(path, None, "lessons and quizzes belong in a numbered module folder such as 01-basics/")
        if not folders:
            message = "the course has no modules: add a numbered folder such as 01-getting-started/ with a module.toml"
            self._report(COURSE_FILE, None, message)
        modules = (self._read_module(folder) for folder in sorted(folders, key=_position_then_name))
        return tuple(module for module in modules if module is not None)

    def _read_module(self, folder: str) -> ModuleSpec | None:
        slug = self._slug_from_name(folder, folder)
        if slug in self.module_folder_by_slug:
            other = self.module_folder_by_slug[slug]
            self._report(folder, None, f"module slug `{slug}` is also used by {other}/; module slugs must be unique")
        elif slug is not None:
            self.module_folder_by_slug[slug] = folder
        document = self._read_toml(f"{folder}/{MODULE_FILE}")
        items = self._read_items(folder)
        if slug is None or document is None:
            return None
        return self._validate(ModuleSpec, document, derived={"slug": slug, "items": items})

    def _read_items(self, folder: str) -> tuple[ModuleItem, ...]:
        item_files: list[str] = []
        for path in self.files:
            name = path.removeprefix(f"{folder}/")
            if name in (path, MODULE_FILE) or "/" in name:
                continue  # not directly in this module, or its settings; other files (images) are assets
            if name.endswith(_ITEM_SUFFIXES) and _NUMBERED_NAME.match(name):
                item_files.append(path)
            elif name.endswith(_ITEM_SUFFIXES):
                self._report(path, None, "an item file needs a number prefix giving its place, such as `01-`")
            elif name.endswith(".toml"):
                message = "unrecognised TOML file: quizzes end in `.quiz.toml`, module settings go in module.toml"
                self._report(path, None, message)
        if not item_files:
            self._report(folder, None, "the module has no lessons or quizzes")
        items = (self._read_item(path) for path in sorted(item_files, key=_position_then_name))
        return tuple(item for item in items if item is not None)

    def _read_item(self, path: str) -> ModuleItem | None:
        name = path.rsplit("/", 1)[1]
        suffix = next(suffix for suffix in _ITEM_SUFFIXES if name.endswith(suffix))
        slug = self._slug_from_name(path, name.removesuffix(suffix))
        if slug is None:
            return None
        if slug in self.item_file_by_slug:
            other = self.item_file_by_slug[slug]
            message = f"slug `{slug}` is also used by {other}; lesson and quiz slugs must be unique in the course"
            self._report(path, None, message)
            return None
        self.item_file_by_slug[slug] = path
        if suffix == ".md":
            return self._read_lesson(path, slug)
        if suffix == ".quiz.toml":
            return self._read_quiz(path, slug)
        return self._read_question_file(path, slug, _QUESTION_FILE_PARSERS[suffix])

    def _read_lesson(self, path: str, slug: str) -> LessonSpec | None:
        text = self._read_text(path)
        if text is None:
            return None
        lines = text.split("\n")
        if lines[0].strip() != FRONT_MATTER_FENCE:
            message = "a lesson starts with a `+++` line, then TOML front matter (title = ...), then another `+++` line"
            self._report(path, 1, message)
            return None
        closing = next((index for index in range(1, len(lines)) if lines[index].strip() == FRONT_MATTER_FENCE), None)
        if closing is None:
            self._report(path, 1, "the front matter opened on line 1 is never closed with a `+++` line")
            return None
        body = "\n".join(lines[closing + 1 :])
        if not body.strip():
            self._report(path, closing + 1, "the lesson has no text after its front matter")
        document = self._parse_toml("\n".join(lines[1:closing]), path, first_line=2)
        if document is None:
            return None
        lesson = self._validate(LessonSpec, document, derived={"kind": "lesson", "slug": slug, "body": body})
        if lesson is not None:
            self._check_concepts_known(lesson.concepts, path, document.line_of(("concepts",)))
        return lesson

    def _read_quiz(self, path: str, slug: str) -> QuizSpec | None:
        document = self._read_toml(path)
        if document is None:
            return None
        quiz = self._validate(QuizSpec, document, derived={"kind": "quiz", "slug": slug})
        if quiz is None:
            return None
        for index, question in enumerate(quiz.questions):
            if question.concept is not None:
                line = document.line_of(("questions", index, "concept"))
                self._check_concepts_known((question.concept,), path, line)
        return quiz

    def _read_question_file(self, path: str, slug: str, parse: QuestionFileParser) -> QuizSpec | None:
        """A GIFT or Aiken file as a quiz titled after its slug, with default quiz settings."""
        text = self._read_text(path)
        if text is None:
            return None
        questions, problems = parse(text, path)
        self.problems.extend(problems)
        if not questions and not problems:
            self._report(path, None, "the quiz has no questions; add at least one")
        if problems or not questions:
            return None
        title = slug.replace("-", " ").replace("_", " ").capitalize()
        return QuizSpec(slug=slug, title=title, questions=tuple(questions))

    # --- shared steps --------------------------------------------------------------------------

    def _read_text(self, path: str) -> str | None:
        data = self.files[path]
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data[: error.start].count(b"\n") + 1
            self._report(path, line, f"is not UTF-8 text (byte 0x{data[error.start]:02x}); save the file as UTF-8")
            return None
        return text.replace("\r\n", "\n")

    def _read_toml(self, path: str) -> TomlDocument | None:
        if path not in self.files:
            why = _WHY_REQUIRED.get(path.rsplit("/", 1)[-1], "this file is required")
            self._report(path, None, f"missing: {why}")
            return None
        text = self._read_text(path)
        return None if text is None else self._parse_toml(text, path, first_line=1)

    def _parse_toml(self, text: str, path: str, *, first_line: int) -> TomlDocument | None:
        parsed = parse_toml(text, path, first_line=first_line)
        if isinstance(parsed, Problem):
            self._report(parsed.file, parsed.line, parsed.message)
            return None
        return parsed

    def _validate(self, model: type[ModelT], document: TomlDocument, *, derived: Mapping[str, Any]) -> ModelT | None:
        """`document` validated as `model`, with `derived` fields (from names or other files) filled in.

        The caller has checked the derived values and reported them in its own words, so pydantic's
        complaints about them are dropped here; the document may not set them itself.
        """
        for key in derived.keys() & document.data.keys():
            message = f"`{key}` cannot be set in this file: {_DERIVED_KEY_SOURCES[key]}"
            self._report(document.file, document.line_of((key,)), message)
        try:
            return model.model_validate({**document.data, **derived})
        except ValidationError as error:
            self.problems += problems_from_validation_error(error, document.file, document.line_of, ignore_keys=derived)
            return None

    def _slug_from_name(self, path: str, name: str) -> str | None:
        """The slug in a numbered name (`01-getting-started` gives `getting-started`), or None if invalid."""
        match = _NUMBERED_NAME.match(name)
        slug = match["slug"] if match else ""
        if not re.match(SLUG_PATTERN, slug):
            message = (
                f"the name after the number, {slug!r}, must be a slug: "
                "lowercase letters, digits, `-` and `_`, at most 64 characters"
            )
            self._report(path, None, message)
            return None
        return slug

    def _check_concepts_known(self, concepts: tuple[str, ...], path: str, line: int | None) -> None:
        if self.concept_slugs is None:
            return
        for concept in concepts:
            if concept not in self.concept_slugs:
                self._report(path, line, f"unknown concept `{concept}`: concepts are listed in concepts.toml")

    def _report(self, path: str, line: int | None, message: str) -> None:
        self.problems.append(Problem(path, line, message))


_WHY_REQUIRED = {
    COURSE_FILE: "every package has a course.toml at its top level with the course's code and title",
    MODULE_FILE: 'every module folder has a module.toml with at least `title = "..."`',
}


def _position_then_name(path: str) -> tuple[int, str]:
    match = _NUMBERED_NAME.match(path.rsplit("/", 1)[-1])
    return (int(match["position"]) if match else 0, path)


def dependency_cycles(concepts: tuple[ConceptSpec, ...]) -> list[list[str]]:
    """Each cycle among concept dependencies once, as slugs from a concept back to itself."""
    depends_on = {concept.slug: [dependency.concept for dependency in concept.depends_on] for concept in concepts}
    finished: set[str] = set()
    cycles: list[list[str]] = []
    for start in depends_on:
        if start in finished:
            continue
        # Iterative depth-first search, so a long dependency chain cannot exhaust the recursion limit.
        trail: list[str] = [start]
        on_trail = {start}
        pending: list[Iterator[str]] = [iter(depends_on[start])]
        while pending:
            next_slug = next(pending[-1], None)
            if next_slug is None:
                pending.pop()
                finished.add(trail[-1])
                on_trail.discard(trail.pop())
            elif next_slug in on_trail:
                cycles.append([*trail[trail.index(next_slug) :], next_slug])
            elif next_slug in depends_on and next_slug not in finished:
                trail.append(next_slug)
                on_trail.add(next_slug)
                pending.append(iter(depends_on[next_slug]))
    return cycles
