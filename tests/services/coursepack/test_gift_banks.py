"""Real GIFT files, read as Moodle reads them: Moodle's own examples.txt and public question banks
(gift_banks/README.md says where each comes from). Every expectation here was written by hand from the
file, not produced by the parser: the question count, each question's type and right answers, and the
line of every question Coursebot cannot ask."""

from __future__ import annotations

from pathlib import Path

from bot.services.coursepack import Problem, QuestionSpec, QuestionType
from bot.services.coursepack.gift import parse_gift

BANKS = Path(__file__).parent / "gift_banks"
MC, TF, MS = QuestionType.MULTIPLE_CHOICE, QuestionType.TRUE_FALSE, QuestionType.MULTI_SELECT
SHORT, NUMERICAL, MATCHING, ESSAY, DESCRIPTION = "short-answer", "numerical", "matching", "essay", "description"


def read_bank(name: str, concepts: frozenset[str] = frozenset()) -> tuple[list[QuestionSpec], list[Problem]]:
    # Bytes, not text mode: Windows line ends must reach the parser as they are in the file.
    return parse_gift((BANKS / name).read_bytes().decode("utf-8"), name, concepts)


def right_answers(question: QuestionSpec) -> tuple[str, ...]:
    return tuple(question.options[index] for index in question.answer)


def summary(questions: list[QuestionSpec]) -> list[tuple[QuestionType, str, tuple[str, ...]]]:
    return [(question.type, question.text, right_answers(question)) for question in questions]


def rejected(problems: list[Problem]) -> list[tuple[int | None, str]]:
    """(line, kind) of each error, the kind being the first of the known kinds its message names."""
    kinds = (SHORT, NUMERICAL, MATCHING, ESSAY, DESCRIPTION)
    return [
        (problem.line, next((kind for kind in kinds if kind in problem.message), problem.message))
        for problem in problems
        if not problem.is_warning
    ]


def warned(problems: list[Problem]) -> list[int | None]:
    return [problem.line for problem in problems if problem.is_warning]


# --- moodle/moodle question/format/gift/examples.txt: the format's own definition --------------------

MOODLE_EXAMPLES = [
    (MC, "Who's buried in Grant's tomb?", ("no one",)),
    (MC, "Grant is _____ in Grant's tomb.", ("entombed",)),
    (TF, "Grant is buried in Grant's tomb.", ("False",)),
    (MC, "Who's buried in Grant's tomb?", ("no one",)),
    (MC, "Grant is _____ in Grant's tomb.", ("entombed",)),
    (MC, "The American holiday of Thanksgiving is celebrated on the _____ Thursday of November.", ("fourth",)),
    (MC, "Japanese characters originally came from what country?", ("China",)),
    (TF, "Grant is buried in Grant's tomb.", ("False",)),
    (TF, "The sun rises in the east.", ("True",)),
    (MC, "The American holiday of Thanksgiving is\ncelebrated on the _____ Thursday of November.", ("fourth",)),
    (MC, "What's the answer to this multiple-choice question?", ("right answer",)),
    (TF, "Grant is buried in Grant's tomb.", ("False",)),
    (MC, "Difficult question.", ("full credit answer",)),
    (MC, "Jesus Christ was from _____.", ("Nazareth",)),
    (MS, "What two people are entombed in Grant's tomb?", ("Grant", "Grant's wife")),
    (MS, "What two people are entombed in Grant's tomb?", ("Grant", "Grant's wife")),
    (MC, "Which answer equals 5?", ("= 2 + 3",)),
    (MC, "Which of the following is NOT a control character for the GIFT import format?", ("\\",)),
    (MC, "Who's buried in Grant's tomb?", ("no one",)),
    (MC, "Grant is _____ in Grant's tomb.", ("entombed",)),
    (TF, "Grant is buried in Grant's tomb.", ("False",)),
    (MC, "Grant is _____ in Grant's tomb.", ("entombed",)),
    (MC, "Difficult multiple choice question.", ("full credit answer",)),
]
MOODLE_EXAMPLES_REJECTED = [
    (14, SHORT), (16, NUMERICAL), (43, SHORT), (45, SHORT), (55, MATCHING), (61, MATCHING), (70, NUMERICAL),
    (72, NUMERICAL), (74, NUMERICAL), (76, NUMERICAL), (85, NUMERICAL), (90, SHORT), (103, SHORT), (108, SHORT),
    (123, SHORT), (173, SHORT), (175, NUMERICAL), (177, MATCHING), (195, SHORT), (202, NUMERICAL),
]  # fmt: skip


