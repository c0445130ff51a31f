"""The package format's option limit is exactly what one quiz message can show: a button and a letter per option."""

from __future__ import annotations

import pytest

from bot.services.coursepack.model import MAX_OPTIONS, QUESTION_DISPLAY_MAX
from bot.services.quizzes import QuestionCard
from cogs._limits import EMBED_DESCRIPTION_MAX
from cogs.quiz import LETTERS, question_embed, question_view
from db.models import QuestionType


def card(question_type: QuestionType, option_count: int, *, text: str = "Pick", option_length: int = 1) -> QuestionCard:
    options = [(number, str(number % 10) * option_length) for number in range(option_count)]
    return QuestionCard(
        attempt_id=1,
        quiz_title="Check",
        question_id=2,
        number=1,
        total=1,
        text=text,
        question_type=question_type,
        options=options,
        immediate_feedback=True,
    )


@pytest.mark.parametrize("question_type", list(QuestionType))
async def test_a_question_with_the_most_options_allowed_gets_a_lettered_button_for_each(
    question_type: QuestionType,
) -> None:
    rows = question_view(card(question_type, MAX_OPTIONS)).to_components()

    labels = [button["label"] for row in rows for button in row["components"]]
    assert len(rows) <= 5
    assert [label for label in labels if label != "Submit"] == list(LETTERS[:MAX_OPTIONS])


async def test_one_option_more_would_not_fit_on_a_multi_select_question() -> None:
    with pytest.raises(ValueError):
        question_view(card(QuestionType.MULTI_SELECT, MAX_OPTIONS + 1))


async def test_a_question_as_long_as_allowed_is_shown_whole() -> None:
    text_length = QUESTION_DISPLAY_MAX - MAX_OPTIONS * 100
    question = card(QuestionType.MULTI_SELECT, MAX_OPTIONS, text="q" * text_length, option_length=100)

    description = question_embed(question).description or ""

    assert len(description) <= EMBED_DESCRIPTION_MAX
    assert description.endswith("then press Submit.*")
