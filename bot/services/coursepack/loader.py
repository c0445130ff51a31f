"""Loading a course package (a folder or a `.zip`) into a `CoursePackage`, reporting every problem.

Reading order, which is also the order to read this module in:
1. `read_package_files` brings every file into memory (zip safety lives there);
2. `course.toml`, then `concepts.toml`, so lessons and questions can be checked against the concepts;
3. each numbered module folder: its `module.toml`, then its numbered items (lessons, quizzes).
Nothing stops at the first problem: each is recorded with its file and line, and `PackageInvalid`
lists them at the end (the first `MAX_PROBLEMS`, and how many more). Every step is linear in the
package's size, whatever the package holds: TOML is capped in size and nesting before it is parsed,
unknown keys and over-long lists are set aside before pydantic sees them (so a million of them cost
one pass, not a million error objects), and concept cycles are found once per tangle. See
docs/course-format.md for the format itself and its limits.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

from annotated_types import MaxLen
from pydantic import BaseModel, Field, ValidationError

from bot.services.coursepack.aiken import parse_aiken
from bot.services.coursepack.archive import (
    DEFAULT_LIMITS,
    PackageFiles,
    PackageLimits,
    read_package_files,
    read_zip_bytes,
)
from bot.services.coursepack.gift import parse_gift
from bot.services.coursepack.model import (
    MAX_CONCEPTS,
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
from bot.services.coursepack.problems import (
    KeyPath,
    Problem,
    ProblemLog,
    count_validation_problems,
    problems_from_validation_error,
    too_many_message,
    unknown_key_message,
)
from bot.services.coursepack.toml_source import TomlDocument, parse_toml

ModelT = TypeVar("ModelT", bound=BaseModel)
QuestionFileParser = Callable[[str, str, Collection[str]], tuple[list[QuestionSpec], list[Problem]]]
"""(text, file, known concept slugs) -> questions, and problems: errors and warnings (`Problem.is_warning`)."""

COURSE_FILE = "course.toml"
CONCEPTS_FILE = "concepts.toml"
MODULE_FILE = "module.toml"
FRONT_MATTER_FENCE = "+++"

_NUMBERED_NAME = re.compile(r"^(?P<position>\d+)-(?P<slug>.+)$")
_SHOWN_CYCLE = 8  # concepts of a cycle spelled out in its problem; a longer one is cut with `…`
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


@dataclass(frozen=True, slots=True)
class PackageReport:
    """A valid package as `load_package` returns it, with what `coursebot course validate` shows about it."""

    package: CoursePackage
    item_files: Mapping[str, str]
    """The package path each lesson and quiz was read from, by slug."""
    warnings: tuple[Problem, ...]
    """What was read in the closest form Coursebot has (GIFT partial credit, say), in file and line order."""


def load_package_report(path: Path, *, limits: PackageLimits = DEFAULT_LIMITS) -> PackageReport:
    """`load_package`, and where each item came from and the warnings; raises `PackageInvalid` the same way."""
    return _report(_PackageLoader(read_package_files(path, limits)))


def load_zip_report(filename: str, data: bytes, *, limits: PackageLimits = DEFAULT_LIMITS) -> PackageReport:
    """`load_zip_bytes`, with where each item came from and the warnings (what an import tells the author)."""
    return _report(_PackageLoader(read_zip_bytes(filename, data, limits)))


def _report(loader: _PackageLoader) -> PackageReport:
    package = loader.load()
    warnings = sorted(loader.warnings, key=lambda problem: (problem.file, problem.line or 0))
    return PackageReport(package, dict(loader.item_file_by_slug), tuple(warnings))


def load_zip_bytes(filename: str, data: bytes, *, limits: PackageLimits = DEFAULT_LIMITS) -> CoursePackage:
    """The course package in a `.zip` held in memory (an upload), as `load_package` reads one; problems
    with the zip itself name `filename`. Nothing is written to disk."""
    return _PackageLoader(read_zip_bytes(filename, data, limits)).load()


class _ConceptsFile(PackageModel):
    concepts: tuple[ConceptSpec, ...] = Field(default=(), max_length=MAX_CONCEPTS)


class _PackageLoader:
    """Reads one package's files, recording problems rather than stopping at the first."""

    def __init__(self, files: PackageFiles) -> None:
        self.files = files
        self.log = ProblemLog()
        self.warnings: list[Problem] = []  # they do not stop the package loading
        self.concept_slugs: set[str] | None = None  # None: concepts.toml is unreadable, skip reference checks
        self.module_folder_by_slug: dict[str, str] = {}
        self.item_file_by_slug: dict[str, str] = {}

    def load(self) -> CoursePackage:
        course = self._read_course()
        concepts = self._read_concepts()
        modules = self._read_modules()
        if course is None or self.log:
            raise self.log.error()
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
            listed = Counter(dependency.concept for dependency in concept.depends_on)
            for dependency in sorted(listed):
                if dependency not in slugs:
                    message = f"concept `{concept.slug}` depends on `{dependency}`, which is not a concept here"
                    self._report(CONCEPTS_FILE, line, message)
                if listed[dependency] > 1:
                    self._report(CONCEPTS_FILE, line, f"concept `{concept.slug}` lists `{dependency}` more than once")
        if len(slugs) < len(concepts):
            return  # with a slug used twice, which dependencies belong to it is ambiguous
        index_by_slug = {concept.slug: index for index, concept in enumerate(concepts)}
        for cycle, tangled in dependency_cycles(concepts):
            line = document.line_of(("concepts", index_by_slug[cycle[0]], "depends_on"))
            self._report(CONCEPTS_FILE, line, _cycle_message(cycle, tangled))

    # --- modules and their items -------------------------------------------------------------

    def _read_modules(self) -> tuple[ModuleSpec, ...]:
        files_by_folder: dict[str, list[str]] = defaultdict(list)
        for path in self.files:
            top, _, rest = path.partition("/")
            if rest and _NUMBERED_NAME.match(top):
                files_by_folder[top].append(path)
            elif not rest and path.endswith(_ITEM_SUFFIXES) and _NUMBERED_NAME.match(path):
                self._report(path, None, "lessons and quizzes belong in a numbered module folder such as 01-basics/")
        if not files_by_folder:
            message = "the course has no modules: add a numbered folder such as 01-getting-started/ with a module.toml"
            self._report(COURSE_FILE, None, message)
        folders = sorted(files_by_folder, key=_position_then_name)
        modules = (self._read_module(folder, files_by_folder[folder]) for folder in folders)
        return tuple(module for module in modules if module is not None)

    def _read_module(self, folder: str, paths: list[str]) -> ModuleSpec | None:
        slug = self._slug_from_name(folder, folder)
        if slug in self.module_folder_by_slug:
            other = self.module_folder_by_slug[slug]
            self._report(folder, None, f"module slug `{slug}` is also used by {other}/; module slugs must be unique")
        elif slug is not None:
            self.module_folder_by_slug[slug] = folder
        document = self._read_toml(f"{folder}/{MODULE_FILE}")
        items = self._read_items(folder, paths)
        if slug is None or document is None:
            return None
        return self._validate(ModuleSpec, document, derived={"slug": slug, "items": items})

    def _read_items(self, folder: str, paths: list[str]) -> tuple[ModuleItem, ...]:
        item_files: list[str] = []
        for path in paths:
            name = path.removeprefix(f"{folder}/")
            if name == MODULE_FILE or "/" in name:
                continue  # the module's settings, or not directly in this module; other files (images) are assets
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
        questions, problems = parse(text, path, self.concept_slugs or ())
        errors = [problem for problem in problems if not problem.is_warning]
        self.warnings += [problem for problem in problems if problem.is_warning]
        for problem in errors:
            self.log.add(problem)
        if not questions and not errors:
            self._report(path, None, "the quiz has no questions; add at least one")
        if errors or not questions:
            return None
        title = slug.replace("-", " ").replace("_", " ").capitalize()
        try:
            return QuizSpec(slug=slug, title=title, questions=tuple(questions))
        except ValidationError as error:  # more questions than a quiz may hold
            for problem in problems_from_validation_error(error, path, lambda _path: None):
                self.log.add(problem)
            return None

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
        complaints about them are dropped here; the document may not set them itself. Unknown keys and
        lists longer than the model allows are reported here and left out of what pydantic validates.
        """
        for key in derived.keys() & document.data.keys():
            message = f"`{key}` cannot be set in this file: {_DERIVED_KEY_SOURCES[key]}"
            self._report(document.file, document.line_of((key,)), message)
        set_aside: set[KeyPath] = {(key,) for key in derived}

        def report(location: KeyPath, message: Callable[[], str]) -> None:
            if self.log.is_full:
                self.log.omitted += 1  # only counted: wording and placing it would be wasted
            else:
                self._report(document.file, document.line_of(location), message())

        data = _within_model(model, document.data, (), report, set_aside)
        try:
            return model.model_validate({**data, **derived})
        except ValidationError as error:
            if self.log.is_full:  # only counted from here on: wording each problem would be wasted
                self.log.omitted += count_validation_problems(error, ignore=set_aside)
            else:
                for problem in problems_from_validation_error(error, document.file, document.line_of, ignore=set_aside):
                    self.log.add(problem)
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
        self.log.add(Problem(path, line, message))


_WHY_REQUIRED = {
    COURSE_FILE: "every package has a course.toml at its top level with the course's code and title",
    MODULE_FILE: 'every module folder has a module.toml with at least `title = "..."`',
}


def _position_then_name(path: str) -> tuple[int, str, str]:
    match = _NUMBERED_NAME.match(path.rsplit("/", 1)[-1])
    digits = match["position"].lstrip("0") if match else ""
    # Compared as digit strings, shorter first: `int()` of a 5,000-digit name would raise.
    return (len(digits), digits, path)


def _within_model(
    model: type[BaseModel],
    data: dict[str, Any],
    at: KeyPath,
    report: Callable[[KeyPath, Callable[[], str]], None],
    dropped: set[KeyPath],
) -> dict[str, Any]:
    """`data` without the keys `model` does not have and without lists longer than it allows, each
    reported at its key path (with its message made only if needed); the paths of dropped lists are added
    to `dropped`, as pydantic would complain of their absence. Tables in lists of models are trimmed alike."""
    kept: dict[str, Any] = {}
    for key, value in data.items():
        location = (*at, key)
        field = model.model_fields.get(key)
        if field is None:
            report(location, partial(unknown_key_message, location))
            continue
        if isinstance(value, list):
            limit = min((rule.max_length for rule in field.metadata if isinstance(rule, MaxLen)), default=None)
            if limit is not None and len(value) > limit:
                report(location, partial(too_many_message, location, len(value), limit))
                dropped.add(location)
                continue
            nested = _list_item_model(field.annotation)
            if nested is not None:
                value = [
                    _within_model(nested, entry, (*location, index), report, dropped)
                    if isinstance(entry, dict)
                    else entry
                    for index, entry in enumerate(value)
                ]
        kept[key] = value
    return kept


def _list_item_model(annotation: Any) -> type[BaseModel] | None:
    """`QuestionSpec` for `tuple[QuestionSpec, ...]`; None for a list of anything but models."""
    if get_origin(annotation) is not tuple:
        return None
    item = get_args(annotation)[0]
    return item if isinstance(item, type) and issubclass(item, BaseModel) else None


def dependency_cycles(concepts: tuple[ConceptSpec, ...]) -> list[tuple[list[str], int]]:
    """One cycle for each tangle of concepts that depend on each other (a strongly connected group),
    as slugs from a concept back to itself, with the number of concepts in the tangle. Tangles come in
    file order of their first concept; the cycle is a shortest one through that concept.

    Linear in concepts and dependencies (Tarjan's algorithm, iterative so a long chain cannot exhaust
    the recursion limit): a package built to have millions of cycles still yields one per tangle.
    """
    depends_on = {concept.slug: [dependency.concept for dependency in concept.depends_on] for concept in concepts}
    tangles = [
        tangle for tangle in _strongly_connected(depends_on) if len(tangle) > 1 or tangle[0] in depends_on[tangle[0]]
    ]
    order = {slug: index for index, slug in enumerate(depends_on)}
    cycles = []
    for tangle in tangles:
        start = min(tangle, key=order.__getitem__)
        cycles.append((_shortest_cycle(start, depends_on, set(tangle)), len(tangle)))
    return sorted(cycles, key=lambda found: order[found[0][0]])


def _strongly_connected(depends_on: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected groups of the dependency graph (Tarjan); edges to unknown slugs ignored."""
    index_of: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in depends_on:
        if root in index_of:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            slug, next_edge = work.pop()
            if next_edge == 0:
                index_of[slug] = lowest[slug] = len(index_of)
                stack.append(slug)
                on_stack.add(slug)
            edges = depends_on[slug]
            while next_edge < len(edges):
                target = edges[next_edge]
                next_edge += 1
                if target not in depends_on:
                    continue
                if target not in index_of:
                    work.append((slug, next_edge))
                    work.append((target, 0))
                    break
                if target in on_stack:
                    lowest[slug] = min(lowest[slug], index_of[target])
            else:
                if lowest[slug] == index_of[slug]:
                    group: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == slug:
                            break
                    groups.append(group)
                if work:
                    parent = work[-1][0]
                    lowest[parent] = min(lowest[parent], lowest[slug])
    return groups


def _shortest_cycle(start: str, depends_on: dict[str, list[str]], tangle: set[str]) -> list[str]:
    """A shortest path from `start` back to itself inside its tangle (breadth-first)."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        slug = queue.popleft()
        for target in depends_on[slug]:
            if target == start:
                path = [slug]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target in tangle and target not in came_from:
                came_from[target] = slug
                queue.append(target)
    raise AssertionError(f"{start} is in a tangle, so a cycle leads back to it")


def _cycle_message(cycle: list[str], tangled: int) -> str:
    shown = cycle if len(cycle) <= _SHOWN_CYCLE + 1 else [*cycle[:_SHOWN_CYCLE], "…", cycle[-1]]
    message = f"concept dependencies form a cycle: {' → '.join(shown)}"
    if tangled > len(cycle) - 1:
        message += f" ({tangled:,} concepts are caught in cycles with it)"
    return message