def test_moodles_examples_give_every_choice_and_true_false_question_with_moodles_right_answers() -> None:
    questions, problems = read_bank("moodle_examples.txt")
    assert summary(questions) == MOODLE_EXAMPLES
    assert len(questions) + len(rejected(problems)) == 43  # the file's 43 questions, none lost


def test_moodles_examples_report_each_short_answer_numerical_and_matching_question_on_its_line() -> None:
    _, problems = read_bank("moodle_examples.txt")
    assert rejected(problems) == MOODLE_EXAMPLES_REJECTED


def test_moodles_partial_credit_examples_keep_the_full_credit_answer_and_warn_on_their_lines() -> None:
    _, problems = read_bank("moodle_examples.txt")
    assert warned(problems) == [115, 117, 190]
    partial = [problem.message for problem in problems if problem.is_warning]
    assert "“half credit answer” (50%)" in partial[0]
    assert "“Bethlehem” (25%), “Galilee” (50%)" in partial[1]


def test_moodles_feedback_examples_become_explanations() -> None:
    questions, _ = read_bank("moodle_examples.txt")
    by_text = {question.text: question for question in questions}
    assert by_text["What's the answer to this multiple-choice question?"].explanation == (
        "Very good!\n\n“wrong answer”: feedback comment on the wrong answer\n"
        "“another wrong answer”: feedback comment on this wrong answer"
    )
    control = by_text["Which of the following is NOT a control character for the GIFT import format?"]
    assert control.options == ("~", "=", "#", "{", "}", "\\")
    assert control.explanation.startswith("Correct! \\ (backslash) is not a control character. BUT,\nit is used")
    assert questions[11].explanation == "No one is buried in Grant's tomb."


# --- a bank with Windows line ends and $CATEGORY lines without blank lines (the reported bug) -------

CRLF_BANK = [
    (MC, "What is John's favourite colour?", ("Green",), "people"),
    (MC, "What is John's favourite number?", ("89",), "people"),
    (MC, "What is Emma's favourite animal?", ("Penguin",), "people"),
    (MC, "How many construction workers are visible in the image showing the cityscape?", ("11",), None),
    (MC, "Where are the workers depicted in the image high above a city?", ("On a skyscraper beam",), None),
    (MC, "What activity are the workers primarily engaged in while on the beam?", ("Eating lunch",), None),
    (MC, "The image of workers shows them high above which type of environment?", ("A city",), None),
    (MC, "What is the subject of the image showing a solitary figure on a barren landscape?",
     ("An astronaut on the moon",), "space"),
    (MC, "Based on the image, what is the surface texture of the ground where the astronaut is standing?",
     ("Rocky and cratered",), "space"),
    (MC, "What national symbol is visible on the astronaut's suit?", ("American flag",), "space"),
    (MC, "The setting of the astronaut image typically represents which major human achievement?",
     ("Moon landing",), "space"),
    (MC, "What is Robin's favourite colour?", ("Red",), "people"),
    (MC, "What is Robin's favourite number?", ("12",), "people"),
]  # fmt: skip


def test_every_question_of_a_windows_bank_without_blank_lines_after_categories_is_read() -> None:
    assert b"}\r\n$CATEGORY:" in (BANKS / "crlf_categories_without_blank_lines.gift").read_bytes()
    questions, problems = read_bank("crlf_categories_without_blank_lines.gift", frozenset({"people", "space"}))
    assert [(*row, question.concept) for row, question in zip(summary(questions), questions, strict=True)] == CRLF_BANK
    assert max(len(question.text) for question in questions) < 120  # no question swallowed the ones after it
    assert rejected(problems) == []
    # One warning per blank line left out (Moodle would join those questions), one for the category
    # that names no concept.
    assert warned(problems) == [12, 27, 27, 43, 81, 98]


# --- istofel/moodle-gift evals/files/exemplos_originais.gift.txt: one of every GIFT type ----------

