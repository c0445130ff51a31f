"""GIFT files become quizzes; question types Coursebot cannot ask are reported on their line."""

from __future__ import annotations

import pytest

from bot.services.coursepack import QuestionType
from bot.services.coursepack.gift import parse_gift

FILE = "01-basics/03-check.gift"


def test_multiple_choice_keeps_option_order_and_the_right_answers_feedback_as_explanation() -> None:
    questions, problems = parse_gift("::Q1:: Who designed Python? {~Linus#No. =Guido#Yes, in 1991. ~Ada}", FILE)
    assert problems == []
    [question] = questions
    assert question.type == QuestionType.MULTIPLE_CHOICE
    assert question.text == "Who designed Python?"
    assert question.options == ("Linus", "Guido", "Ada")
    assert question.answer == (1,)
    assert question.explanation == "Yes, in 1991."


@pytest.mark.parametrize(
    ("block", "answer"),
    [("{T}", (0,)), ("{TRUE}", (0,)), ("{F}", (1,)), ("{false}", (1,))],
)
def test_true_false_in_every_spelling(block: str, answer: tuple[int, ...]) -> None:
    questions, problems = parse_gift(f"Python is interpreted. {block}", FILE)
    assert problems == []
    assert questions[0].type == QuestionType.TRUE_FALSE
    assert questions[0].options == ("True", "False")
    assert questions[0].answer == answer


def test_true_false_explanation_is_the_feedback_for_the_right_answer() -> None:
    questions, _ = parse_gift("2 + 2 is 5. {F#Wrong: it is 4.#Right: 2 + 2 is 4.}", FILE)
    assert questions[0].explanation == "Right: 2 + 2 is 4."


def test_percentage_weights_make_a_multi_select_question_right_where_weights_are_positive() -> None:
    text = "Which are sequences? {~%50%list ~%50%str ~%-100%int ####Lists and strings can be indexed.}"
    questions, problems = parse_gift(text, FILE)
    assert problems == []
    assert questions[0].type == QuestionType.MULTI_SELECT
    assert questions[0].options == ("list", "str", "int")
    assert questions[0].answer == (0, 1)
    assert questions[0].explanation == "Lists and strings can be indexed."


def test_escaped_special_characters_are_literal_text() -> None:
    text = r"In Python\: what does `d \= \{\}` create? {=an empty dict\, \~ \# ~a set}"
    questions, problems = parse_gift(text, FILE)
    assert problems == []
    assert questions[0].text == "In Python: what does `d = {}` create?"
    assert questions[0].options == (r"an empty dict\, ~ #", "a set")


def test_comments_titles_and_multi_line_answer_blocks_are_understood() -> None:
    text = """// Module 1 check
$CATEGORY: python/basics

::Loops::[markdown] How many times does `range(3)` loop?
{
    =3 # 0, 1 and 2.
    ~4
}

// between questions
::Strings:: Strings are mutable. {F}
"""
    questions, problems = parse_gift(text, FILE)
    assert problems == []
    assert [question.text for question in questions] == ["How many times does `range(3)` loop?", "Strings are mutable."]
    assert questions[0].options == ("3", "4")
    assert questions[0].explanation == "0, 1 and 2."


def test_a_missing_word_question_gets_a_blank_where_the_answers_were() -> None:
    questions, _ = parse_gift("Python was created by {=Guido ~Linus} van Rossum.", FILE)
    assert questions[0].text == "Python was created by _____ van Rossum."


@pytest.mark.parametrize(
    ("question", "says"),
    [
        ("Who wrote Python? {=Guido =Guido van Rossum}", "short-answer questions"),
        ("Match them. {=Python -> Guido =Perl -> Larry}", "matching questions"),
        ("What is 2 + 2? {#4}", "numerical questions"),
        ("Describe a loop. {}", "essay questions"),
        ("Just some text for the reader.", "is a description, not a question"),
    ],
)
def test_unsupported_question_types_are_reported_on_their_line_not_dropped(question: str, says: str) -> None:
    text = f"First question is fine. {{T}}\n\n// next one is not\n{question}\n\nLast one is fine. {{F}}\n"
    questions, problems = parse_gift(text, FILE)
    assert len(questions) == 2
    assert [(problem.file, problem.line) for problem in problems] == [(FILE, 4)]
    assert says in problems[0].message


def test_a_choice_question_without_a_right_answer_is_reported() -> None:
    _, problems = parse_gift("Pick one. {~a ~b}", FILE)
    assert "no answer is marked right" in problems[0].message


def test_several_equals_answers_in_a_choice_question_are_reported() -> None:
    _, problems = parse_gift("Pick one. {=a =b ~c}", FILE)
    assert "2 answers are marked right" in problems[0].message


def test_an_answer_block_that_is_never_closed_is_reported_on_the_question_line() -> None:
    _, problems = parse_gift("Fine. {T}\n\nBroken {=a ~b\n", FILE)
    assert [(problem.line, "never closed" in problem.message) for problem in problems] == [(3, True)]


def test_repeated_options_are_reported_with_the_question_line() -> None:
    _, problems = parse_gift("\n\nPick one. {=a ~a}", FILE)
    assert problems[0].line == 3
    assert "must differ" in problems[0].message
