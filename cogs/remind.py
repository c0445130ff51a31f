"""`/remind …`: study reminders at a time of the student's own day, the Continue button they carry, and the
delivery of everything the outbox holds (reminders, nudges, announcements) on Discord.

Delivery (`Remind.deliver`, registered in `bot.notification_senders` for every kind; `bot.scheduler` hands it
each claimed row) works in three steps, so no transaction stays open across Discord:

1. one unit of work: quiet hours, then what the message says now (`reminders.compose`, `nudges.compose_nudge`),
   or why it is skipped;
2. Discord: is the student still a member (a REST lookup; gone -> skipped), then a DM; DMs closed (50007) -> the
   server's reminder channel, mentioning only that student, if one is set;
3. one unit of work: the outcome. Sent; skipped; failed (counted: after 3 in a row the student's reminders pause,
   and their next command tells them how to fix it); or, on a rate limit or a Discord outage, tried again later.
   A student found gone from the server has their reminders there paused.

Routes are prepared ahead (`Remind.prepare_routes`, run by `bot.scheduler` a few minutes before reminders come):
the DM channel opened and the membership checked beforehand, so at the busy minute a reminder is one request.
"""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import CourseBot
from bot.errors import NotFound
from bot.services import delivery, navigation, nudges, outbox, reminders, tenancy
from bot.services.coursepack.model import COURSE_CODE_PATTERN
from bot.services.delivery import PreparedRoute, RouteToPrepare
from bot.services.navigation import CourseEnd
from bot.services.nudges import NudgeMessage
from bot.services.outbox import Claimed
from bot.services.reminders import ReminderMessage, ReminderOverview, ReminderView
from cogs._autocomplete import Choices, courses_you_take
from cogs._input import NO_SUCH_ID
from cogs._limits import AUTOCOMPLETE_CHOICES_MAX
from cogs._text import strip_mentions
from cogs._ui import clip, embed, error_embed, progress_bar, send, success_embed
from cogs._views import DatabaseId, Paginator, PersistentButton
from cogs.lessons import lesson_pages
from db.models import NotificationKind
from db.session import is_database_fault

log = logging.getLogger(__name__)

# Discord's JSON error codes that decide a delivery (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
UNKNOWN_MEMBER = 10007
DMS_CLOSED = 50007
UNKNOWN_CHANNEL = 10003
# What this cog sends from the outbox (other kinds have their own senders).
SENT_HERE = (
    NotificationKind.REMINDER,
    NotificationKind.STREAK_AT_RISK,
    NotificationKind.COHORT_DEADLINE,
    NotificationKind.ANNOUNCEMENT,
)
# Reminders whose routes are prepared per batch: one read, then Discord, then one unit of work storing the routes.
PREPARE_BATCH = 200
# Another process may pause a student: the set of untold pauses is read again this often, on the next command.
UNTOLD_REREAD = timedelta(minutes=1)
COURSE_CODE = re.compile(COURSE_CODE_PATTERN)
UTC_HINT = (
    "You haven't set a time zone, so **UTC** is assumed. Set yours with `/profile timezone zone:` "
    "(e.g. `Europe/Paris`); your reminders follow it."
)


async def day_choices(interaction: discord.Interaction, current: str) -> Choices:
    suggested = reminders.suggest_days(current, limit=AUTOCOMPLETE_CHOICES_MAX)
    return [app_commands.Choice(name=days, value=days) for days in suggested]


# -- the Continue button ---------------------------------------------------------------------------------------


