"""Course packages: the folder (or `.zip`) format instructors author courses in.

`load_package` reads and validates one into a `CoursePackage` (`load_zip_bytes` an upload held in
memory), raising `PackageInvalid` with every problem found; `write_package` and `write_zip` write one
back out (`zip_bytes` in memory, for a download). No database and no Discord here: importing a package
into a guild is the content service's job. The format is described in docs/course-format.md.
"""

from bot.services.coursepack.archive import DEFAULT_LIMITS, PackageLimits, size_text
from bot.services.coursepack.loader import load_package, load_zip_bytes, load_zip_report
from bot.services.coursepack.model import (
    CohortSpec,
    ConceptDependency,
    ConceptSpec,
    CoursePackage,
    DependencyStrength,
    FeedbackTiming,
    LessonSpec,
    Level,
    ModuleItem,
    ModuleSpec,
    QuestionSpec,
    QuestionType,
    QuizSpec,
    Visibility,
)
from bot.services.coursepack.problems import PackageInvalid, Problem
from bot.services.coursepack.writer import render_package_files, write_package, write_zip, zip_bytes

__all__ = [
    "DEFAULT_LIMITS",
    "CohortSpec",
    "ConceptDependency",
    "ConceptSpec",
    "CoursePackage",
    "DependencyStrength",
    "FeedbackTiming",
    "LessonSpec",
    "Level",
    "ModuleItem",
    "ModuleSpec",
    "PackageInvalid",
    "PackageLimits",
    "Problem",
    "QuestionSpec",
    "QuestionType",
    "QuizSpec",
    "Visibility",
    "load_package",
    "load_zip_bytes",
    "load_zip_report",
    "render_package_files",
    "size_text",
    "write_package",
    "write_zip",
    "zip_bytes",
]
