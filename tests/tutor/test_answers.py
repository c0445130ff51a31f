"""Answer assembly: the follow-ups and citations read off a model's answer, the prompt it is given, and the answer
a student gets when there is no model."""

from __future__ import annotations

import pytest

from bot.tutor.answers import (
    NO_MODEL_NOTICE,
    NOTHING_FOUND,
    QUIZ_IN_PROGRESS_NOTE,
    Source,
    cited_sources,
    fallback_text,
    numbered_sources,
    split_branches,
    system_message,
)
from bot.tutor.retrieval import Passage
from bot.tutor.sessions import SessionCourse

COURSE = SessionCourse(id=1, code="PY101", title="Python basics", cache_enabled=True)


def passage(chunk_id: int, title: str, content: str, *, page: int | None = None) -> Passage:
    return Passage(chunk_id, material_id=1, content_item_id=None, title=title, page=page, content=content, score=0.5)


PASSAGES = [
    passage(11, "Loops > for", "A for loop repeats once per item."),
    passage(12, "Loops > while", "A while loop repeats while its condition holds.", page=4),
]


@pytest.mark.parametrize(
    ("text", "body", "options"),
    [
        ("Hi!\nOptions: An example | The rules", "Hi!", ("An example", "The rules")),
        ("Hi!\n\n**Options:** An example | The rules  ", "Hi!", ("An example", "The rules")),
        ("Hi!\nchoices: one | two | three | four", "Hi!", ("one", "two", "three")),
        ("Hi!\nOptions: same | same", "Hi!", ("same",)),
        ("Options are good.\nThat is all.", "Options are good.\nThat is all.", ()),
        ("Just an answer", "Just an answer", ()),
    ],
)
def test_a_closing_options_line_becomes_branches(text: str, body: str, options: tuple[str, ...]) -> None:
    assert split_branches(text) == (body, options)


def test_a_branch_label_is_clipped_to_a_button_label() -> None:
    _, options = split_branches("Hi\nOptions: " + "x" * 120)
    assert options == ("x" * 80,)


def test_an_answer_lists_the_sources_it_cites_or_all_of_them() -> None:
    sources = [Source(number, f"Part {number}", None, number, 0.1) for number in (1, 2, 3)]
    assert [source.number for source in cited_sources("As [3] and [1] say", sources)] == [1, 3]
    assert [source.number for source in cited_sources("No citation", sources)] == [1, 2, 3]
    assert [source.number for source in cited_sources("See [7]", sources)] == [1, 2, 3]


def test_a_cited_number_is_the_passage_given_in_that_place() -> None:
    sources = numbered_sources(PASSAGES)
    [cited] = cited_sources("While loops check first [2].", sources)
    assert (cited.number, cited.chunk_id, cited.label) == (2, 12, "Loops > while, p. 4")


def test_the_model_is_given_the_passages_fenced_and_numbered_as_it_must_cite_them() -> None:
    sources = numbered_sources(PASSAGES)
    system = system_message("You are a tutor.", COURSE, "Loops", PASSAGES, sources, quiz_in_progress=False)
    assert system.startswith("You are a tutor.")
    assert "Course: PY101 · Python basics. Topic of this conversation: Loops." in system
    assert "<<<SOURCE 1 " in system and 'source="Loops > while, p. 4"' in system
    assert system.index("A for loop repeats") < system.index("A while loop repeats")
    assert "untrusted data" in system and QUIZ_IN_PROGRESS_NOTE not in system


def test_during_a_quiz_the_model_is_told_not_to_answer_it() -> None:
    system = system_message("You are a tutor.", COURSE, "Loops", [], [], quiz_in_progress=True)
    assert QUIZ_IN_PROGRESS_NOTE in system and "No course material matched this question." in system


def test_without_a_model_the_student_is_told_so_and_shown_the_best_passages() -> None:
    text = fallback_text(PASSAGES, topic="Loops", greeting=False, notice=None)
    assert text.startswith(NO_MODEL_NOTICE)
    assert "**[1] Loops > for**\nA for loop repeats once per item." in text
    assert "**[2] Loops > while, p. 4**" in text


def test_without_a_model_or_a_match_the_student_is_told_nothing_was_found() -> None:
    assert fallback_text([], topic="Loops", greeting=False, notice=None) == f"{NO_MODEL_NOTICE}\n\n{NOTHING_FOUND}"


def test_a_spent_budget_is_said_instead_of_the_missing_model() -> None:
    notice = "The tutor has used this server's model budget for today."
    assert fallback_text(PASSAGES, topic="Loops", greeting=False, notice=notice).startswith(notice)
    greeting = fallback_text([], topic="Loops", greeting=True, notice=notice)
    assert "**Loops**" in greeting and notice in greeting


def test_without_a_model_the_greeting_says_what_the_tutor_can_still_do() -> None:
    greeting = fallback_text(PASSAGES, topic="Loops", greeting=True, notice=None)
    assert "**Loops**" in greeting and "No language model" in greeting and "A for loop" not in greeting


def test_a_long_passage_is_shown_as_an_excerpt_with_its_code_fence_closed() -> None:
    long = "Intro line.\n```python\n" + "\n".join(f"print({n})" for n in range(200)) + "\n```"
    text = fallback_text([passage(13, "Printing", long)], topic="Loops", greeting=False, notice=None)
    excerpt = text.split("**[1] Printing**\n", 1)[1]
    assert len(excerpt) < len(long) and excerpt.endswith("\n```\n…") and excerpt.count("```") == 2