class ContinueButton(PersistentButton, template=r"remind:go:(?P<guild_id>\d+):(?P<course_code>.+)"):
    """Opens where the student left off in a course. Sent in DMs, so the guild rides in the custom_id; whoever
    presses it sees their own place (an ephemeral answer), and a forged id finds nothing."""

    def __init__(self, guild_id: DatabaseId, course_code: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Continue",
                emoji="▶",
                style=discord.ButtonStyle.primary,
                custom_id=f"remind:go:{guild_id}:{course_code}",
            )
        )
        self.guild_id, self.course_code = guild_id, course_code

    async def handle(self, interaction: discord.Interaction) -> None:
        if self.guild_id == NO_SUCH_ID or not COURSE_CODE.fullmatch(self.course_code):
            raise NotFound("course", clip(self.course_code, 20).replace("`", "'"))
        bot: CourseBot = interaction.client  # type: ignore[assignment]
        async with bot.db.session_scope() as session:
            page = await navigation.move(
                session,
                guild_id=self.guild_id,
                user_id=interaction.user.id,
                course_code=self.course_code,
                to="resume",
                now=bot.clock.now(),
                settings=bot.settings,
            )
        if isinstance(page, CourseEnd):  # `resume` stays on an item; kept for the type's sake
            await send(interaction, embed=success_embed(f"End of {page.course_code}"))
            return
        await Paginator(lesson_pages(page), owner_id=interaction.user.id).start(interaction)


def continue_view(guild_id: int, course_code: str | None) -> discord.ui.View | None:
    if course_code is None:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(ContinueButton(guild_id, course_code))
    return view


# -- rendering -------------------------------------------------------------------------------------------------


def reminder_embed(message: ReminderMessage) -> discord.Embed:
    """A reminder as the student reads it: where they are, what is next, what is not passed, their streak."""
    lines = []
    if message.current_title:
        lines.append(f"You left off at **{strip_mentions(message.current_title)}**.")
    if message.next_title:
        lines.append(f"Next up: **{strip_mentions(message.next_title)}**.")
    elif message.total and message.done >= message.total:
        lines.append("You finished every item. A quiz again, or `/course progress` to see it all? 🎉")
    if message.quiz_to_pass:
        lines.append(f"📝 Not passed yet: **{strip_mentions(message.quiz_to_pass)}**.")
    if message.reviews_due:
        plural = "s" if message.reviews_due != 1 else ""
        lines.append(f"🔁 {message.reviews_due} question{plural} to review: `/review`.")
    if message.streak_days:
        plural = "s" if message.streak_days != 1 else ""
        lines.append(f"🔥 {message.streak_days} day{plural} — today not counted yet.")
    else:
        lines.append("One lesson today starts a streak 🔥.")
    lines.append(progress_bar(message.done, message.total))
    page = embed(f"Study time: {strip_mentions(message.course_title)}", "\n".join(lines))
    page.set_footer(text=f"{message.course_code} · /remind show to change it, /remind off to stop")
    return page


def nudge_embed(message: NudgeMessage) -> discord.Embed:
    return embed(strip_mentions(message.title), strip_mentions(message.text))


def local_text(view: ReminderView) -> str:
    """`<t:…:F>` (each reader's own clock) and the same instant in the student's zone, as text."""
    if view.next_at is None or view.next_local is None:
        return "paused"
    return f"{discord.utils.format_dt(view.next_at, 'F')} ({view.next_local:%a %d %b, %H:%M} {view.time_zone})"


def describe_reminder(view: ReminderView) -> str:
    when = f"**{view.course_code}** · {view.local_time:%H:%M} {reminders.describe_days(view.days)}"
    if view.paused_reason:
        return f"{when} · ⏸ paused"
    return f"{when} · next {local_text(view)}"


def describe_quiet(found: ReminderOverview) -> str:
    quiet = found.quiet
    if quiet.hours is None:
        if quiet.chosen_by == "you":
            return "Quiet hours: off (your choice). `quiet:default` follows the server's again."
        return "Quiet hours: none. Add `quiet:22:00-07:00` to `/remind set` for some."
    whose = {"you": "yours", "server": "the server's", "bot": "the bot's default"}[quiet.chosen_by]
    return f"Quiet hours: **{quiet.hours}** ({whose}); nothing is sent inside them."


def zone_text(zone: str) -> str:
    return UTC_HINT if zone == "UTC" else f"Times are in your zone, **{zone}**."


def pause_embed(reason: str) -> discord.Embed:
    return error_embed(reason, title="Your reminders are paused")


