"""A broken package is rejected with every problem, each naming the file and (where it has one) the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.services.coursepack import PackageInvalid, Problem, load_package
from tests.services.coursepack.package_files import (
    CONCEPTS,
    COURSE,
    LESSON,
    MINIMAL_PACKAGE,
    MODULE,
    QUIZ,
    assert_reported,
    concepts_toml,
    edited,
    package_files,
    quiz_toml,
    rejection,
    write_folder,
)


def rejected(tmp_path: Path, files: dict[str, str | bytes]) -> PackageInvalid:
    return rejection(write_folder(tmp_path / "package", files))


def test_the_minimal_package_that_the_other_tests_break_loads(tmp_path: Path) -> None:
    package = load_package(write_folder(tmp_path / "package", package_files()))
    assert [item.slug for item in package.modules[0].items] == ["variables", "check"]


# --- TOML and files --------------------------------------------------------------------------


def test_a_toml_syntax_error_names_its_line(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(QUIZ, 'answer = "4"', "answer = yes"))
    assert_reported(error, QUIZ, 7, "invalid TOML")


def test_a_toml_syntax_error_in_front_matter_counts_lines_from_the_top_of_the_file(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(LESSON, "estimated_minutes = 5", "estimated_minutes = = 5"))
    assert_reported(error, LESSON, 4, "invalid TOML")


def test_a_package_without_course_toml_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, package_files({COURSE: None}))
    assert_reported(error, COURSE, None, "missing")


def test_a_module_folder_without_module_toml_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, package_files({MODULE: None}))
    assert_reported(error, MODULE, None, "missing")


def test_a_file_that_is_not_utf8_is_rejected_with_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    latin1_lesson = MINIMAL_PACKAGE[LESSON].replace("name a value", "nommer une valeur (café)").encode("latin-1")
    error = rejected(tmp_path, package_files({LESSON: latin1_lesson}))
    assert_reported(error, LESSON, 8, "not UTF-8")


def test_an_unknown_key_is_reported_as_a_likely_typo(tmp_path: Path) -> None:
    error = rejected(tmp_path, package_files({MODULE: 'titel = "Basics"\n'}))
    assert_reported(error, MODULE, 1, "unknown key `titel`")
    assert_reported(error, MODULE, None, "`title` is required")


def test_a_package_without_module_folders_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, package_files({MODULE: None, LESSON: None, QUIZ: None}))
    assert_reported(error, COURSE, None, "no modules")


# --- Lessons ---------------------------------------------------------------------------------


def test_a_lesson_without_front_matter_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, package_files({LESSON: "# Variables\n\nUse `=`.\n"}))
    assert_reported(error, LESSON, 1, "starts with a `+++` line")


def test_front_matter_that_is_never_closed_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, package_files({LESSON: '+++\ntitle = "Variables"\n\nUse `=`.\n'}))
    assert_reported(error, LESSON, 1, "never closed")


def test_a_lesson_with_no_text_after_its_front_matter_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(LESSON, "Use `=` to name a value.\n", "   \n"))
    assert_reported(error, LESSON, 6, "no text after its front matter")


def test_front_matter_may_not_set_the_slug_that_the_file_name_gives(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(LESSON, 'title = "Variables"', 'title = "Variables"\nslug = "vars"'))
    assert_reported(error, LESSON, 3, "`slug` cannot be set in this file")


def test_an_item_slug_that_is_not_a_slug_is_rejected(tmp_path: Path) -> None:
    files = package_files({LESSON: None, "01-basics/01-Variables Intro.md": MINIMAL_PACKAGE[LESSON]})
    error = rejected(tmp_path, files)
    assert_reported(error, "01-basics/01-Variables Intro.md", None, "must be a slug")


def test_an_item_file_without_a_number_prefix_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, package_files({"01-basics/extra.md": MINIMAL_PACKAGE[LESSON]}))
    assert_reported(error, "01-basics/extra.md", None, "number prefix")


# --- Slugs and concepts ------------------------------------------------------------------------


def test_two_modules_with_the_same_slug_are_rejected(tmp_path: Path) -> None:
    another_lesson = MINIMAL_PACKAGE[LESSON].replace('title = "Variables"', 'title = "More"')
    files = package_files({"02-basics/module.toml": 'title = "More basics"\n', "02-basics/01-more.md": another_lesson})
    error = rejected(tmp_path, files)
    assert_reported(error, "02-basics", None, "module slug `basics` is also used by 01-basics/")


def test_two_lessons_with_the_same_slug_in_different_modules_are_rejected(tmp_path: Path) -> None:
    files = package_files(
        {"02-more/module.toml": 'title = "More"\n', "02-more/01-variables.md": MINIMAL_PACKAGE[LESSON]}
    )
    error = rejected(tmp_path, files)
    assert_reported(error, "02-more/01-variables.md", None, f"slug `variables` is also used by {LESSON}")


def test_a_concept_listed_twice_is_rejected_at_its_second_entry(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(CONCEPTS, 'slug = "loops"', 'slug = "variables"'))
    assert_reported(error, CONCEPTS, 6, "concept slug `variables` is used twice")


def test_a_lesson_naming_an_unknown_concept_is_rejected_at_its_concepts_line(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(LESSON, 'concepts = ["variables"]', 'concepts = ["variables", "recursion"]'))
    assert_reported(error, LESSON, 5, "unknown concept `recursion`")


def test_a_question_naming_an_unknown_concept_is_rejected_at_its_concept_line(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(QUIZ, 'concept = "loops"', 'concept = "loop"'))
    assert_reported(error, QUIZ, 14, "unknown concept `loop`")


def test_a_concept_depending_on_an_unknown_concept_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(CONCEPTS, 'concept = "variables"', 'concept = "values"'))
    assert_reported(error, CONCEPTS, 8, "depends on `values`, which is not a concept here")


def test_a_cycle_among_concept_dependencies_is_rejected_with_the_cycle_spelled_out(tmp_path: Path) -> None:
    cyclic = MINIMAL_PACKAGE[CONCEPTS].replace(
        'name = "Variables"\n', 'name = "Variables"\ndepends_on = [{ concept = "loops", strength = "OPTIONAL" }]\n'
    )
    error = rejected(tmp_path, package_files({CONCEPTS: cyclic}))
    assert_reported(error, CONCEPTS, 4, "cycle: variables → loops → variables")


# --- Questions -------------------------------------------------------------------------------


def test_an_answer_that_is_not_among_the_options_is_rejected_at_the_answer_line(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(QUIZ, 'answer = "4"', 'answer = "5"'))
    assert_reported(error, QUIZ, 7, '"5", which is not one of the options "3", "4"')


def test_an_answer_index_past_the_last_option_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(QUIZ, 'answer = "4"', "answer = 2"))
    assert_reported(error, QUIZ, 7, "options are numbered from 0 to 1")


def test_a_multiple_choice_question_with_two_answers_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(QUIZ, 'answer = "4"', 'answer = ["3", "4"]'))
    assert_reported(error, QUIZ, 7, "exactly one right option for a MULTIPLE_CHOICE question, not 2")


def test_a_question_with_one_option_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(QUIZ, 'options = ["3", "4"]\nanswer = "4"', 'options = ["4"]\nanswer = "4"'))
    assert_reported(error, QUIZ, 6, "`options` must be at least 2, not 1")


def test_a_quiz_without_questions_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, package_files({QUIZ: 'title = "Check"\n'}))
    assert_reported(error, QUIZ, None, "at least one question")


def test_an_unknown_question_type_is_rejected_at_its_line(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(QUIZ, 'type = "TRUE_FALSE"', 'type = "ESSAY"'))
    assert_reported(error, QUIZ, 11, "`type`: Input should be")


# --- Course settings and cohorts ---------------------------------------------------------------


def test_a_naive_datetime_is_rejected_and_asks_for_a_time_zone(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(COURSE, "starts_at = 2026-02-01T09:00:00Z", "starts_at = 2026-02-01T09:00:00"))
    assert_reported(error, COURSE, 9, "`starts_at` needs a time zone")


def test_an_enrollment_window_that_ends_before_it_starts_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(COURSE, "enrollment_end = 2026-02-15", "enrollment_end = 2025-12-15"))
    assert_reported(error, COURSE, 11, "`enrollment_end` is before enrollment_start")


def test_an_unknown_visibility_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(COURSE, 'visibility = "PUBLIC"', 'visibility = "SECRET"'))
    assert_reported(error, COURSE, 12, "not 'SECRET'")


def test_an_invite_only_cohort_without_an_invite_code_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(COURSE, 'visibility = "PUBLIC"', 'visibility = "INVITE_ONLY"'))
    assert_reported(error, COURSE, 7, "`invite_code` is required for an INVITE_ONLY cohort")


def test_a_prerequisite_that_is_not_a_course_code_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(COURSE, "prerequisites = []", 'prerequisites = ["intro to computing"]'))
    assert_reported(error, COURSE, 5, "must be a course code")


def test_a_passing_score_above_100_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(COURSE, "passing_score = 70", "passing_score = 170"))
    assert_reported(error, COURSE, 4, "`passing_score`")


# --- Question files ----------------------------------------------------------------------------


def test_an_unsupported_gift_question_is_rejected_at_its_line(tmp_path: Path) -> None:
    gift = "::ok:: 1 + 1 is 2 {T}\n\n// a short-answer question follows\n::name:: Who wrote Python? {=Guido}\n"
    error = rejected(tmp_path, package_files({"01-basics/03-more.gift": gift}))
    assert_reported(error, "01-basics/03-more.gift", 4, "short-answer questions")


def test_an_aiken_answer_letter_without_an_option_is_rejected_at_its_line(tmp_path: Path) -> None:
    aiken = "What is 2 + 2?\nA. 3\nB. 4\nANSWER: C\n"
    error = rejected(tmp_path, package_files({"01-basics/03-more.aiken.txt": aiken}))
    assert_reported(error, "01-basics/03-more.aiken.txt", 4, "`ANSWER: C` names no option")


# --- All at once -------------------------------------------------------------------------------


def test_every_problem_in_a_package_is_reported_at_once(tmp_path: Path) -> None:
    files = package_files(
        {
            COURSE: MINIMAL_PACKAGE[COURSE].replace('visibility = "PUBLIC"', 'visibility = "SECRET"'),
            LESSON: MINIMAL_PACKAGE[LESSON].replace('concepts = ["variables"]', 'concepts = ["nope"]'),
            QUIZ: MINIMAL_PACKAGE[QUIZ].replace('answer = "4"', 'answer = "5"'),
            MODULE: "title = \n",
        }
    )
    error = rejected(tmp_path, files)
    assert {(problem.file, problem.line) for problem in error.problems} == {
        (COURSE, 12),
        (LESSON, 5),
        (QUIZ, 7),
        (MODULE, 1),
    }


def test_a_long_list_of_problems_is_cut_to_fit_a_discord_message() -> None:
    problems = [Problem(f"01-basics/{index:02d}-lesson.md", index, "unknown concept `x`") for index in range(60)]
    message = str(PackageInvalid(problems))
    assert len(message) <= 2000
    assert message.startswith("The course package has 60 problems to fix:")
    assert message.splitlines()[-1].startswith("…and ")
    assert message.splitlines()[-1].endswith(" more.")


# --- Packages built to exhaust the validator -----------------------------------------------------


def test_arrays_nested_past_the_limit_are_rejected_at_their_line_instead_of_crashing(tmp_path: Path) -> None:
    deep = "[" * 5_000 + "]" * 5_000
    error = rejected(tmp_path, package_files({MODULE: f'title = "Basics"\nsummary = "x"\nodd = {deep}\n'}))
    assert_reported(error, MODULE, 3, "nested more than 16 deep")


def test_inline_tables_nested_past_the_limit_are_rejected_too(tmp_path: Path) -> None:
    deep = "{ a = " * 40 + "1" + " }" * 40
    error = rejected(tmp_path, package_files({MODULE: f'title = "Basics"\nodd = {deep}\n'}))
    assert_reported(error, MODULE, 2, "nested more than 16 deep")


def test_a_toml_file_over_the_size_limit_is_rejected_without_being_parsed(tmp_path: Path) -> None:
    huge = 'title = "Basics"\nsummary = "' + "x" * 1_000_001 + '"\n'
    error = rejected(tmp_path, package_files({MODULE: huge}))
    assert_reported(error, MODULE, None, "at most 1,000,000 characters of TOML")


def test_front_matter_over_the_size_limit_is_rejected_at_its_first_line(tmp_path: Path) -> None:
    lesson = '+++\ntitle = "Big"\nsummary = "' + "x" * 1_000_001 + '"\n+++\n\nText.\n'
    error = rejected(tmp_path, package_files({LESSON: lesson}))
    assert_reported(error, LESSON, 2, "at most 1,000,000 characters of TOML")


def test_thousands_of_unknown_keys_report_the_first_100_problems_and_count_the_rest(tmp_path: Path) -> None:
    unknown = "".join(f"key{number} = 1\n" for number in range(20_000))
    error = rejected(tmp_path, package_files({MODULE: 'title = "Basics"\n' + unknown}))
    assert len(error.problems) == 100
    assert error.omitted == 19_900
    assert error.problems[0] == Problem(MODULE, 2, "unknown key `key0`")
    assert str(error).startswith("The course package has 20,000 problems to fix:")
    assert str(error).endswith("…and 19,985 more.")


def test_a_concept_chain_with_many_cycles_reports_one_cycle_per_tangle(tmp_path: Path) -> None:
    # Each concept depends on the next and on the first: 499 cycles, all through one tangle of 500 concepts.
    chain = {f"c{number}": [f"c{number + 1}", "c0"] for number in range(1, 499)}
    chain = {"c0": ["c1"], **chain, "c499": ["c0"]}
    error = rejected(tmp_path, package_files({CONCEPTS: concepts_toml(chain), LESSON: None, QUIZ: _plain_quiz()}))
    assert error.problems == (
        Problem(
            CONCEPTS, 4, "concept dependencies form a cycle: c0 → c1 → c0 (500 concepts are caught in cycles with it)"
        ),
    )


def test_separate_cycles_are_each_reported_once(tmp_path: Path) -> None:
    graph = {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["e"], "e": ["c", "d"], "f": ["a"]}
    error = rejected(tmp_path, package_files({CONCEPTS: concepts_toml(graph), LESSON: None, QUIZ: _plain_quiz()}))
    assert error.problems == (
        Problem(CONCEPTS, 4, "concept dependencies form a cycle: a → b → a"),
        Problem(CONCEPTS, 14, "concept dependencies form a cycle: c → d → e → c"),
    )


def test_a_concept_with_more_dependencies_than_allowed_is_rejected_with_one_problem(tmp_path: Path) -> None:
    many: dict[str, list[str]] = {f"c{number}": [] for number in range(150)}
    many["hub"] = list(many)
    error = rejected(tmp_path, package_files({CONCEPTS: concepts_toml(many), LESSON: None, QUIZ: _plain_quiz()}))
    assert error.problems == (
        Problem(CONCEPTS, 754, "`depends_on` holds 150 entries; at most 100 are allowed (in concepts #151)"),
    )


def test_more_concepts_than_allowed_are_rejected_with_one_problem(tmp_path: Path) -> None:
    many: dict[str, list[str]] = {f"c{number}": [] for number in range(1_001)}
    error = rejected(tmp_path, package_files({CONCEPTS: concepts_toml(many), LESSON: None, QUIZ: _plain_quiz()}))
    assert error.problems == (Problem(CONCEPTS, 1, "`concepts` holds 1,001 entries; at most 1,000 are allowed"),)


def test_a_large_web_of_concept_dependencies_loads(tmp_path: Path) -> None:
    web = {f"c{number}": [f"c{earlier}" for earlier in range(max(0, number - 10), number)] for number in range(1_000)}
    files = package_files({CONCEPTS: concepts_toml(web), LESSON: None, QUIZ: _plain_quiz()})
    package = load_package(write_folder(tmp_path / "package", files))
    assert sum(len(concept.depends_on) for concept in package.concepts) == 9_945


def test_a_concept_listing_a_dependency_many_times_is_reported_once_per_dependency(tmp_path: Path) -> None:
    graph = {"a": [], "b": ["a"] * 80}
    error = rejected(tmp_path, package_files({CONCEPTS: concepts_toml(graph), LESSON: None, QUIZ: _plain_quiz()}))
    assert error.problems == (Problem(CONCEPTS, 9, "concept `b` lists `a` more than once"),)


def test_a_question_with_thousands_of_options_is_rejected_with_one_problem(tmp_path: Path) -> None:
    error = rejected(tmp_path, package_files({QUIZ: quiz_toml(str(number) for number in range(40_000))}))
    assert error.problems == (
        Problem(QUIZ, 6, "`options` holds 40,000 entries; at most 24 are allowed (in questions #1)"),
    )


def _plain_quiz() -> str:
    return quiz_toml(["yes", "no"])


# --- What the database and the quiz message can hold ----------------------------------------------


@pytest.mark.parametrize("question_type", ["MULTIPLE_CHOICE", "MULTI_SELECT"])
def test_a_question_with_more_options_than_the_quiz_can_show_is_rejected(tmp_path: Path, question_type: str) -> None:
    options = [chr(ord("A") + number) for number in range(25)]
    error = rejected(tmp_path, package_files({QUIZ: quiz_toml(options, question_type=question_type)}))
    assert_reported(error, QUIZ, 6, "`options` holds 25 entries; at most 24 are allowed")


def test_a_question_with_as_many_options_as_the_quiz_can_show_loads(tmp_path: Path) -> None:
    options = [chr(ord("A") + number) for number in range(24)]
    package = load_package(write_folder(tmp_path / "package", package_files({QUIZ: quiz_toml(options)})))
    assert len(package.quizzes[0].questions[0].options) == 24


@pytest.mark.parametrize(
    ("path", "old", "new", "line", "says"),
    [
        (
            QUIZ,
            'concept = "variables"',
            "points = 3000000000",
            8,
            "`points`: Input should be less than or equal to 1000",
        ),
        (LESSON, "estimated_minutes = 5", "estimated_minutes = 40000000", 4, "less than or equal to 10080"),
        (COURSE, 'visibility = "PUBLIC"', f"capacity = {2**63 - 1}", 12, "less than or equal to 1000000"),
        (COURSE, 'visibility = "PUBLIC"', f"role_id = {2**63}", 12, f"less than or equal to {2**63 - 1}"),
        (
            QUIZ,
            'title = "Check"',
            'title = "Check"\nmax_attempts = 9223372036854775807',
            2,
            "less than or equal to 1000",
        ),
    ],
)
def test_a_number_beyond_what_the_database_holds_is_rejected_at_its_line(
    tmp_path: Path, path: str, old: str, new: str, line: int, says: str
) -> None:
    error = rejected(tmp_path, edited(path, old, new))
    assert_reported(error, path, line, says)


@pytest.mark.parametrize(
    ("path", "old", "key", "line", "limit"),
    [
        (COURSE, 'title = "Python Basics"', "title", 2, 200),
        (COURSE, 'term_name = "Spring 2026"', "term_name", 8, 100),
        (COURSE, 'visibility = "PUBLIC"', "invite_code", 12, 40),
        (CONCEPTS, 'name = "Loops"', "name", 7, 200),
        (MODULE, 'title = "Basics"', "title", 1, 200),
        (LESSON, 'title = "Variables"', "title", 2, 200),
        (QUIZ, 'title = "Check"', "title", 1, 200),
    ],
)
def test_text_longer_than_its_database_column_is_rejected_without_quoting_it_all(
    tmp_path: Path, path: str, old: str, key: str, line: int, limit: int
) -> None:
    error = rejected(tmp_path, edited(path, old, f'{key} = "{"x" * 300_000}"'))
    problem = assert_reported(error, path, line, f"`{key}` is 300,000 characters long; at most {limit} fit")
    assert len(problem.message) < 300


def test_a_question_too_long_for_one_discord_message_is_rejected(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(QUIZ, 'text = "What is 2 + 2?"', f'text = "{"x" * 3_500}"'))
    assert_reported(error, QUIZ, 6, "and the question text come to 3,502 characters; at most 3,500 fit")


def test_a_gift_question_with_more_options_than_the_quiz_can_show_is_rejected_at_its_line(tmp_path: Path) -> None:
    gift = "First {T}\n\nPick one {=" + " ~".join(f"o{number}" for number in range(30)) + "}\n"
    error = rejected(tmp_path, package_files({"01-basics/03-more.gift": gift}))
    assert_reported(error, "01-basics/03-more.gift", 3, "`options` holds 30 entries; at most 24 are allowed")


def test_an_aiken_question_with_26_options_is_rejected_at_its_line(tmp_path: Path) -> None:
    options = "".join(f"{chr(ord('A') + number)}. option {number}\n" for number in range(26))
    error = rejected(tmp_path, package_files({"01-basics/03-more.aiken.txt": f"Pick one\n{options}ANSWER: A\n"}))
    assert_reported(error, "01-basics/03-more.aiken.txt", 1, "`options` holds 26 entries; at most 24 are allowed")


def test_a_gift_file_with_more_questions_than_a_quiz_may_hold_is_rejected(tmp_path: Path) -> None:
    gift = "\n".join(f"Question {number} {{T}}\n" for number in range(501))
    error = rejected(tmp_path, package_files({"01-basics/03-more.gift": gift}))
    assert_reported(error, "01-basics/03-more.gift", None, "`questions` holds 501 entries; at most 500 are allowed")


def test_a_number_with_thousands_of_digits_is_rejected_at_its_line(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(QUIZ, 'concept = "variables"', f"points = {'9' * 5_000}"))
    assert_reported(error, QUIZ, 8, "a number with thousands of digits")


def test_a_huge_hexadecimal_number_is_rejected_without_being_spelled_out(tmp_path: Path) -> None:
    error = rejected(tmp_path, edited(QUIZ, 'concept = "variables"', f"points = 0x{'f' * 5_000}"))
    problem = assert_reported(error, QUIZ, 8, "`points`: Input should be less than or equal to 1000")
    assert len(problem.message) < 300
