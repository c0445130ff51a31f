"""GIFT files become quizzes as Moodle reads them; what Coursebot cannot ask is an error on its line,
and what it reads differently from Moodle is a warning on its line."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from bot.services.coursepack import Problem, QuestionType
from bot.services.coursepack.gift import parse_gift

FILE = "01-basics/03-check.gift"
FORMAT_DOC = Path(__file__).parents[3] / "docs" / "course-format.md"


def errors(problems: list[Problem]) -> list[Problem]:
    return [problem for problem in problems if not problem.is_warning]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [problem for problem in problems if problem.is_warning]


def test_multiple_choice_explains_with_the_right_answers_feedback_then_each_other_options() -> None:
    questions, problems = parse_gift("::Q1:: Who designed Python? {~Linus#No. =Guido#Yes, in 1991. ~Ada}", FILE)
    assert problems == []
    [question] = questions
    assert question.type == QuestionType.MULTIPLE_CHOICE
    assert question.text == "Who designed Python?"
    assert question.options == ("Linus", "Guido", "Ada")
    assert question.answer == (1,)
    assert question.explanation == "Yes, in 1991.\n\n“Linus”: No."


def test_a_right_answer_after_a_tilde_is_read_as_moodle_reads_it() -> None:
    questions, problems = parse_gift("Which is a list? {~(1, 2)~=[1, 2]~\\{1, 2\\}}", FILE)
    assert problems == []
    assert questions[0].options == ("(1, 2)", "[1, 2]", "{1, 2}")
    assert questions[0].answer == (1,)


@pytest.mark.parametrize(("block", "answer"), [("{T}", (0,)), ("{TRUE}", (0,)), ("{F}", (1,)), ("{FALSE}", (1,))])
def test_true_false_in_every_spelling_moodle_knows(block: str, answer: tuple[int, ...]) -> None:
    questions, problems = parse_gift(f"Python is interpreted. {block}", FILE)
    assert problems == []
    assert questions[0].type == QuestionType.TRUE_FALSE
    assert questions[0].options == ("True", "False")
    assert questions[0].answer == answer


def test_lower_case_true_false_is_read_as_true_false_with_a_warning_that_moodle_would_not() -> None:
    questions, problems = parse_gift("\nPython is interpreted. {false}", FILE)
    assert questions[0].type == QuestionType.TRUE_FALSE and questions[0].answer == (1,)
    [warning] = warnings(problems)
    assert warning.line == 2 and "short-answer question" in warning.message


def test_true_false_explanation_is_the_right_feedback_then_the_general_then_the_other_answers() -> None:
    questions, _ = parse_gift("2 + 2 is 5. {F#Wrong: it is 4.#Right: 2 + 2 is 4.####Addition is exact.}", FILE)
    assert questions[0].explanation == "Right: 2 + 2 is 4.\n\nAddition is exact.\n\n“True”: Wrong: it is 4."


def test_true_false_with_only_the_wrong_answers_feedback_explains_with_it() -> None:
    questions, _ = parse_gift("Grant is buried in Grant's tomb.{FALSE#No one is buried in Grant's tomb.}", FILE)
    assert questions[0].explanation == "No one is buried in Grant's tomb."


def test_one_right_answer_with_partial_credit_options_stays_single_answer_and_warns() -> None:
    text = "\n\nWhich is a mutable sequence? {=list ~%50%bytearray#Also mutable. ~%-25%tuple ~str}"
    questions, problems = parse_gift(text, FILE)
    [question] = questions
    assert question.type == QuestionType.MULTIPLE_CHOICE
    assert question.answer == (0,)
    [warning] = problems
    assert warning.is_warning and warning.line == 3
    assert "“bytearray” (50%), “tuple” (-25%)" in warning.message and "counts these as wrong" in warning.message
    assert str(warning).startswith(f"{FILE}:3: warning: ")


def test_weights_without_an_equals_answer_make_a_multi_select_of_the_positive_options() -> None:
    text = "Which are sequences? {~%50%list ~%50%str ~%-100%int ####Lists and strings can be indexed.}"
    questions, problems = parse_gift(text, FILE)
    assert problems == []
    assert questions[0].type == QuestionType.MULTI_SELECT
    assert questions[0].options == ("list", "str", "int")
    assert questions[0].answer == (0, 1)
    assert questions[0].explanation == "Lists and strings can be indexed."


def test_a_single_hundred_percent_weight_without_equals_is_a_multi_select_as_in_moodle() -> None:
    questions, problems = parse_gift("Tick the keyword. {~%100%def ~func ~fn}", FILE)
    assert problems == []
    assert (questions[0].type, questions[0].answer) == (QuestionType.MULTI_SELECT, (0,))


def test_positive_weights_that_do_not_add_up_to_100_warn() -> None:
    questions, problems = parse_gift("Pick. {~%50%a ~%25%b ~c}", FILE)
    assert questions[0].answer == (0, 1)
    [warning] = problems
    assert warning.is_warning and "add up to 75%, not 100%" in warning.message


@pytest.mark.parametrize(
    ("answers", "says"),
    [
        ("{=a =b ~c}", "2 answers give full marks"),
        ("{=a ~%100%b ~c}", "2 answers give full marks"),
        ("{~a ~b}", "no answer is marked right"),
        ("{~%-50%a ~b}", "no answer is marked right"),
        ("{=%50%a ~b}", "`=` means 100%"),
        ("{~%150%a ~b}", "above 100%"),
        ("{=a ~#only feedback}", "answer 2 has no text"),
    ],
)
def test_choice_blocks_coursebot_cannot_ask_faithfully_are_errors(answers: str, says: str) -> None:
    questions, problems = parse_gift(f"Pick one. {answers}", FILE)
    assert questions == []
    assert [(problem.line, problem.is_warning) for problem in problems] == [(1, False)]
    assert says in problems[0].message


def test_feedback_and_general_feedback_both_become_the_explanation() -> None:
    text = "What does len([]) return? {=0#Right. ~1#An empty list has no items. ####len counts the items.}"
    questions, _ = parse_gift(text, FILE)
    assert questions[0].explanation == "Right.\n\nlen counts the items.\n\n“1”: An empty list has no items."


def test_escaped_special_characters_are_literal_text() -> None:
    text = r"In Python\: what does `d \= \{\}` create? {=an empty dict\, \~ \# ~a set ~a path C\:\\temp}"
    questions, problems = parse_gift(text, FILE)
    assert problems == []
    assert questions[0].text == "In Python: what does `d = {}` create?"
    assert questions[0].options == (r"an empty dict\, ~ #", "a set", "a path C:\\temp")


def test_comments_titles_and_multi_line_questions_are_understood() -> None:
    text = """// Module 1 check