# -- delivery --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Letter:
    """A composed message ready for Discord; `view` is built per send (a view belongs to one message)."""

    embed: discord.Embed
    guild_id: int
    course_code: str | None
    fallback_channel_id: int | None  # the guild's reminder channel, for DMs that are closed
    route: delivery.Route | None  # how to reach the student; None for a channel post

    def view(self) -> discord.ui.View:
        return continue_view(self.guild_id, self.course_code) or discord.utils.MISSING


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["sent", "skipped", "failed", "retry"]
    detail: str = ""
    opened_dm_channel_id: int | None = None  # a DM channel this send opened: stored, never opened again
    member_seen: bool = False  # Discord confirmed during this send that the student is in the guild
    member_left: bool = False  # Discord said during this send that the student is no longer in the guild


def only(user_id: int) -> discord.AllowedMentions:
    """Mentions that ping this one member and nobody else."""
    return discord.AllowedMentions(users=[discord.Object(user_id)], everyone=False, roles=False, replied_user=False)


def http_failure(error: discord.HTTPException) -> Outcome:
    """A Discord error after which nothing was sent: a rate limit or an outage is tried again later."""
    detail = f"Discord {error.status} (code {error.code}): {error.text}"
    return Outcome("retry" if error.status == 429 or error.status >= 500 else "failed", detail)


