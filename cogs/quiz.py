"""`/quiz …` and the quiz's answer buttons.

Buttons are `PersistentButton`s whose custom_id carries everything needed (`quiz:{attempt}:{question}:{option}`),
so a question posted before a restart still answers after it. Multi-select questions toggle options on
the message itself (a chosen option's button turns green) and read them back on Submit.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from functools import partial

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.errors import CourseError
from bot.services import quizzes
from bot.services.grading import AnswerFeedback
from bot.services.quizzes import AnswerResult, AttemptSummary, QuestionCard
from bot.services.reviews import ReviewQuestion
from cogs._autocomplete import courses_you_take, quiz_titles_choices
from cogs._limits import BUTTONS_PER_ROW
from cogs._text import strip_mentions
from cogs._ui import FAILURE, SUCCESS, add_fields, clip, embed, in_pages
from cogs._views import DatabaseId, Paginator, PersistentButton
from db.models import QuestionType

LETTERS = string.ascii_uppercase
CHOSEN, NOT_CHOSEN = discord.ButtonStyle.success, discord.ButtonStyle.secondary


# -- a choice question on Discord, the same in a quiz and on a review or practice card (`cogs.review`) ------------


def question_text(card: QuestionCard | ReviewQuestion) -> str:
    """The question, its lettered options and, for a multi-select question, how to answer it."""
    lines = [strip_mentions(card.text), ""]
    lines += [f"**{LETTERS[n]}.** {strip_mentions(text)}" for n, (_, text) in enumerate(card.options)]
    if card.question_type is QuestionType.MULTI_SELECT:
        lines += ["", "*Choose every right option, then press Submit.*"]
    return "\n".join(lines)


def options_view(
    card: QuestionCard | ReviewQuestion,
    *,
    answer: Callable[[int, str], PersistentButton],
    toggle: Callable[[int, str], PersistentButton],
    submit: Callable[[], PersistentButton],
) -> discord.ui.View:
    """A lettered button per option, `answer(option, letter)`; on a multi-select question a `toggle` per option
    instead, and Submit."""
    view = discord.ui.View(timeout=None)
    multi = card.question_type is QuestionType.MULTI_SELECT
    for position, (option, _) in enumerate(card.options):
        button = (toggle if multi else answer)(option, LETTERS[position])
        button.item.row = position // BUTTONS_PER_ROW
        view.add_item(button)
    if multi:
        view.add_item(submit())
    return view


async def flip_toggle(
    interaction: discord.Interaction,
    pressed: PersistentButton,
    toggle_id: re.Pattern[str],
    *,
    toggle: Callable[[int, str, bool], PersistentButton],
    submit: Callable[[], PersistentButton],
) -> None:
    """Flip the pressed option on its message, whose toggles and Submit are built again; nothing is recorded until
    Submit."""
    assert interaction.message is not None
    view = discord.ui.View(timeout=None)
    for row, button in enumerate_buttons(interaction.message):
        toggled = toggle_id.fullmatch(button.custom_id or "")
        item: PersistentButton
        if toggled:
            chosen = (button.style is CHOSEN) != (button.custom_id == pressed.item.custom_id)
            item = toggle(int(toggled["option"]), button.label or "?", chosen)
        else:
            item = submit()
        item.item.row = row
        view.add_item(item)
    await interaction.response.edit_message(view=view)


def chosen_options(message: discord.Message, toggle_id: re.Pattern[str]) -> list[int]:
    """The options chosen with the message's toggles, on Submit; refused when there is none."""
    chosen = [
        int(toggled["option"])
        for _, button in enumerate_buttons(message)
        if button.style is CHOSEN and (toggled := toggle_id.fullmatch(button.custom_id or ""))
    ]
    if not chosen:
        raise CourseError("Choose at least one option first, then press Submit.")
    return chosen


def enumerate_buttons(message: discord.Message) -> list[tuple[int, discord.Button]]:
    """(row, button) for every button on a message, as Discord holds it now."""
    return [
        (row, child)
        for row, component in enumerate(message.components)
        if isinstance(component, discord.ActionRow)
        for child in component.children
        if isinstance(child, discord.Button)
    ]


def graded_embed(result: AnswerFeedback, *, xp_awarded: int, more: Sequence[tuple[str, str]] = ()) -> discord.Embed:
    """A graded answer: the verdict, the student's answer (and the right one when wrong), why, `more`, the XP."""
    verdict = "✅ Right!" if result.correct else "❌ Not quite."
    page = embed(
        verdict, clip(strip_mentions(result.question_text), 1000), colour=SUCCESS if result.correct else FAILURE
    )
    fields = [("Your answer", ", ".join(result.chosen_options) or "—")]
    if not result.correct:
        fields.append(("Right answer", ", ".join(result.right_options)))
    if result.explanation:
        fields.append(("Why", strip_mentions(result.explanation)))
    fields += more
    if xp_awarded:
        fields.append(("XP", f"+{xp_awarded}"))
    return add_fields(page, fields)


# -- the quiz --------------------------------------------------------------------------------------------------


def question_embed(card: QuestionCard) -> discord.Embed:
    return embed(f"{card.quiz_title} · question {card.number}/{card.total}", question_text(card))


def question_view(card: QuestionCard) -> discord.ui.View:
    key = (card.attempt_id, card.question_id)
    return options_view(
        card, answer=partial(AnswerButton, *key), toggle=partial(ToggleButton, *key), submit=partial(SubmitButton, *key)
    )


def feedback_embed(result: AnswerResult) -> discord.Embed:
    if not result.immediate_feedback:
        return embed("Answer recorded", clip(strip_mentions(result.question_text), 1000))
    return graded_embed(result, xp_awarded=result.xp_awarded)