ISTOFEL = [
    (MC, "Qual comando SQL é usado para inserir dados em uma tabela?", ("INSERT",)),
    (MS, "Quais são os benefícios do exercício físico regular?",
     ("Melhora da circulação sanguínea", "Fortalecimento do sistema imunológico")),
    (TF, "A Terra é achatada.", ("False",)),
    (MC, "Qual é a capital da Alemanha?", ("Berlim",)),
    (MC, "Qual dessas expressões resulta em 5?", ("=2+3",)),
]  # fmt: skip
ISTOFEL_REJECTED = [
    (20, SHORT),  # {=Paris =paris}
    (23, NUMERICAL),  # {#100:2}
    (26, SHORT),  # {=42:0 ...} lacks the leading `#`, so Moodle reads short answer, not numerical
    (32, MATCHING),
    (39, SHORT),  # missing word with only `=` answers
    (42, ESSAY),
    (45, DESCRIPTION),
    (55, SHORT),  # [html] before the title: the title stays in the text, and {=<a>} is a short answer
    (58, SHORT),  # {*}
]


def test_a_bank_of_every_gift_type_gives_its_five_askable_questions_and_reports_the_nine_others() -> None:
    questions, problems = read_bank("istofel_exemplos_originais.gift")
    assert summary(questions) == ISTOFEL
    assert rejected(problems) == ISTOFEL_REJECTED
    assert warned(problems) == []
    assert questions[0].explanation.startswith("Correto!\n\n“SELECT”: Incorreto, usado para consulta")


# --- pkeir/moodle-gift-gen outputs/30.gift and outputs/5.gift: generated banks ---------------------

THIRTY_RIGHT_ANSWERS = [
    "Green", "89", "11", "On a skyscraper beam", "Eating lunch", "A city", "Penguin", "Scotland",
    "An astronaut on the moon", "Rocky and cratered", "American flag", "Moon landing", "Red", "12", "Blue", "89",
    "Emma", "Emma", "New York City", "Rocks and debris", "High-rise construction and lunar landing",
    "Both favourite colour and number", "Three", "Food",
    "They are in work clothes, the other is a specialized space suit.",
    "One is terrestrial, the other is extraterrestrial.", "Favourite colour is green, favourite number is 89.",
    "Favourite animal is a penguin, favourite country is Scotland.",
    "Favourite colour is red, favourite number is 12.", "High altitude or extraterrestrial environments",
]  # fmt: skip


def test_a_thirty_question_markdown_bank_gives_thirty_multiple_choice_questions() -> None:
    questions, problems = read_bank("pkeir_thirty.gift")
    assert problems == []
    assert [question.type for question in questions] == [MC] * 30
    assert [right_answers(question) for question in questions] == [(answer,) for answer in THIRTY_RIGHT_ANSWERS]
    assert questions[0].text == "What is John's favourite colour?"  # `::title::` and `[markdown]` removed


def test_stray_text_before_a_title_stays_in_the_question_as_in_moodle_with_a_warning() -> None:
    questions, problems = read_bank("pkeir_modern_farming.gift")
    assert [question.type for question in questions] == [MC] * 5
    assert [right_answers(question) for question in questions] == [
        ("Optimized resource application (e.g., water, fertilizer)",),
        ("Cultivating plants without soil, often using mineral nutrient solutions in water",),
        ("Produce crops in urban areas with limited land",),
        ("To enhance traits like disease resistance, herbicide tolerance, or nutritional value",),
        ("Automated harvesting, weeding, or crop monitoring",),
    ]
    assert questions[0].text.startswith("Generating questions using a custom prompt.\n::Precision Ag Benefits::\n")
    assert questions[2].text == "A significant advantage of vertical farming is its ability to:"
    assert [(problem.line, problem.is_warning) for problem in problems] == [(4, True)]


# --- moodle/moodle question/format/gift/tests/fixtures/questions_in_category.gift.txt: an export ----


def test_a_moodle_export_in_html_gives_its_choice_and_true_false_questions_as_text() -> None:
    questions, problems = read_bank("moodle_questions_in_category.gift")
    assert summary(questions) == [
        (
            MC,
            "[Listen to this greeting:](http://demo.moodle.net/file.php/5/media/bonjour.mp3)\n\n"
            "What language is being spoken?",
            ("French",),
        ),
        (TF, "Moodle is an acronym for Modular Object-Oriented Dynamic Learning Environment.", ("True",)),
    ]
    assert rejected(problems) == [(5, MATCHING), (22, SHORT)]
