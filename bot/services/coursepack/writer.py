"""Writing a `CoursePackage` back out in the folder format: as a folder, a `.zip` file, or a `.zip`'s bytes.

What is written loads back equal to the package that was written. Quizzes read from GIFT or Aiken
files are written as `.quiz.toml`, and files are renumbered 01, 02, ... in package order.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.services.coursepack.loader import CONCEPTS_FILE, COURSE_FILE, FRONT_MATTER_FENCE, MODULE_FILE
from bot.services.coursepack.model import CoursePackage, LessonSpec, QuestionSpec, QuestionType, QuizSpec
from bot.services.coursepack.toml_writer import dumps_toml


def write_package(package: CoursePackage, out: Path) -> Path:
    """Write `package` as a folder at `out` (created if needed) and return `out`.

    Raises FileExistsError if `out` already holds files: leftovers from an older export would be
    read as part of this one.
    """
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; write the package to a new folder")
    for relative, content in render_package_files(package).items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return out


def write_zip(package: CoursePackage, out: Path) -> Path:
    """Write `package` as a `.zip` at `out` (replacing any file there), files at the zip's root; returns `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(zip_bytes(package))
    return out


def zip_bytes(package: CoursePackage) -> bytes:
    """`package` as the bytes of a `.zip`, files at the zip's root (a download, built in memory)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative, content in render_package_files(package).items():
            archive.writestr(relative, content)
    return buffer.getvalue()


def render_package_files(package: CoursePackage) -> dict[str, bytes]:
    """The package's files by relative path, UTF-8 encoded, as `write_package` would write them."""
    files = {COURSE_FILE: _course_toml(package)}
    if package.concepts:
        files[CONCEPTS_FILE] = dumps_toml({"concepts": [_dump(concept) for concept in package.concepts]})
    module_width = _number_width(len(package.modules))
    for module_number, module in enumerate(package.modules, start=1):
        folder = f"{module_number:0{module_width}d}-{module.slug}"
        files[f"{folder}/{MODULE_FILE}"] = dumps_toml(_dump(module, exclude={"slug", "items"}))
        item_width = _number_width(len(module.items))
        for item_number, item in enumerate(module.items, start=1):
            prefix = f"{folder}/{item_number:0{item_width}d}-{item.slug}"
            if isinstance(item, LessonSpec):
                files[f"{prefix}.md"] = _lesson_markdown(item)
            else:
                files[f"{prefix}.quiz.toml"] = _quiz_toml(item)
    return {path: text.encode("utf-8") for path, text in files.items()}


def _course_toml(package: CoursePackage) -> str:
    # Course and cohort settings are written out even at their defaults: they are the ones people look for.
    course = package.model_dump(exclude={"concepts", "modules", "cohorts"}, exclude_none=True)
    course["cohorts"] = [cohort.model_dump(exclude_none=True) for cohort in package.cohorts]
    return dumps_toml(course)


def _lesson_markdown(lesson: LessonSpec) -> str:
    # Single-line strings only: a line of the front matter must never read as the closing `+++`.
    front_matter = dumps_toml(_dump(lesson, exclude={"kind", "slug", "body"}), multiline_strings=False)
    return f"{FRONT_MATTER_FENCE}\n{front_matter}{FRONT_MATTER_FENCE}\n\n{lesson.body}\n"


def _quiz_toml(quiz: QuizSpec) -> str:
    document = _dump(quiz, exclude={"kind", "slug", "questions"})
    document["questions"] = [_question_table(question) for question in quiz.questions]
    return dumps_toml(document)


def _question_table(question: QuestionSpec) -> dict[str, Any]:
    """The question with its answer given as option text, which reads better than indices."""
    table = _dump(question)
    right_options = [question.options[index] for index in question.answer]
    table["answer"] = right_options if question.type == QuestionType.MULTI_SELECT else right_options[0]
    return table


def _dump(model: BaseModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """The model's fields that differ from their defaults, which keeps exported files short."""
    return model.model_dump(exclude=exclude, exclude_none=True, exclude_defaults=True)


def _number_width(count: int) -> int:
    return max(2, len(str(count)))
