"""Small course packages built in a test's tmp_path, and ways to look at why one was rejected."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from bot.services.coursepack import PackageInvalid, Problem, load_package
from bot.services.coursepack.archive import PackageLimits

COURSE = "course.toml"
CONCEPTS = "concepts.toml"
MODULE = "01-basics/module.toml"
LESSON = "01-basics/01-variables.md"
QUIZ = "01-basics/02-check.quiz.toml"

# Line numbers matter: tests point at them. Each file's first line is line 1.
MINIMAL_PACKAGE: dict[str, str] = {
    COURSE: """\
code = "PY101"
title = "Python Basics"
level = "INTRODUCTORY"
passing_score = 70
prerequisites = []

[[cohorts]]
term_name = "Spring 2026"
starts_at = 2026-02-01T09:00:00Z
enrollment_start = 2026-01-01T00:00:00Z
enrollment_end = 2026-02-15T00:00:00Z
visibility = "PUBLIC"
""",
    CONCEPTS: """\
[[concepts]]
slug = "variables"
name = "Variables"

[[concepts]]
slug = "loops"
name = "Loops"
depends_on = [{ concept = "variables", strength = "REQUIRED" }]
""",
    MODULE: 'title = "Basics"\n',
    LESSON: """\
+++
title = "Variables"
objectives = ["Assign a value"]
estimated_minutes = 5
concepts = ["variables"]
+++

Use `=` to name a value.
""",
    QUIZ: """\
title = "Check"

[[questions]]
type = "MULTIPLE_CHOICE"
text = "What is 2 + 2?"
options = ["3", "4"]
answer = "4"
concept = "variables"

[[questions]]
type = "TRUE_FALSE"
text = "Loops repeat code."
answer = true
concept = "loops"
""",
}


def package_files(changes: Mapping[str, str | bytes | None] | None = None) -> dict[str, str | bytes]:
    """The minimal valid package with `changes` applied: a value replaces a file, None removes it."""
    files: dict[str, str | bytes] = dict(MINIMAL_PACKAGE)
    for path, content in (changes or {}).items():
        if content is None:
            del files[path]
        else:
            files[path] = content
    return files


def edited(path: str, old: str, new: str) -> dict[str, str | bytes]:
    """The minimal package with `old` replaced by `new` in one file (which must contain `old`)."""
    original = MINIMAL_PACKAGE[path]
    assert old in original, f"{old!r} is not in {path}"
    return package_files({path: original.replace(old, new)})


def write_folder(root: Path, files: Mapping[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def write_zip_file(
    path: Path, members: Iterable[tuple[str | zipfile.ZipInfo, str | bytes]], *, compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return path


def rejection(path: Path, *, limits: PackageLimits | None = None) -> PackageInvalid:
    """The error loading `path` raises; fails the test if it loads."""
    with pytest.raises(PackageInvalid) as caught:
        load_package(path) if limits is None else load_package(path, limits=limits)
    return caught.value


def assert_reported(error: PackageInvalid, file: str, line: int | None, says: str) -> Problem:
    """Exactly one problem of `error` is in `file` at `line` and contains `says`, and the message a
    user sees shows it with its place."""
    matches = [p for p in error.problems if p.file == file and p.line == line and says in p.message]
    assert len(matches) == 1, f"expected one problem at {file}:{line} saying {says!r}, got:\n{error}"
    place = file if line is None else f"{file}:{line}"
    assert f"{place}: " in str(error)
    return matches[0]


def concepts_toml(depends_on: Mapping[str, Iterable[str]]) -> str:
    """A concepts.toml with one concept per key of `depends_on`, each depending on the listed slugs."""
    entries = []
    for slug, dependencies in depends_on.items():
        listed = ", ".join(f'{{ concept = "{dependency}" }}' for dependency in dependencies)
        entries.append(f'[[concepts]]\nslug = "{slug}"\nname = "{slug}"\ndepends_on = [{listed}]\n')
    return "\n".join(entries)


def quiz_toml(options: Iterable[str], *, question_type: str = "MULTIPLE_CHOICE") -> str:
    """A one-question quiz whose question (on line 3) has `options` (on line 6), the first one right."""
    options = list(options)
    listed = ", ".join(f'"{option}"' for option in options)
    return (
        f'title = "Check"\n\n[[questions]]\ntype = "{question_type}"\ntext = "Pick one"\n'
        f'options = [{listed}]\nanswer = "{options[0]}"\n'
    )