$CATEGORY: python/basics

::Loops::[markdown] How many times does `range(3)`
loop? {
    =3 # 0, 1 and 2.
    // a comment inside the answers
    ~4
}

// between questions
::Strings:: Strings are mutable. {F}
"""
    questions, problems = parse_gift(text, FILE)
    assert problems == []
    assert [question.text for question in questions] == [
        "How many times does `range(3)`\nloop?",
        "Strings are mutable.",
    ]
    assert questions[0].options == ("3", "4")
    assert questions[0].explanation == "0, 1 and 2."


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("Python was created by {=Guido ~Linus} van Rossum.", "Python was created by _____ van Rossum."),
        ("Python was created by Guido van {=Rossum ~Torvalds}.", "Python was created by Guido van _____."),
        ("Who created Python? {=Guido ~Linus}", "Who created Python?"),
    ],
)
def test_answers_inside_the_sentence_leave_a_blank_as_in_moodle(question: str, text: str) -> None:
    questions, _ = parse_gift(question, FILE)
    assert questions[0].text == text


def test_questions_after_a_closing_brace_without_blank_lines_are_not_swallowed() -> None:
    text = (
        "::Q1:: First? {\r\n=a\r\n~b\r\n}\r\n"
        "$CATEGORY: $course$/top/Second part\r\n"
        "::Q2:: Second? {T}\r\n"
        "Third? {\r\n~c\r\n=d\r\n}\r\n"
    )
    questions, problems = parse_gift(text, FILE)
    assert [question.text for question in questions] == ["First?", "Second?", "Third?"]
    assert [question.answer for question in questions] == [(0,), (0,), (1,)]
    # One warning per blank line left out: Moodle itself would read all three as one question.
    [warning] = problems
    assert (warning.line, warning.is_warning) == (5, True)
    assert "Moodle would read it and everything up to the next blank line" in warning.message


def test_a_question_straight_after_another_warns_on_its_first_line() -> None:
    questions, problems = parse_gift("First? {=a ~b}\nSecond\nline? {T}\n", FILE)
    assert [question.text for question in questions] == ["First?", "Second\nline?"]
    assert [(problem.line, problem.is_warning) for problem in problems] == [(2, True)]


def test_a_category_names_the_concept_of_its_questions() -> None:
    text = "$CATEGORY: $course$/top/Python/Loops\n\nHow often does range(3) loop? {=3 ~4}\n"
    questions, problems = parse_gift(text, FILE, {"loops", "variables"})
    assert problems == []
    assert questions[0].concept == "loops"


def test_a_category_that_names_no_concept_warns_only_when_the_course_has_concepts() -> None:
    text = "$CATEGORY: $course$/Default for PY101\n\nQ? {T}\n"
    questions, problems = parse_gift(text, FILE, {"loops"})
    assert questions[0].concept is None
    assert [(problem.line, problem.is_warning) for problem in problems] == [(1, True)]
    assert "`default-for-py101`" in problems[0].message
    assert parse_gift(text, FILE)[1] == []


def test_html_is_shown_as_markdown_text_without_markup_or_scripts() -> None:
    text = (
        '::H::[html]<p>What does <code>len("ab")</code> return &amp; <b>why</b>?</p>'
        "<script>alert(1)</script><ul><li>one</li><li>two</li></ul>"
        '<a href\\="https\\://docs.python.org">docs</a>{=<p>2</p> ~<i>1</i>#<p>Count again.</p>}'
    )
    questions, problems = parse_gift(text, FILE)
    assert problems == []
    assert (
        questions[0].text
        == 'What does `len("ab")` return & **why**?\n\n- one\n- two\n\n[docs](https://docs.python.org)'
    )
    assert questions[0].options == ("2", "*1*")
    assert questions[0].explanation == "“*1*”: Count again."


def test_html_code_blocks_keep_their_indentation() -> None:
    questions, _ = parse_gift("[html]<p>What does it print?</p><pre>\nif 1 &lt; 2:\n    print(1)\n</pre>{T}", FILE)
    assert questions[0].text == "What does it print?\n\n```\nif 1 < 2:\n    print(1)\n```"


def test_an_image_in_html_warns_that_students_see_its_description_only() -> None:
    questions, problems = parse_gift('[html]Which animal? <img src\\="@@PLUGINFILE@@/cat.png" alt\\="a cat"> {T}', FILE)
    assert questions[0].text == "Which animal? [image: a cat]"
    assert [problem.is_warning for problem in problems] == [True]
    assert "image" in problems[0].message


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("Is 3 < 5 and 7 > 2? {T}", "Is 3 < 5 and 7 > 2?"),  # Moodle format, no markup: as written
        ("Is <b>this</b> bold? {T}", "Is **this** bold?"),  # Moodle format renders its markup
        ("[plain]Is <b>this</b> bold? {T}", "Is <b>this</b> bold?"),
        ("[markdown]Is **this** `<b>`? {T}", "Is **this** `<b>`?"),
    ],
)
def test_each_text_format_is_shown_as_moodle_shows_it(question: str, text: str) -> None:
    questions, problems = parse_gift(question, FILE)
    assert problems == []
    assert questions[0].text == text


def test_a_title_in_the_middle_of_a_question_is_kept_in_its_text_with_a_warning() -> None:
    text = "Generated by a tool.\n::Q1::\nWhat is 1 + 1? {=2 ~3}\n"
    questions, problems = parse_gift(text, FILE)
    assert questions[0].text == "Generated by a tool.\n::Q1::\nWhat is 1 + 1?"
    assert [(problem.line, problem.is_warning) for problem in problems] == [(2, True)]


def test_a_blank_line_inside_an_open_answer_block_does_not_end_the_question() -> None:
    questions, problems = parse_gift("Pick {\n=a\n\n~b\n}\n", FILE)
    assert problems == []
    assert questions[0].options == ("a", "b")


@pytest.mark.parametrize(
    ("question", "says"),
    [
        ("Who wrote Python? {=Guido =Guido van Rossum}", "short-answer questions"),
        ("Match them. {=Python -> Guido =Perl -> Larry}", "matching questions"),
        ("What is 2 + 2? {#4}", "numerical questions"),
        ("Describe a loop. {}", "essay questions"),
        ("Describe a loop. {####We read every answer.}", "essay questions"),
        ("Just some text for the reader.", "is a description, not a question"),
        ("The capital of France is {1:SHORTANSWER:=Paris} and {1:MC:~Rome~=Madrid} of Spain.", "(Cloze)"),
        ("Pick {1:MULTICHOICE_V:~a~=b}.", "(Cloze)"),
    ],
)
def test_unsupported_question_types_are_reported_on_their_line_not_dropped(question: str, says: str) -> None:
    text = f"First question is fine. {{T}}\n\n// next one is not\n{question}\n\nLast one is fine. {{F}}\n"
    questions, problems = parse_gift(text, FILE)
    assert len(questions) == 2
    assert [(problem.file, problem.line, problem.is_warning) for problem in problems] == [(FILE, 4, False)]
    assert says in problems[0].message


def test_a_multi_line_cloze_question_is_one_error_not_several_questions() -> None:
    text = "Fill in:\nThe capital of France is {1:SA:=Paris}\nand of Spain {1:MC:~Rome~=Madrid}.\n"
    questions, problems = parse_gift(text, FILE)
    assert questions == []
    assert [(problem.line, "(Cloze)" in problem.message) for problem in problems] == [(1, True)]


def test_an_answer_block_that_is_never_closed_is_reported_on_the_question_line() -> None:
    questions, problems = parse_gift("Fine. {T}\n\nBroken {=a ~b\n\nNext {F}\n", FILE)
    assert [(problem.line, "never closed" in problem.message) for problem in problems] == [(3, True)]
    assert [question.text for question in questions] == ["Fine.", "Next"]


def test_two_answer_blocks_on_one_line_are_an_error() -> None:
    _, problems = parse_gift("First? {T} Second? {F}", FILE)
    assert "put a blank line between them" in problems[0].message


def test_repeated_options_are_reported_with_the_question_line() -> None:
    _, problems = parse_gift("\n\nPick one. {=a ~a}", FILE)
    assert problems[0].line == 3
    assert "must differ" in problems[0].message


def test_the_gift_example_in_the_format_doc_reads_as_it_says() -> None:
    section = FORMAT_DOC.read_text(encoding="utf-8").split("## GIFT quizzes", 1)[1].split("\n## ", 1)[0]
    [example] = [block for block in re.findall(r"```text\n(.*?)```", section, re.S) if "$CATEGORY" in block]
    questions, problems = parse_gift(example, FILE, {"loops"})
    assert problems == []
    assert [(question.type, question.answer, question.concept) for question in questions] == [
        (QuestionType.MULTIPLE_CHOICE, (0,), "loops"),
        (QuestionType.TRUE_FALSE, (0,), "loops"),
        (QuestionType.MULTI_SELECT, (0, 1), "loops"),
    ]


def test_pathological_input_is_read_in_linear_time() -> None:
    started = time.perf_counter()
    parse_gift("Q {" + " " * 200_000 + "\n" + "<b " * 50_000 + "~a =b}\n" + "{" * 100_000, FILE)
    assert time.perf_counter() - started < 5
