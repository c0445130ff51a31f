"""Aiken files become multiple-choice quizzes; mistakes are reported on the line to fix."""

from __future__ import annotations

from bot.services.coursepack import QuestionType
from bot.services.coursepack.aiken import parse_aiken

FILE = "02-data/04-practice.aiken.txt"

TWO_QUESTIONS = """\
What does len("abc") return?
A. 2
B) 3
C. "abc"
ANSWER: B

Which keyword defines a function?
A. func
B. def
ANSWER: b
"""


def test_questions_options_and_answers_are_read_in_order() -> None:
    questions, problems = parse_aiken(TWO_QUESTIONS, FILE)
    assert problems == []
    assert [question.text for question in questions] == [
        'What does len("abc") return?',
        "Which keyword defines a function?",
    ]
    assert questions[0].type == QuestionType.MULTIPLE_CHOICE
    assert questions[0].options == ("2", "3", '"abc"')
    assert [question.answer for question in questions] == [(1,), (1,)]


def test_an_answer_letter_with_no_such_option_is_reported_on_the_answer_line() -> None:
    _, problems = parse_aiken(TWO_QUESTIONS.replace("ANSWER: B\n", "ANSWER: E\n"), FILE)
    assert [(problem.file, problem.line) for problem in problems] == [(FILE, 5)]
    assert "`ANSWER: E` names no option; the options are `A` to `C`" in problems[0].message


def test_a_question_without_an_answer_line_is_reported_and_the_next_question_still_read() -> None:
    text = "First?\nA. yes\nB. no\n\nSecond?\nA. yes\nB. no\nANSWER: A\n"
    questions, problems = parse_aiken(text, FILE)
    assert [question.text for question in questions] == ["Second?"]
    assert [(problem.line, "no `ANSWER: <letter>` line" in problem.message) for problem in problems] == [(1, True)]


def test_options_out_of_alphabetical_order_are_reported() -> None:
    _, problems = parse_aiken("Pick one\nA. x\nC. y\nANSWER: A\n", FILE)
    assert [(problem.line, problem.message) for problem in problems] == [(3, "option `C` should be labelled `B.`")]


def test_a_question_with_a_single_option_is_reported() -> None:
    _, problems = parse_aiken("Only one?\nA. yes\nANSWER: A\n", FILE)
    assert problems[0].line == 1
    assert "`options` must be at least 2" in problems[0].message


def test_a_missing_final_answer_is_reported() -> None:
    _, problems = parse_aiken("Last?\nA. yes\nB. no\n", FILE)
    assert [problem.line for problem in problems] == [1]
