"""`/review` and `/practice` through real discord.py parsing: a missed quiz question comes back days later, double
clicks count once, practice respects prerequisites, and `/streak` and `/course progress` show the cards and mastery."""

from __future__ import annotations

from sqlalchemy import select

from bot.clock import FixedClock
from db.models import Question, ReviewCard
from db.session import Database
from sandbox import DiscordSandbox, Reply
from tests.cogs.test_quiz import answer_everything, student_in_course  # noqa: F401 (a fixture)


def card_prefix(reply: Reply) -> str:
    """`card:{mode}:{owner}:{question}:{reps}:{number}:{concept}` of the card on the reply."""
    custom_id = next(c.custom_id for c in reversed(reply.components) if (c.custom_id or "").startswith("card:"))
    assert custom_id is not None
    return custom_id.rsplit(":", 1)[0]


async def answer_card(sandbox: DiscordSandbox, database: Database, card: Reply, *, right: bool) -> Reply:
    """Press the right option(s) of the card, or a wrong one."""
    prefix = card_prefix(card)
    async with database.session_scope() as session:
        question = await session.get(Question, int(prefix.split(":")[3]))
        assert question is not None
    chosen = question.answer if right else [next(i for i in range(len(question.options)) if i not in question.answer)]
    if question.question_type.value == "MULTI_SELECT":
        message = card
        for option in chosen:
            message = await sandbox.click(message, f"{prefix}:t{option}")
        return await sandbox.click(message, "Submit")
    return await sandbox.click(card, f"{prefix}:{chosen[0]}")


async def test_a_missed_question_comes_back_for_review_days_later(
    student_in_course: DiscordSandbox,  # noqa: F811
    database: Database,
    clock: FixedClock,
) -> None:
    first = await student_in_course.slash("quiz start", quiz="first-steps-check")
    await answer_everything(student_in_course, first)  # "A" everywhere: some right, some wrong
    nothing = await student_in_course.slash("review")
    assert "Nothing to review in PY101 today" in nothing.text and "next card is due" in nothing.text
    clock.advance(days=3)
    card = await student_in_course.slash("review")
    assert card.ephemeral and "Review · card 1 of 5 due today" in card.text
    answered = await answer_card(student_in_course, database, card, right=True)
    feedback = answered.messages[0]
    assert "Right!" in feedback.text and "Next review" in feedback.text
    assert "Review · card 2" in answered.text
    streak = await student_in_course.slash("streak")
    assert "Due today: **4**" in streak.text and "you would recall" in streak.text


async def test_a_double_click_on_a_review_counts_once(
    student_in_course: DiscordSandbox,  # noqa: F811
    database: Database,
    clock: FixedClock,
) -> None:
    await answer_everything(student_in_course, await student_in_course.slash("quiz start", quiz="first-steps-check"))
    clock.advance(days=3)
    card = await student_in_course.slash("review")
    prefix = card_prefix(card)
    message, button = card, f"{prefix}:0"
    if "Submit" in [component.label for component in card.components]:
        message, button = await student_in_course.click(card, f"{prefix}:t0"), "Submit"
    parts = prefix.split(":")
    parts[2] = "1"  # another member's card, as a tampered client could claim
    forged = ":".join(parts) + (":submit" if button == "Submit" else ":0")
    someone_elses = await student_in_course.click(message, button, forged_custom_id=forged)
    assert "belong to someone else" in someone_elses.text
    replies = await student_in_course.click_many([(message, button, None)] * 2)
    assert sum("already answered" in reply.text for reply in replies) == 1
    async with database.session_scope() as session:
        reps = await session.scalar(select(ReviewCard.reps).where(ReviewCard.question_id == int(prefix.split(":")[3])))
    assert reps == 2


async def test_practice_picks_an_open_concept_and_names_missing_prerequisites(
    student_in_course: DiscordSandbox,  # noqa: F811
    database: Database,
) -> None:
    locked = await student_in_course.slash("practice", concept="loops")
    assert "builds on **Lists**" in locked.text
    first = await student_in_course.slash("practice")
    assert "Practice · Running programs" in first.text  # the only concept that requires nothing
    answered = await answer_card(student_in_course, database, first, right=True)
    assert "Right!" in answered.messages[0].text and "Practice · " in answered.text
    progress = await student_in_course.slash("course progress")
    assert "Mastery" in progress.text and "Running programs" in progress.text


async def test_practice_suggests_the_courses_concepts_and_marks_the_locked_ones(
    student_in_course: DiscordSandbox,  # noqa: F811
) -> None:
    suggested = {
        choice.value: choice.name for choice in await student_in_course.autocomplete("practice", "concept", "")
    }
    assert suggested["running-programs"].startswith("Running programs · not started")
    assert suggested["variables"].startswith("🔒 Variables")
    typed = await student_in_course.autocomplete("practice", "concept", "variab")
    assert [choice.value for choice in typed] == ["variables"]
