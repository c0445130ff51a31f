"""Moodle GIFT question files (`*.gift`): the question types Coursebot can ask.

Supported: multiple choice (`{=right ~wrong}`), true/false (`{T}`, `{TRUE}`, `{F}`, `{FALSE}`), and
multiple answer with percentage weights (`{~%50%a ~%50%b ~%-100%c}`, which becomes MULTI_SELECT with
the positively weighted options right). Also: `::title::` (ignored, the text is the question),
`// comments`, `$CATEGORY:` lines (ignored), `[markdown]`-style format tags (dropped), escapes
`\\: \\~ \\= \\# \\{ \\} \\\\ \\n`, per-answer feedback `#...` and general feedback `####...`, and the
missing-word form (`The {=cat ~dog} sat.` asks "The _____ sat.").

The explanation is the general feedback, else the right answers' feedback, else for true/false the
only feedback given. Short answer, matching, numeric, essay and description questions are reported
as problems on their line, never skipped silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from bot.services.coursepack.model import QuestionSpec, QuestionType
from bot.services.coursepack.problems import KeyPath, Problem, problems_from_validation_error

_SUPPORTED = "Coursebot reads GIFT multiple choice, true/false and multiple answer (~%50%) questions"
_ESCAPABLE = ":~=#{}\\"
# Escaped characters are swapped for private-use placeholders before parsing, so `\{` can never
# open an answer block, and swapped back in the finished texts.
_PLACEHOLDERS = {char: chr(0xE000 + index) for index, char in enumerate(_ESCAPABLE + "n")}
_RESTORE = {placeholder: ("\n" if char == "n" else char) for char, placeholder in _PLACEHOLDERS.items()}
_FORMAT_TAG = re.compile(r"^\[(?:html|moodle|plain|markdown)\]\s*", re.IGNORECASE)
_TRUE_FALSE = re.compile(r"^(TRUE|FALSE|T|F)\s*(?:#(.*?))?\s*(?:#(.*))?$", re.IGNORECASE | re.DOTALL)
_CHOICE = re.compile(r"^([=~])\s*(?:%(-?\d+(?:\.\d+)?)%)?(.*?)(?:#(.*))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Block:
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class _Choice:
    """One `=right` or `~wrong` answer of a choice question."""

    text: str
    feedback: str
    marked_right: bool
    weight: float | None
    """The percentage of `~%50%text`; positive means right in a multiple-answer question."""


class _Rejected(Exception):
    """A question Coursebot cannot ask; the message says why, for the author."""


def parse_gift(text: str, file: str) -> tuple[list[QuestionSpec], list[Problem]]:
    """The questions of a GIFT file in order, and a problem (on the question's first line) for each
    question that could not be read. Questions with problems are left out of the list."""
    questions: list[QuestionSpec] = []
    problems: list[Problem] = []
    for block in _split_questions(_protect_escapes(text)):
        try:
            questions.append(_parse_question(block.text))
        except _Rejected as rejected:
            problems.append(Problem(file, block.line, str(rejected)))
        except ValidationError as error:
            problems.extend(problems_from_validation_error(error, file, _always(block.line)))
    return questions, problems


def _always(line: int) -> Callable[[KeyPath], int]:
    return lambda _path: line


def _protect_escapes(text: str) -> str:
    return re.sub(r"\\(.)", lambda match: _PLACEHOLDERS.get(match[1], match[0]), text)


def _restore(text: str) -> str:
    return "".join(_RESTORE.get(char, char) for char in text).strip()


def _split_questions(text: str) -> list[_Block]:
    """Questions are separated by blank lines; a blank line inside an open `{...}` does not count."""
    blocks: list[_Block] = []
    lines: list[str] = []
    first_line = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("//") or stripped.startswith("$CATEGORY:"):
            continue
        joined = "\n".join(lines)
        if not stripped and joined.count("{") <= joined.count("}"):
            if lines:
                blocks.append(_Block(first_line, joined))
            lines = []
            continue
        if not lines:
            first_line = number
        lines.append(line)
    if lines:
        blocks.append(_Block(first_line, "\n".join(lines)))
    return blocks


def _parse_question(block: str) -> QuestionSpec:
    text = block.strip()
    if text.startswith("::"):
        title_end = text.find("::", 2)
        if title_end < 0:
            raise _Rejected("the `::title::` is not closed with `::`")
        text = text[title_end + 2 :].strip()
    text = _FORMAT_TAG.sub("", text)
    opening = text.find("{")
    if opening < 0:
        raise _Rejected(f"text without an answer block `{{...}}` is a description, not a question; {_SUPPORTED}")
    closing = text.find("}", opening)
    if closing < 0:
        raise _Rejected("the answer block `{` is never closed with `}`")
    before, answers, after = text[:opening].strip(), text[opening + 1 : closing], text[closing + 1 :].strip()
    question_text = f"{before} _____ {after}" if after else before
    answers, _, general_feedback = answers.partition("####")
    fields = _answer_fields(answers.strip(), general_feedback)
    return QuestionSpec.model_validate({"text": _restore(question_text), **fields})


def _answer_fields(answers: str, general_feedback: str) -> dict[str, object]:
    """The type, options, answer and explanation that an answer block describes."""
    if not answers:
        raise _Rejected(f"essay questions (an empty `{{}}`) are not supported; {_SUPPORTED}")
    if answers.startswith("#"):
        raise _Rejected(f"numerical questions (`{{#...}}`) are not supported; {_SUPPORTED}")
    true_false = _TRUE_FALSE.match(answers)
    if true_false:
        is_true = true_false[1].upper().startswith("T")
        wrong_feedback, right_feedback = true_false[2] or "", true_false[3] or ""
        return {
            "type": QuestionType.TRUE_FALSE,
            "answer": is_true,
            "explanation": _restore(general_feedback or right_feedback or wrong_feedback),
        }
    if "->" in answers:
        raise _Rejected(f"matching questions (`a -> b`) are not supported; {_SUPPORTED}")
    leading_text, *raw_choices = re.split(r"(?=[=~])", answers)
    if leading_text.strip():
        raise _Rejected(f"unexpected text {_restore(leading_text)!r} before the first `=` or `~` answer")
    choices = [_parse_choice(raw_choice) for raw_choice in raw_choices]
    if all(choice.marked_right for choice in choices):
        raise _Rejected(f"short-answer questions (only `=` answers) are not supported; {_SUPPORTED}")
    is_weighted = any(choice.weight is not None and not choice.marked_right for choice in choices)
    right = [choice.marked_right or (choice.weight or 0) > 0 for choice in choices]
    if not is_weighted and sum(right) > 1:
        count = sum(right)
        raise _Rejected(f"{count} answers are marked right with `=`; for several right answers use `~%50%` weights")
    if not any(right):
        raise _Rejected("no answer is marked right: start the right answer with `=` (or give it a positive `~%50%`)")
    right_feedbacks = [choice.feedback for choice, is_right in zip(choices, right, strict=True) if is_right]
    return {
        "type": QuestionType.MULTI_SELECT if is_weighted else QuestionType.MULTIPLE_CHOICE,
        "options": [choice.text for choice in choices],
        "answer": [index for index, is_right in enumerate(right) if is_right],
        "explanation": _restore(general_feedback) or " ".join(feedback for feedback in right_feedbacks if feedback),
    }


def _parse_choice(raw_choice: str) -> _Choice:
    match = _CHOICE.match(raw_choice.strip())
    if match is None:
        raise _Rejected(f"cannot read the answer {_restore(raw_choice)!r}")
    marker, weight, text, feedback = match.groups()
    return _Choice(
        text=_restore(text),
        feedback=_restore(feedback or ""),
        marked_right=marker == "=",
        weight=float(weight) if weight else None,
    )
