"""`/review` and `/practice`: spaced-repetition reviews of the questions a student answered, and adaptive practice.

Both show a card with the quiz's look and persistent buttons whose custom_id carries everything a press needs:
`card:{mode}:{owner}:{question}:{reps}:{number}:{concept}:{option}`, where mode is `r` (review) or `p` (practice),
`reps` the card's version when shown (so a double click counts once), `number` the card's place in the session and
`concept` the concept a practice drills (0: the weakest, chosen anew each time). Multi-select questions toggle
their options on the message, as in a quiz, and read them back on Submit.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass
from functools import partial

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.services import practice, reviews
from bot.services.reviews import ReviewAnswer, ReviewQuestion
from cogs._autocomplete import concepts_of_your_course, courses_you_take
from cogs._ui import embed
from cogs._views import DatabaseId, PersistentButton
from cogs.quiz import CHOSEN, NOT_CHOSEN, chosen_options, flip_toggle, graded_embed, options_view, question_text
from db.models import MasteryLevel

REVIEW, PRACTICE = "r", "p"
CARD = r"card:(?P<mode>[rp]):(?P<owner>\d+):(?P<question>\d+):(?P<reps>\d+):(?P<number>\d+):(?P<concept>\d+)"
TOGGLE = re.compile(CARD + r":t(?P<option>\d+)")
LEVEL_NAMES = {
    MasteryLevel.NOT_STARTED: "new",
    MasteryLevel.IN_PROGRESS: "in progress",
    MasteryLevel.MASTERED: "mastered",
}


@dataclass(frozen=True, slots=True)
class CardKey:
    """What a card's buttons carry (see the module docstring)."""

    mode: str
    owner: int
    question: int
    reps: int
    number: int
    concept: int

    @property
    def prefix(self) -> str:
        return f"card:{self.mode}:{self.owner}:{self.question}:{self.reps}:{self.number}:{self.concept}"

    @classmethod
    def of(cls, mode: str, card: ReviewQuestion, concept: int) -> CardKey:
        return cls(mode, card.owner_id, card.question_id, card.reps, card.number, concept)


def card_embed(card: ReviewQuestion, title: str) -> discord.Embed:
    return embed(title, question_text(card))


def card_view(mode: str, card: ReviewQuestion, concept: int = 0) -> discord.ui.View:
    key = astuple(CardKey.of(mode, card, concept))
    return options_view(
        card,
        answer=partial(CardAnswerButton, *key),
        toggle=partial(CardToggleButton, *key),
        submit=partial(CardSubmitButton, *key),
    )


def mastery_lines(concepts: list[practice.ConceptStanding], width: int = 10) -> str:
    """One bar per concept, filled to the student's confidence: what `/course progress` shows as mastery."""
    lines = []
    for concept in concepts:
        filled = round(width * concept.confidence) if concept.level is not MasteryLevel.NOT_STARTED else 0
        mark = " ✓" if concept.level is MasteryLevel.MASTERED else ""
        lines.append(f"`{'▰' * filled}{'▱' * (width - filled)}` {concept.name}{mark}")
    return "\n".join(lines)


def review_title(card: ReviewQuestion) -> str:
    left = f" of {card.due_count} due today" if card.due_count else ""
    return f"Review · card {card.number}{left}"


def practice_title(pick: practice.PracticePick) -> str:
    how = "drill" if pick.drilled else f"your weakest open concept, {LEVEL_NAMES[pick.level]}"
    return f"Practice · {pick.concept_name} ({how}) · question {pick.question.number}"


def feedback_embed(result: ReviewAnswer) -> discord.Embed:
    next_review = ("Next review", discord.utils.format_dt(result.next_due, "R"))
    return graded_embed(result, xp_awarded=result.xp_awarded, more=[next_review])


async def record_answer(interaction: discord.Interaction, key: CardKey, choice: list[int]) -> None:
    """Record the answer once, show the feedback in place of the card, then post the next card or the end."""
    bot: CourseBot = interaction.client  # type: ignore[assignment]
    await interaction.response.defer()
    async with bot.db.session_scope() as session:
        result = await reviews.answer(
            session,
            owner_id=key.owner,
            user_id=interaction.user.id,
            question_id=key.question,
            seen_reps=key.reps,
            choice=choice,
            number=key.number,
            now=bot.clock.now(),
            settings=bot.settings,
            practice=key.mode == PRACTICE,
        )
        pick = None
        if key.mode == PRACTICE and key.number < bot.settings.reviews.practice_session_questions:
            pick = await practice.next_question(
                session,
                user_id=interaction.user.id,
                course_id=result.course_id,
                concept_id=key.concept or None,
                exclude=key.question,
                number=key.number + 1,
            )
    await interaction.edit_original_response(embed=feedback_embed(result), view=None)
    if pick is not None:
        await interaction.followup.send(
            embed=card_embed(pick.question, practice_title(pick)),
            view=card_view(PRACTICE, pick.question, key.concept),
            ephemeral=True,
        )
    elif key.mode == PRACTICE:
        done = "Well practised! `/practice` again for more, `/course progress` for your mastery."
        await interaction.followup.send(embed=embed("Practice done", done), ephemeral=True)
    elif result.next_question is not None:
        await interaction.followup.send(
            embed=card_embed(result.next_question, review_title(result.next_question)),
            view=card_view(REVIEW, result.next_question),
            ephemeral=True,
        )
    else:
        more = "More cards are due today: run `/review` again." if result.more_due else "All caught up for today! 🎉"
        await interaction.followup.send(embed=embed("Review session done", more), ephemeral=True)


