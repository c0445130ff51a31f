"""The complete example in docs/course-format.md is a package that loads."""

from __future__ import annotations

import re
from pathlib import Path

from bot.services.coursepack import QuestionType, Visibility, load_package
from tests.services.coursepack.package_files import write_folder

FORMAT_DOC = Path(__file__).parents[3] / "docs" / "course-format.md"
EXAMPLE_FILE = re.compile(r"^`(?P<path>[^`]+)`:\n\n(?P<fence>`{3,4})\w*\n(?P<content>.*?)\n(?P=fence)$", re.M | re.S)


def test_the_complete_small_package_in_the_format_doc_loads(tmp_path: Path) -> None:
    example = FORMAT_DOC.read_text(encoding="utf-8").split("## A complete small package", 1)[1]
    files = {match["path"]: match["content"] + "\n" for match in EXAMPLE_FILE.finditer(example)}
    assert len(files) == 7

    package = load_package(write_folder(tmp_path / "example", files))

    assert [cohort.visibility for cohort in package.cohorts] == [Visibility.PUBLIC, Visibility.INVITE_ONLY]
    assert [item.slug for item in package.modules[0].items] == ["variables", "loops", "check", "extra-practice"]
    assert package.quizzes[1].questions[0].type == QuestionType.MULTIPLE_CHOICE
