"""Rendering for `/teach analytics` and `/teach gradebook`, and delivery of the weekly digest: embeds that carry
every figure as text (for screen readers and the console), the charts as attachments, and the view that opens item
analysis, the students at risk and the tutor insight. Charts render in a thread, never on the event loop."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord

from bot.services import outbox
from bot.services.analytics import at_risk, charts, digest, insight, items
from bot.services.analytics.at_risk import StudentAtRisk
from bot.services.analytics.digest import Digest
from bot.services.analytics.insight import TutorInsight
from bot.services.analytics.items import QuizStatistics
from bot.services.analytics.overview import Overview, Scope
from bot.services.outbox import Claimed
from cogs._input import NO_SUCH_ID, custom_id_number
from cogs._limits import CHOICE_NAME_MAX
from cogs._text import strip_mentions
from cogs._ui import add_fields, clip, embed, in_pages
from cogs._views import OwnedView, Paginator

if TYPE_CHECKING:
    from bot.app import CourseBot

log = logging.getLogger(__name__)

STUDENTS_PER_PAGE = 10
QUESTIONS_PER_PAGE = 5
QUIZZES_IN_SELECT = 25  # Discord's limit of options in a select menu


def percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.0f}%"


def _scope_name(scope: Scope) -> str:
    return f"{scope.course_code}" + (f" · {strip_mentions(scope.cohort)}" if scope.cohort else "")


# -- the overview ----------------------------------------------------------------------------------------------


def overview_embed(report: Overview, period: str) -> discord.Embed:
    today, scope = report.today, report.scope
    lines = [
        f"**{len(report.days)}** day(s) ({period}), today counted live so far.",
        f"Students: **{today.total_students}** enrolled · **{today.active_students}** active today · "
        f"**{report.mean_active:.1f}** active per day on average",
        f"Engagement score: **{today.engagement_score:.0f}**/100 today, **{report.mean_engagement:.0f}** on average",
        f"Quizzes: **{report.quiz_attempts}** attempt(s) submitted, pass rate **{percent(report.quiz_pass_rate)}**",
        f"Tutor: **{report.total('tutor_sessions')}** session(s), **{report.total('tutor_messages')}** question(s), "
        f"{report.total('thumbs_up')} 👍 / {report.total('thumbs_down')} 👎, "
        f"{percent(_share(report.total('cached_replies'), report.total('tutor_replies')))} of replies from the cache, "
        f"{report.total('tutor_tokens'):,} tokens",
    ]
    page = embed(f"{_scope_name(scope)} analytics", "\n".join(lines))
    funnel = [f"{strip_mentions(title)}: {percent(share)}" for title, share in report.funnel]
    weakest = [
        f"{strip_mentions(name)}: {percent(mean)} ({count} student(s))" for name, mean, count in report.lowest_mastery
    ]
    fields = [
        ("Completion by module", "\n".join(funnel) or "No published module yet."),
        ("Lowest mastery", "\n".join(weakest) or "No concept mastery recorded yet."),
        ("Quiz scores", _score_summary(report.scores, scope.passing_score)),
    ]
    add_fields(page, fields)
    page.set_footer(text="Charts attached. Item analysis, students at risk and tutor insight below.")
    return page


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _score_summary(scores: Sequence[float], passing: int) -> str:
    if not scores:
        return "No quiz submitted in this period."
    ordered = sorted(scores)
    median = ordered[len(ordered) // 2]
    passed = sum(score >= passing for score in scores)
    return f"{len(scores)} attempt(s), median {median:.0f}%, {passed} at or above the passing {passing}%"


def overview_charts(report: Overview) -> list[tuple[str, bytes]]:
    """(filename, PNG) of each chart: CPU work, for `asyncio.to_thread`."""
    course = report.scope.course_code
    return [
        (
            "active-students.png",
            charts.active_students(
                [(day.day, day.active_students, day.total_students) for day in report.days], course=course
            ),
        ),
        ("completion-by-module.png", charts.completion_funnel(report.funnel, course=course)),
        ("lowest-mastery.png", charts.lowest_mastery(report.lowest_mastery, course=course)),
        (
            "quiz-scores.png",
            charts.score_distribution(report.scores, passing=report.scope.passing_score, course=course),
        ),
    ]


def as_files(rendered: Sequence[tuple[str, bytes]]) -> list[discord.File]:
    return [discord.File(io.BytesIO(data), filename=name) for name, data in rendered]


# -- drill-downs -----------------------------------------------------------------------------------------------


def item_pages(stats: QuizStatistics, scope: Scope) -> list[discord.Embed]:
    mean = "—" if stats.mean_score is None else f"{stats.mean_score:.0f}%"
    header = (
        f"{stats.first_attempts} first attempt(s), mean score {mean}. Facility: the share right on first attempts. "
        "Discrimination: how well the question separates stronger from weaker students (-100 to 100)."
    )
    fields = [_item_field(item) for item in stats.items] or [("No questions", "This quiz has no question.")]
    title = f"{_scope_name(scope)} · {strip_mentions(stats.title)}: item analysis"
    return [add_fields(embed(title, header), page) for page in in_pages(fields, QUESTIONS_PER_PAGE)]


def _item_field(item: items.ItemStatistics) -> tuple[str, str]:
    facility = "—" if item.facility is None else f"{item.facility:.0f}%"
    discrimination = "—" if item.discrimination is None else f"{item.discrimination:.0f}"
    lines = [f"Facility {facility} · discrimination {discrimination} · {item.first_attempts} first attempt(s)"]
    if item.wrong_answer:
        lines.append(
            f"Most chosen wrong answer: {clip(strip_mentions(item.wrong_answer), 200)} ×{item.wrong_answer_count}"
        )
    lines += [f"⚠ {flag}" for flag in item.flags]
    return (f"Q{item.position}. {clip(strip_mentions(item.text), 200)}", "\n".join(lines))


def at_risk_pages(students: Sequence[StudentAtRisk], scope: Scope) -> list[discord.Embed]:
    title = f"{_scope_name(scope)}: students at risk ({len(students)})"
    if not students:
        return [embed(title, "Nobody: everyone is active, passing and keeping pace.")]
    pages = []
    for page in in_pages(students, STUDENTS_PER_PAGE):
        fields = [
            (
                f"{strip_mentions(student.display_name)} · {strip_mentions(student.cohort)}",
                "\n".join(f"• {reason}" for reason in student.reasons)
                + f"\n{student.progress:.0%} done · last active "
                + (discord.utils.format_dt(student.last_active, "R") if student.last_active else "never"),
            )
            for student in page
        ]
        pages.append(add_fields(embed(title, "Only staff see this list."), fields))
    return pages


def insight_embed(found: TutorInsight, scope: Scope) -> discord.Embed:
    def listed(pairs: Sequence[tuple[str, int]], unit: str) -> str:
        return "\n".join(f"{strip_mentions(name)}: {count} {unit}" for name, count in pairs) or "Nothing yet."

    fields = [
        ("Most discussed concepts", listed(found.discussed, "citation(s)")),
        ("Most cited sources", listed(found.sources, "citation(s)")),
        ("Not answered from the material", "\n".join(f"• {strip_mentions(q)}" for q in found.unanswered) or "None."),
        (
            "Answers rated 👎",
            "\n".join(
                f"• {strip_mentions(answer)}" + (f"\n  “{strip_mentions(comment)}”" if comment else "")
                for answer, comment in found.disliked
            )
            or "None.",
        ),
        ("Most forgotten in review", listed(found.forgotten, "lapse(s)")),
    ]
    return add_fields(embed(f"{_scope_name(scope)}: tutor insight", "The last 30 days of tutor conversations."), fields)


def quiz_choice(value: str) -> int:
    """The quiz id a select value names; a forged value names no quiz (and is not found), it never breaks."""
    return custom_id_number(value) if value.isdigit() else NO_SUCH_ID


class AnalyticsView(OwnedView):
    """Under the overview: a quiz select for item analysis, and buttons for the students at risk and tutor insight.
    Each answer is a new private message, so the overview and its charts stay in place."""

    def __init__(self, bot: CourseBot, scope: Scope, quizzes: Sequence[tuple[int, str]], *, owner_id: int) -> None:
        super().__init__(owner_id=owner_id, timeout=900)
        self.bot, self.scope = bot, scope
        if quizzes:
            self.quiz.options = [
                discord.SelectOption(label=clip(title, CHOICE_NAME_MAX), value=str(item_id))
                for item_id, title in quizzes[:QUIZZES_IN_SELECT]
            ]
        else:
            self.remove_item(self.quiz)

    @discord.ui.select(placeholder="Item analysis of a quiz…", min_values=1, max_values=1)
    async def quiz(self, interaction: discord.Interaction, select: discord.ui.Select[AnalyticsView]) -> None:
        async with self.bot.db.session_scope() as session:
            stats = await items.quiz_statistics(
                session,
                course_id=self.scope.course_id,
                item_id=quiz_choice(select.values[0]),
                offering_id=self.scope.offering_id,
            )
        await Paginator(item_pages(stats, self.scope), owner_id=self.owner_id).start(interaction)

    @discord.ui.button(label="Students at risk", emoji="🚩", style=discord.ButtonStyle.secondary)
    async def at_risk(self, interaction: discord.Interaction, button: discord.ui.Button[AnalyticsView]) -> None:
        settings = self.bot.settings.analytics
        async with self.bot.db.session_scope() as session:
            students = await at_risk.students_at_risk(
                session,
                scope=self.scope,
                now=self.bot.clock.now(),
                inactive_days=settings.inactive_days,
                pace_margin=settings.behind_pace_points / 100,
            )
        await Paginator(at_risk_pages(students, self.scope), owner_id=self.owner_id).start(interaction)

    @discord.ui.button(label="Tutor insight", emoji="💬", style=discord.ButtonStyle.secondary)
    async def insight(self, interaction: discord.Interaction, button: discord.ui.Button[AnalyticsView]) -> None:
        async with self.bot.db.session_scope() as session:
            found = await insight.tutor_insight(
                session, course_id=self.scope.course_id, since=self.bot.clock.now() - timedelta(days=30)
            )
        await Paginator([insight_embed(found, self.scope)], owner_id=self.owner_id).start(interaction)


# -- the weekly digest -----------------------------------------------------------------------------------------


def _change(now: float, before: float, *, share: bool = False) -> str:
    shown = percent(now) if share else f"{now:.1f}".removesuffix(".0")
    was = percent(before) if share else f"{before:.1f}".removesuffix(".0")
    arrow = "▲" if now > before else "▼" if now < before else "="
    return f"**{shown}** ({arrow} from {was})"


def digest_embed(found: Digest) -> discord.Embed:
    this, before = found.this_week, found.week_before
    rate = this.quiz_pass_rate
    lines = [
        f"Week of {found.week_start:%d %b %Y}, against the week before.",
        f"Students enrolled: **{this.students}**",
        f"Active per day: {_change(this.mean_active, before.mean_active)}",
        f"Engagement score: {_change(this.mean_engagement, before.mean_engagement)}",
        f"Quiz attempts: {_change(this.quiz_attempts, before.quiz_attempts)}",
        f"Quiz pass rate: {percent(rate)} (was {percent(before.quiz_pass_rate)})",
        f"Tutor questions: {_change(this.tutor_questions, before.tutor_questions)}",
        "",
        f"More with `/teach analytics course:{found.course_code}`.",
    ]
    return embed(
        f"Weekly digest: {strip_mentions(found.course_code)} · {strip_mentions(found.course_title)}", "\n".join(lines)
    )


def digest_chart(found: Digest) -> bytes:
    return charts.active_students(
        [(day.day, day.active_students, day.total_students) for day in found.days], course=found.course_code
    )


async def deliver_digest(bot: CourseBot, claimed: Claimed) -> None:
    """Send one claimed DIGEST row (a staff channel post or an instructor's DM) and report how it went."""
    async with bot.db.session_scope() as session:
        found = await digest.compose_digest(session, claimed)
    now = bot.clock.now()
    if isinstance(found, str):
        async with bot.db.session_scope() as session:
            await outbox.mark_skipped(session, claimed.id, reason=found)
        return
    chart = await asyncio.to_thread(digest_chart, found)
    message: dict[str, Any] = {
        "embed": digest_embed(found),
        "file": discord.File(io.BytesIO(chart), filename="active-students.png"),
        "allowed_mentions": discord.AllowedMentions.none(),
    }
    try:
        if claimed.channel_id is not None:
            await bot.get_partial_messageable(claimed.channel_id, guild_id=claimed.guild_id).send(**message)
        elif claimed.user_id is not None:
            await (await bot.create_dm(discord.Object(claimed.user_id))).send(**message)
    except discord.HTTPException as error:
        detail = f"Discord {error.status} (code {error.code}): {error.text}"
        async with bot.db.session_scope() as session:
            if error.status == 429 or error.status >= 500:
                delay = timedelta(seconds=bot.settings.reminders.retry_delay_seconds * claimed.attempts)
                await outbox.retry(session, claimed, error=detail, now=now, delay=delay)
            else:
                await outbox.mark_failed(session, claimed.id, error=detail)
        log.info("Digest %d not sent: %s", claimed.id, detail)
        return
    async with bot.db.session_scope() as session:
        await outbox.mark_sent(session, claimed.id, now=now)
