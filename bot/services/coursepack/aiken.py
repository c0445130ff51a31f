"""Aiken question files (`*.aiken.txt`): multiple-choice questions in plain text.

    What does `len("abc")` return?
    A. 2
    B) 3
    C. "abc"
    ANSWER: B

A question is its first line (lines before the first option continue it), then options labelled
`A.` or `A)` in alphabetical order, then `ANSWER: <letter>`. Blank lines between questions are optional.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from pydantic import ValidationError

from bot.services.coursepack.model import QuestionSpec, QuestionType
from bot.services.coursepack.problems import Problem, problems_from_validation_error

_OPTION = re.compile(r"^([A-Z])[.)]\s+(.*)$")
_ANSWER = re.compile(r"^ANSWER:\s*(.*)$", re.IGNORECASE)


@dataclass(slots=True)
class _OpenQuestion:
    line: int
    text: str
    options: list[str] = field(default_factory=list)


def parse_aiken(text: str, file: str, concepts: Collection[str] = ()) -> tuple[list[QuestionSpec], list[Problem]]:
    """The questions of an Aiken file in order, and every problem found with its line. Questions with
    problems are left out of the list. `concepts` is taken so both question-file formats are read
    alike; Aiken has no categories, so its questions get no concept."""
    questions: list[QuestionSpec] = []
    problems: list[Problem] = []
    question: _OpenQuestion | None = None
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line:
            continue
        if question is None:
            if _ANSWER.match(line):
                problems.append(Problem(file, number, "`ANSWER:` line without a question and options before it"))
            else:
                question = _OpenQuestion(number, line)
            continue
        option = _OPTION.match(line)
        answer = _ANSWER.match(line)
        if option:
            expected_label = chr(ord("A") + len(question.options))
            if option[1] != expected_label:
                problems.append(Problem(file, number, f"option `{option[1]}` should be labelled `{expected_label}.`"))
            question.options.append(option[2].strip())
        elif answer:
            finished = _finish(question, answer[1].strip(), file, number, problems)
            if finished is not None:
                questions.append(finished)
            question = None
        elif not question.options:
            question.text += "\n" + line
        else:
            problems.append(Problem(file, question.line, "question has no `ANSWER: <letter>` line after its options"))
            question = _OpenQuestion(number, line)
    if question is not None:
        problems.append(Problem(file, question.line, "question has no `ANSWER: <letter>` line after its options"))
    return questions, problems


def _finish(
    question: _OpenQuestion, letter: str, file: str, answer_line: int, problems: list[Problem]
) -> QuestionSpec | None:
    labels = [chr(ord("A") + index) for index in range(len(question.options))]
    if letter.upper() not in labels:
        choices = f"`{labels[0]}` to `{labels[-1]}`" if labels else "none: the question has no options"
        problems.append(Problem(file, answer_line, f"`ANSWER: {letter}` names no option; the options are {choices}"))
        return None
    try:
        return QuestionSpec(
            type=QuestionType.MULTIPLE_CHOICE,
            text=question.text,
            options=tuple(question.options),
            answer=(labels.index(letter.upper()),),
        )
    except ValidationError as error:
        problems.extend(problems_from_validation_error(error, file, lambda _path: question.line))
        return None