def summary_embed(summary: AttemptSummary) -> discord.Embed:
    verdict = "Passed 🎉" if summary.passed else "Not passed yet"
    page = embed(
        f"{summary.quiz_title}: {verdict}",
        f"Score **{summary.score:g}%** ({summary.correct_count}/{summary.total} right); "
        f"{summary.passing_score}% passes.\nReview it with `/quiz results`.",
        colour=SUCCESS if summary.passed else FAILURE,
    )
    if summary.xp_awarded:
        page.add_field(name="XP", value=f"+{summary.xp_awarded}")
    if summary.course_completed:
        page.add_field(name="Course", value="You completed the course! 🎓", inline=False)
    return page


async def record_answer(interaction: discord.Interaction, *, attempt: int, question: int, choice: list[int]) -> None:
    """Record an answer, close the question's message, and post the next question or the result."""
    bot: CourseBot = interaction.client  # type: ignore[assignment]
    # Acknowledge at once: under a burst of presses the database queues, and Discord wants an answer in 3 s.
    await interaction.response.defer()
    async with bot.db.session_scope() as session:
        result = await quizzes.answer(
            session,
            attempt_id=attempt,
            question_id=question,
            choice=choice,
            user_id=interaction.user.id,
            now=bot.clock.now(),
            settings=bot.settings,
        )
    await interaction.edit_original_response(embed=feedback_embed(result), view=None)
    if result.next_question is not None:
        await interaction.followup.send(
            embed=question_embed(result.next_question), view=question_view(result.next_question), ephemeral=True
        )
    elif result.finished is not None:
        await interaction.followup.send(embed=summary_embed(result.finished), ephemeral=True)


class AnswerButton(PersistentButton, template=r"quiz:(?P<attempt>\d+):(?P<question>\d+):(?P<option>\d+)"):
    def __init__(self, attempt: DatabaseId, question: DatabaseId, option: int, label: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.primary, custom_id=f"quiz:{attempt}:{question}:{option}"
            )
        )
        self.attempt, self.question, self.option = attempt, question, option

    async def handle(self, interaction: discord.Interaction) -> None:
        await record_answer(interaction, attempt=self.attempt, question=self.question, choice=[self.option])


class ToggleButton(PersistentButton, template=r"quiz:(?P<attempt>\d+):(?P<question>\d+):t(?P<option>\d+)"):
    def __init__(
        self, attempt: DatabaseId, question: DatabaseId, option: int, label: str, chosen: bool = False
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=CHOSEN if chosen else NOT_CHOSEN, custom_id=f"quiz:{attempt}:{question}:t{option}"
            )
        )
        self.attempt, self.question, self.option = attempt, question, option

    async def handle(self, interaction: discord.Interaction) -> None:
        key = (self.attempt, self.question)
        toggle, submit = partial(ToggleButton, *key), partial(SubmitButton, *key)
        await flip_toggle(interaction, self, TOGGLE, toggle=toggle, submit=submit)


class SubmitButton(PersistentButton, template=r"quiz:(?P<attempt>\d+):(?P<question>\d+):submit"):
    def __init__(self, attempt: DatabaseId, question: DatabaseId) -> None:
        super().__init__(
            discord.ui.Button(
                label="Submit", style=discord.ButtonStyle.primary, custom_id=f"quiz:{attempt}:{question}:submit"
            )
        )
        self.attempt, self.question = attempt, question

    async def handle(self, interaction: discord.Interaction) -> None:
        assert interaction.message is not None
        chosen = chosen_options(interaction.message, TOGGLE)
        await record_answer(interaction, attempt=self.attempt, question=self.question, choice=chosen)


TOGGLE = re.compile(r"quiz:\d+:\d+:t(?P<option>\d+)")


@app_commands.guild_only()
class Quiz(commands.GroupCog, group_name="quiz", group_description="Test what you learned"):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    @app_commands.command(description="Start (or resume) a quiz of your course")
    @app_commands.describe(quiz="Which quiz; by default your course's first one")
    @app_commands.autocomplete(quiz=quiz_titles_choices, course=courses_you_take)
    async def start(self, interaction: discord.Interaction, quiz: str | None = None, course: str | None = None) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            card = await quizzes.start(
                session,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                course_code=course,
                quiz_slug=quiz,
                now=self.bot.clock.now(),
            )
        await interaction.response.send_message(embed=question_embed(card), view=question_view(card), ephemeral=True)

    @app_commands.command(description="Review your latest finished quiz, question by question")
    @app_commands.autocomplete(quiz=quiz_titles_choices, course=courses_you_take)
    async def results(
        self, interaction: discord.Interaction, quiz: str | None = None, course: str | None = None
    ) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            review = await quizzes.results(
                session, guild_id=interaction.guild_id, user_id=interaction.user.id, course_code=course, quiz_slug=quiz
            )
        verdict = "passed" if review.passed else "not passed"
        header = f"Attempt {review.attempt_number}: **{review.score:g}%**, {verdict}."
        pages = []
        for page in in_pages(list(enumerate(review.questions, start=1)), 5):
            fields = [
                (
                    f"{'✅' if reviewed.correct else '❌'} {number}. " + clip(strip_mentions(reviewed.text), 200),
                    f"You: {', '.join(reviewed.chosen) or '—'}\nRight: {', '.join(reviewed.right)}"
                    + (f"\n{strip_mentions(reviewed.explanation)}" if reviewed.explanation else ""),
                )
                for number, reviewed in page
            ]
            pages.append(add_fields(embed(f"{review.quiz_title} · results", header), fields))
        await Paginator(pages, owner_id=interaction.user.id).start(interaction)


async def setup(bot: CourseBot) -> None:
    bot.add_dynamic_items(AnswerButton, ToggleButton, SubmitButton)
    await bot.add_cog(Quiz(bot))