class CardAnswerButton(PersistentButton, template=CARD + r":(?P<option>\d+)"):
    def __init__(
        self, mode: str, owner: int, question: DatabaseId, reps: int, number: int, concept: int, option: int, label: str
    ) -> None:
        self.key = CardKey(mode, owner, question, reps, number, concept)
        super().__init__(
            discord.ui.Button(label=label, style=discord.ButtonStyle.primary, custom_id=f"{self.key.prefix}:{option}")
        )
        self.option = option

    async def handle(self, interaction: discord.Interaction) -> None:
        await record_answer(interaction, self.key, [self.option])


class CardToggleButton(PersistentButton, template=CARD + r":t(?P<option>\d+)"):
    def __init__(
        self,
        mode: str,
        owner: int,
        question: DatabaseId,
        reps: int,
        number: int,
        concept: int,
        option: int,
        label: str,
        chosen: bool = False,
    ) -> None:
        self.key = CardKey(mode, owner, question, reps, number, concept)
        style = CHOSEN if chosen else NOT_CHOSEN
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"{self.key.prefix}:t{option}"))

    async def handle(self, interaction: discord.Interaction) -> None:
        key = astuple(self.key)
        toggle, submit = partial(CardToggleButton, *key), partial(CardSubmitButton, *key)
        await flip_toggle(interaction, self, TOGGLE, toggle=toggle, submit=submit)


class CardSubmitButton(PersistentButton, template=CARD + r":submit"):
    def __init__(self, mode: str, owner: int, question: DatabaseId, reps: int, number: int, concept: int) -> None:
        self.key = CardKey(mode, owner, question, reps, number, concept)
        super().__init__(
            discord.ui.Button(label="Submit", style=discord.ButtonStyle.primary, custom_id=f"{self.key.prefix}:submit")
        )

    async def handle(self, interaction: discord.Interaction) -> None:
        assert interaction.message is not None
        await record_answer(interaction, self.key, chosen_options(interaction.message, TOGGLE))


class Review(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    @app_commands.command(description="Review the questions you are about to forget (spaced repetition)")
    @app_commands.describe(course="Which course; by default your latest")
    @app_commands.autocomplete(course=courses_you_take)
    @app_commands.guild_only()
    async def review(self, interaction: discord.Interaction, course: str | None = None) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            started = await reviews.start(
                session,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                course_code=course,
                now=self.bot.clock.now(),
            )
        card = started.question
        if card is None:
            later = (
                f"Your next card is due {discord.utils.format_dt(started.next_due, 'R')}."
                if started.next_due
                else "Answer quiz questions (`/quiz start`) and they come back here when it is time to review them."
            )
            await interaction.response.send_message(
                embed=embed(f"Nothing to review in {started.course_code} today", later), ephemeral=True
            )
            return
        await interaction.response.send_message(
            embed=card_embed(card, review_title(card)), view=card_view(REVIEW, card), ephemeral=True
        )

    @app_commands.command(description="Practise your weakest concept, or drill one")
    @app_commands.describe(course="Which course; by default your latest", concept="A concept to drill (name or slug)")
    @app_commands.autocomplete(course=courses_you_take, concept=concepts_of_your_course)
    @app_commands.guild_only()
    async def practice(
        self, interaction: discord.Interaction, course: str | None = None, concept: str | None = None
    ) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            pick = await practice.start(
                session, guild_id=interaction.guild_id, user_id=interaction.user.id, course_code=course, concept=concept
            )
        await interaction.response.send_message(
            embed=card_embed(pick.question, practice_title(pick)),
            view=card_view(PRACTICE, pick.question, pick.concept_id if pick.drilled else 0),
            ephemeral=True,
        )


async def setup(bot: CourseBot) -> None:
    bot.add_dynamic_items(CardAnswerButton, CardToggleButton, CardSubmitButton)
    await bot.add_cog(Review(bot))
