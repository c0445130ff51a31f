"""What `coursebot course validate` accepts from GIFT and Aiken files is exactly what import writes:
both read the one package the loader produces, and the database gives back the same questions."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.__main__ import course_validate
from bot.config import Settings
from bot.services.coursepack import QuestionType
from bot.services.coursepack.loader import PackageReport, load_package_report
from db.models import Question
from db.session import Database
from tests.services.course_fixtures import export_course, import_course, seed_people
from tests.services.coursepack.package_files import write_folder

BANKS = Path(__file__).parent / "gift_banks"
MODULE = "01-banks"

MIXED_GIFT = """\
$CATEGORY: $course$/top/People

::Partial:: Which is a mutable sequence? {=list ~%50%bytearray#Also mutable. ~tuple}

::Several:: Which are sequences? {~%50%list ~%50%str ~%-100%int ####Both can be indexed.}

::HTML::[html]<p>Is <code>None</code> falsy?</p>{T#It is.#Right: bool(None) is False.}
"""

AIKEN = """\
What does len("abc") return?
A. 2
B) 3
C. "abc"
ANSWER: B
"""


def question_bank_package(root: Path) -> Path:
    return write_folder(
        root,
        {
            "course.toml": 'code = "BANKS"\ntitle = "Question banks"\n',
            "concepts.toml": '[[concepts]]\nslug = "people"\nname = "People"\n\n'
            '[[concepts]]\nslug = "space"\nname = "Space"\n',
            f"{MODULE}/module.toml": 'title = "Banks"\n',
            f"{MODULE}/01-windows-bank.gift": (BANKS / "crlf_categories_without_blank_lines.gift").read_bytes(),
            f"{MODULE}/02-thirty.gift": (BANKS / "pkeir_thirty.gift").read_bytes(),
            f"{MODULE}/03-farming.gift": (BANKS / "pkeir_modern_farming.gift").read_bytes(),
            f"{MODULE}/04-mixed.gift": MIXED_GIFT,
            f"{MODULE}/05-practice.aiken.txt": AIKEN,
        },
    )


@pytest.fixture
def report(tmp_path: Path) -> PackageReport:
    return load_package_report(question_bank_package(tmp_path / "banks"))


def test_the_loader_reads_every_question_of_every_file_and_keeps_warnings_apart(report: PackageReport) -> None:
    counts = {report.item_files[quiz.slug]: len(quiz.questions) for quiz in report.package.quizzes}
    assert counts == {
        f"{MODULE}/01-windows-bank.gift": 13,
        f"{MODULE}/02-thirty.gift": 30,
        f"{MODULE}/03-farming.gift": 5,
        f"{MODULE}/04-mixed.gift": 3,
        f"{MODULE}/05-practice.aiken.txt": 1,
    }
    assert [(warning.file.removeprefix(f"{MODULE}/"), warning.line) for warning in report.warnings] == [
        ("01-windows-bank.gift", 12),
        ("01-windows-bank.gift", 27),
        ("01-windows-bank.gift", 27),
        ("01-windows-bank.gift", 43),
        ("01-windows-bank.gift", 81),
        ("01-windows-bank.gift", 98),
        ("03-farming.gift", 4),
        ("04-mixed.gift", 3),
    ]
    mixed = report.package.quizzes[3].questions
    assert [(question.type, question.answer, question.concept) for question in mixed] == [
        (QuestionType.MULTIPLE_CHOICE, (0,), "people"),
        (QuestionType.MULTI_SELECT, (0, 1), "people"),
        (QuestionType.TRUE_FALSE, (0,), "people"),
    ]


async def test_import_writes_exactly_the_questions_validation_accepted(
    database: Database, report: PackageReport
) -> None:
    await seed_people(database)

    await import_course(database, report.package)

    exported = await export_course(database, "BANKS")
    assert exported.quizzes == report.package.quizzes
    async with database.session_scope() as session:
        stored = Counter(await session.scalars(select(Question.question_type).where(Question.is_active)))
    validated = Counter(question.type for quiz in report.package.quizzes for question in quiz.questions)
    assert (
        stored
        == validated
        == {QuestionType.MULTIPLE_CHOICE: 50, QuestionType.MULTI_SELECT: 1, QuestionType.TRUE_FALSE: 1}
    )


async def test_course_validate_prints_what_each_question_file_yields_by_type_and_every_warning(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = question_bank_package(tmp_path / "banks")

    status = await course_validate(settings, argparse.Namespace(path=folder))

    output = capsys.readouterr().out.splitlines()
    assert status == 0
    assert output[:6] == [
        "BANKS · Question banks: 1 modules, 5 items, valid.",
        f"  {MODULE}/01-windows-bank.gift: 13 questions (13 multiple choice)",
        f"  {MODULE}/02-thirty.gift: 30 questions (30 multiple choice)",
        f"  {MODULE}/03-farming.gift: 5 questions (5 multiple choice)",
        f"  {MODULE}/04-mixed.gift: 3 questions (1 multiple choice, 1 multi-select, 1 true/false)",
        f"  {MODULE}/05-practice.aiken.txt: 1 question (1 multiple choice)",
    ]
    assert output[6].startswith("8 warning(s)")
    assert output[7].startswith(f"  {MODULE}/01-windows-bank.gift:12: warning: no blank line")
    assert output[-1].startswith(f"  {MODULE}/04-mixed.gift:3: warning: Moodle gives partial marks or penalties")