@app_commands.guild_only()
class Remind(commands.GroupCog, group_name="remind", group_description="Study reminders at a time of your day"):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot
        # (guild, user) paused and not told yet: their next command says so (`on_app_command_completion`).
        self.untold: set[tuple[int, int]] = set()
        self.untold_read_at = bot.clock.now()

    async def cog_load(self) -> None:
        for kind in SENT_HERE:
            self.bot.notification_senders[kind] = self.deliver
        await self._read_untold()

    async def cog_unload(self) -> None:
        for kind in SENT_HERE:
            if self.bot.notification_senders.get(kind) == self.deliver:
                del self.bot.notification_senders[kind]

    async def _read_untold(self) -> None:
        """Who paused and was not told yet, whichever process paused them (read again every UNTOLD_REREAD)."""
        self.untold_read_at = self.bot.clock.now()
        try:
            async with self.bot.db.session_scope() as session:
                self.untold = await delivery.untold_pauses(session)
        except Exception as error:
            if not is_database_fault(error):
                raise
            # The pauses are still shown by every /remind command; only the unprompted notice waits.
            log.warning("Could not read paused reminders: %r", error)

    # -- commands ----------------------------------------------------------------------------------------------

    @app_commands.command(description="Get a study reminder at a time of your day")
    @app_commands.describe(
        time="Your local time, 24-hour HH:MM, e.g. 09:00 (your zone: /profile timezone zone:)",
        days="every day (default), weekdays, weekends, or days such as mon,wed,fri",
        course="Which course (default: your latest)",
        quiet="Your quiet hours, e.g. 22:00-07:00 (nothing is sent in them); off, or default for the server's",
    )
    @app_commands.autocomplete(days=day_choices, course=courses_you_take)
    async def set(
        self,
        interaction: discord.Interaction,
        time: app_commands.Range[str, 1, 10],
        days: app_commands.Range[str, 1, 60] | None = None,
        course: str | None = None,
        quiet: app_commands.Range[str, 1, 20] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        at, chosen_days = reminders.parse_time(time), reminders.parse_days(days)
        async with self.bot.db.session_scope() as session:
            view = await reminders.set_reminder(
                session,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                course_code=course,
                at=at,
                days=chosen_days,
                now=self.bot.clock.now(),
                quiet=quiet,
            )
            found = await reminders.overview(
                session,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                default_quiet=self.bot.settings.reminders.default_quiet_hours,
            )
            # Running a command here shows they are a member: their first reminder needs no check.
            await delivery.remember_member(
                session, user_id=interaction.user.id, guild_id=interaction.guild_id, seen_at=self.bot.clock.now()
            )
            route = await delivery.route(session, user_id=interaction.user.id, guild_id=interaction.guild_id)
        self.untold.discard((interaction.guild_id, interaction.user.id))
        lines = [
            f"**{view.course_code}** at **{at:%H:%M}** {reminders.describe_days(chosen_days)}.",
            f"Next: {local_text(view)}.",
            zone_text(view.time_zone),
        ]
        if found.quiet.hours is not None and found.quiet.hours.covers(at):
            lines.append(f"⚠ {at:%H:%M} is inside your quiet hours ({found.quiet.hours}): it would never be sent.")
        elif quiet is not None:
            lines.append(describe_quiet(found))
        embeds = [success_embed("Reminder set", "\n".join(lines))]
        if found.pause_notice:
            embeds.append(pause_embed(found.pause_notice))
        await interaction.response.send_message(embeds=embeds, ephemeral=True)
        if route.dm_channel_id is None:
            await self._open_dm_ahead(interaction.user.id)

    async def _open_dm_ahead(self, user_id: int) -> None:
        """Open the student's DM channel now, not in the busy minute their reminders fall in (a request saved
        then); if Discord refuses, the first reminder opens it."""
        try:
            channel_id = await self._open_dm(user_id)
        except discord.HTTPException as error:
            log.info("Could not open a DM channel with %d ahead of their reminders: %s", user_id, error)
            return
        async with self.bot.db.session_scope() as session:
            await delivery.remember_dm_channel(session, user_id=user_id, channel_id=channel_id)

    @app_commands.command(description="Stop your study reminders (one course, or all)")
    @app_commands.describe(course="Only this course's reminder (default: all of yours here)")
    @app_commands.autocomplete(course=courses_you_take)
    async def off(self, interaction: discord.Interaction, course: str | None = None) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            stopped = await reminders.turn_off(
                session, guild_id=interaction.guild_id, user_id=interaction.user.id, course_code=course
            )
        self.untold.discard((interaction.guild_id, interaction.user.id))
        if stopped:
            reply = success_embed("Reminders off", f"No more reminders for {', '.join(stopped)}.")
        else:
            reply = embed("No reminders", "You had no reminder to stop here. `/remind set time:09:00` sets one.")
        await interaction.response.send_message(embed=reply, ephemeral=True)

    @app_commands.command(description="Your study reminders, in your time zone, and when the next one comes")
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            found = await reminders.overview(
                session,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                default_quiet=self.bot.settings.reminders.default_quiet_hours,
            )
        self.untold.discard((interaction.guild_id, interaction.user.id))
        if found.reminders:
            body = [describe_reminder(view) for view in found.reminders]
            body += sorted({f"⏸ {view.paused_reason}" for view in found.reminders if view.paused_reason})
        else:
            body = ["No reminders yet. `/remind set time:09:00` reminds you every day at 09:00 your time."]
        body += ["", zone_text(found.time_zone), describe_quiet(found)]
        await interaction.response.send_message(embed=embed("Your reminders", "\n".join(body)), ephemeral=True)

    @commands.Cog.listener()
    async def on_app_command_completion(self, interaction: discord.Interaction, command: Any) -> None:
        """Tell a student whose reminders paused, after the first command they use (once)."""
        if self.bot.clock.now() - self.untold_read_at >= UNTOLD_REREAD:
            await self._read_untold()
        key = (interaction.guild_id, interaction.user.id)
        if key not in self.untold or interaction.guild_id is None:
            return
        self.untold.discard(key)  # type: ignore[arg-type]
        async with self.bot.db.session_scope() as session:
            reason = await delivery.take_pause_notice(
                session, user_id=interaction.user.id, guild_id=interaction.guild_id
            )
        if reason:
            with suppress(discord.HTTPException):  # e.g. a modal answered: no message to follow up
                await interaction.followup.send(embed=pause_embed(reason), ephemeral=True)

    # -- delivery ----------------------------------------------------------------------------------------------

    async def deliver(self, claimed: Claimed) -> None:
        """Send one claimed outbox row and report how it went (see the module docstring)."""
        async with self.bot.db.session_scope() as session:
            letter = await self._compose(session, claimed)
        if isinstance(letter, str):
            outcome = Outcome("skipped", letter)
        else:
            try:
                outcome = await self._send(claimed, letter)
            except discord.HTTPException as error:
                outcome = http_failure(error)
        await self._report(claimed, outcome)

    async def _compose(self, session: AsyncSession, claimed: Claimed) -> Letter | str:
        """What to send, or why not (one unit of work, no Discord I/O)."""
        settings = self.bot.settings.reminders
        if claimed.user_id is not None and await reminders.in_quiet_hours(
            session,
            user_id=claimed.user_id,
            guild_id=claimed.guild_id,
            now=self.bot.clock.now(),
            default=settings.default_quiet_hours,
        ):
            return "quiet hours"
        if claimed.kind is NotificationKind.REMINDER:
            composed: ReminderMessage | NudgeMessage | str = await reminders.compose(session, claimed)
        else:
            composed = await nudges.compose_nudge(session, claimed)
        if isinstance(composed, str):
            return composed
        fallback = route = None
        if claimed.user_id is not None:
            fallback = (await tenancy.guild_config(session, claimed.guild_id)).reminder_channel_id
            route = await delivery.route(session, user_id=claimed.user_id, guild_id=claimed.guild_id)
        embed = reminder_embed(composed) if isinstance(composed, ReminderMessage) else nudge_embed(composed)
        return Letter(embed, composed.guild_id, composed.course_code, fallback, route)

    async def _send(self, claimed: Claimed, letter: Letter) -> Outcome:
        if claimed.user_id is None or letter.route is None:  # an announcement: a channel post that pings nobody
            if claimed.channel_id is None:
                return Outcome("failed", "no channel to post in")
            channel = self.bot.get_partial_messageable(claimed.channel_id, guild_id=claimed.guild_id)
            await channel.send(embed=letter.embed, view=letter.view(), allowed_mentions=discord.AllowedMentions.none())
            return Outcome("sent", "channel")
        user_id = claimed.user_id
        every = timedelta(days=self.bot.settings.reminders.member_check_days)
        member_seen = letter.route.member_check_due(now=self.bot.clock.now(), every=every)
        if member_seen and (gone := await self._gone(claimed.guild_id, user_id)):
            return gone
        opened = None
        try:
            try:
                if letter.route.dm_channel_id is None:
                    opened = await self._open_dm(user_id)
                await self._send_dm(opened or letter.route.dm_channel_id, letter)
            except discord.NotFound as error:  # the stored channel is gone: open it again, once
                if error.code != UNKNOWN_CHANNEL or opened is not None:
                    raise
                opened = await self._open_dm(user_id)
                await self._send_dm(opened, letter)
            return Outcome("sent", "DM", opened, member_seen)
        except discord.Forbidden as error:
            if error.code != DMS_CLOSED:
                raise
        # DMs closed, or the student shares no server with the bot any more: which one, Discord says now.
        if not member_seen and (gone := await self._gone(claimed.guild_id, user_id)):
            return gone
        if letter.fallback_channel_id is None:
            return Outcome(
                "failed", "DMs closed (50007) and no reminder channel set in /admin setup", opened, member_seen=True
            )
        channel = self.bot.get_partial_messageable(letter.fallback_channel_id, guild_id=claimed.guild_id)
        await channel.send(
            content=f"<@{user_id}>", embed=letter.embed, view=letter.view(), allowed_mentions=only(user_id)
        )
        return Outcome("sent", "reminder channel", opened, member_seen=True)

    async def _gone(self, guild_id: int, user_id: int) -> Outcome | None:
        """Why the student cannot be reached in this guild any more, or None while they are still in it."""
        try:
            await self.bot.http.get_member(guild_id, user_id)
        except discord.NotFound as error:
            if error.code == UNKNOWN_MEMBER:
                return Outcome("skipped", "left the server", member_left=True)
            return Outcome("skipped", f"not found: {error.text}")
        return None

    async def _open_dm(self, user_id: int) -> int:
        return (await self.bot.create_dm(discord.Object(user_id))).id

    async def _send_dm(self, channel_id: int, letter: Letter) -> None:
        channel = self.bot.get_partial_messageable(channel_id, type=discord.ChannelType.private)
        await channel.send(embed=letter.embed, view=letter.view())

    async def _report(self, claimed: Claimed, outcome: Outcome) -> None:
        now = self.bot.clock.now()
        paused = False
        async with self.bot.db.session_scope() as session:
            if outcome.status == "sent":
                await outbox.mark_sent(session, claimed.id, now=now)
            elif outcome.status == "skipped":
                await outbox.mark_skipped(session, claimed.id, reason=outcome.detail)
            elif outcome.status == "retry":
                delay = timedelta(seconds=self.bot.settings.reminders.retry_delay_seconds * claimed.attempts)
                await outbox.retry(session, claimed, error=outcome.detail, now=now, delay=delay)
            else:
                await outbox.mark_failed(session, claimed.id, error=outcome.detail)
            if claimed.user_id is not None and outcome.opened_dm_channel_id is not None:
                await delivery.remember_dm_channel(
                    session, user_id=claimed.user_id, channel_id=outcome.opened_dm_channel_id
                )
            if claimed.user_id is not None and outcome.member_left:
                paused = await delivery.remember_left(session, user_id=claimed.user_id, guild_id=claimed.guild_id)
            if claimed.user_id is not None and outcome.status in ("sent", "failed"):
                paused = await delivery.record_delivery(
                    session,
                    user_id=claimed.user_id,
                    guild_id=claimed.guild_id,
                    delivered=outcome.status == "sent",
                    member_seen_at=now if outcome.member_seen else None,
                )
        if paused and claimed.user_id is not None:
            self.untold.add((claimed.guild_id, claimed.user_id))
        level = logging.DEBUG if outcome.status in ("sent", "skipped") else logging.INFO
        log.log(level, "Notification %d (%s): %s %s", claimed.id, claimed.kind, outcome.status, outcome.detail)

    # -- routes prepared ahead ---------------------------------------------------------------------------------

    async def prepare_routes(self, *, since: datetime, until: datetime) -> int:
        """Before the reminders due in (`since`, `until`] come, ask Discord what their sends would ask it: open the
        DM channel of each student who has none stored, and do the membership check that falls due by then (a
        student who left has their reminders paused). At the busy minute each reminder is then one request.
        Nothing is sent to anyone. `send_concurrency` students at a time; per batch one read and one unit of work
        storing what was learnt, none open while Discord answers. One student's Discord error never stops the
        rest: what failed stays unknown, and that reminder's send does it as before. Returns the students asked."""
        settings = self.bot.settings.reminders
        gate = asyncio.Semaphore(settings.send_concurrency)
        check_every = timedelta(days=settings.member_check_days)
        asked: set[tuple[int, int]] = set()  # a student with two reminders in the window straddling two batches
        after: tuple[datetime, int] | None = None
        while True:
            async with self.bot.db.session_scope() as session:
                batch = await delivery.routes_to_prepare(
                    session, since=since, until=until, check_every=check_every, limit=PREPARE_BATCH, after=after
                )
            routes = [route for route in batch.routes if (route.user_id, route.guild_id) not in asked]
            asked.update((route.user_id, route.guild_id) for route in routes)
            found = await asyncio.gather(*(self._prepare_route(route, gate) for route in routes))
            async with self.bot.db.session_scope() as session:
                paused = await delivery.remember_routes(
                    session, [route for route in found if route is not None], seen_at=self.bot.clock.now()
                )
            self.untold.update(paused)
            if batch.resume_after is None:
                return len(asked)
            after = batch.resume_after

    async def _prepare_route(self, route: RouteToPrepare, gate: asyncio.Semaphore) -> PreparedRoute | None:
        member_seen, channel_id = False, None
        async with gate:
            try:
                if route.check_member:
                    if (gone := await self._gone(route.guild_id, route.user_id)) is not None:
                        return PreparedRoute(route.user_id, route.guild_id, left=True) if gone.member_left else None
                    member_seen = True
                if route.open_dm:
                    channel_id = await self._open_dm(route.user_id)
            except discord.HTTPException as error:
                log.info("Could not prepare the route to %d ahead of their reminder: %s", route.user_id, error)
        return PreparedRoute(route.user_id, route.guild_id, member_seen, channel_id)


async def setup(bot: CourseBot) -> None:
    bot.add_dynamic_items(ContinueButton)
    await bot.add_cog(Remind(bot))
