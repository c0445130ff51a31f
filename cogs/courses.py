"""`/course …`: find, join, leave and follow a course."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.errors import InvalidInput
from bot.services import audit, courses, enrollment, navigation, practice, submissions, tenancy
from bot.tutor import materials
from cogs._autocomplete import courses_you_take, published_courses
from cogs._limits import EMBED_FIELD_VALUE_MAX
from cogs._roles import grant_problem
from cogs._text import strip_mentions
from cogs._ui import add_fields, clip, embed, progress_bar, success_embed
from cogs.review import mastery_lines
from db.models import EnrollmentStatus

log = logging.getLogger(__name__)

# How much of a course's description each command shows: a line in `/course list`, and in `/course info` the start,
# leaving room for the fields in the embed.
LISTED_DESCRIPTION_CHARS = 300
INFO_DESCRIPTION_CHARS = 2000

STATUS_LABEL = {
    EnrollmentStatus.ACTIVE: "enrolled",
    EnrollmentStatus.COMPLETED: "completed ✓",
    EnrollmentStatus.WAITLISTED: "on the waitlist",
    EnrollmentStatus.PENDING: "pending",
}


async def change_role(
    bot: CourseBot, interaction: discord.Interaction, *, user_id: int, role_id: int, add: bool, course_code: str
) -> str | None:
    """Grant or remove a cohort role; when the role may not be handed out (see `cogs._roles`) or Discord fails,
    tell the instructors (audit row + announcement channel) and return a line for the student. None when it worked."""
    guild = interaction.guild
    assert guild is not None
    reason = f"Coursebot: {'enrolled in' if add else 'left'} {course_code}"
    # Checked at every grant, not only when the cohort got its role: the role may have gained power since.
    refused = await grant_problem(bot, guild, role_id)
    if refused is None:
        try:
            member = guild.get_member(user_id) or await guild.fetch_member(user_id)
            change = member.add_roles if add else member.remove_roles
            await change(discord.Object(role_id), reason=reason)
            return None
        except discord.HTTPException as error:
            why = (
                "I lack the Manage Roles permission or the role is above mine"
                if isinstance(error, discord.Forbidden)
                else f"Discord refused ({error.status})"
            )
            action = "role.grant_failed" if add else "role.remove_failed"
            log.warning("Could not %s role %s for user %s: %s", "add" if add else "remove", role_id, user_id, error)
    else:
        why, action = refused, "role.grant_refused" if add else "role.remove_refused"
        log.warning("Refused to %s role %s for user %s: %s", "add" if add else "remove", role_id, user_id, refused)
    async with bot.db.session_scope() as session:
        await audit.record(
            session,
            guild_id=guild.id,
            actor_id=bot.user.id if bot.user else 0,
            action=action,
            target_type="member",
            target_ids=[user_id],
            meta={"role_id": role_id, "course": course_code, "reason": why},
        )
        config = await tenancy.guild_config(session, guild.id)
    channel = guild.get_channel(config.announcement_channel_id) if config.announcement_channel_id else None
    if isinstance(channel, discord.TextChannel):
        await channel.send(
            f"⚠️ Instructors: I couldn't {'give' if add else 'remove'} <@&{role_id}> "
            f"{'to' if add else 'from'} <@{user_id}> for {course_code}: {why}."
        )
    return f"I couldn't {'give you' if add else 'remove'} the course role ({why}); the instructors were told."


@app_commands.guild_only()
class Courses(commands.GroupCog, group_name="course", group_description="Find, join and follow courses"):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    @app_commands.command(description="Courses you can take in this server")
    async def list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            listed = await courses.list_courses(session, guild_id=interaction.guild_id, user_id=interaction.user.id)
        if not listed:
            await interaction.response.send_message(
                embed=embed("Courses", "No courses are published here yet."), ephemeral=True
            )
            return
        fields = [
            (
                f"{course.code} · {course.title}"
                + (f" — {STATUS_LABEL[course.enrollment_status]}" if course.enrollment_status else ""),
                clip(strip_mentions(course.description) or "—", LISTED_DESCRIPTION_CHARS)
                + f"\n*{course.level.title()}*",
            )
            for course in listed
        ]
        reply = add_fields(embed("Courses", "Join one with `/course enroll course:CODE`."), fields)
        await interaction.response.send_message(embed=reply, ephemeral=True)

    @app_commands.command(description="What a course covers and how to join it")
    @app_commands.describe(course="The course code, e.g. PY101")
    @app_commands.autocomplete(course=published_courses)
    async def info(self, interaction: discord.Interaction, course: str) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            details = await courses.course_details(session, guild_id=interaction.guild_id, code=course)
        open_cohorts = [cohort for cohort in details.cohorts if cohort.is_open]
        fields = [
            ("Level", details.level.title()),
            ("Passing score", f"{details.passing_score}%"),
            ("Modules", "\n".join(f"{n}. {title}" for n, title in enumerate(details.module_titles, 1)) or "—"),
            ("Items", str(details.lesson_count)),
            ("Prerequisites", ", ".join(details.prerequisites) or "none"),
            (
                "Cohorts",
                "\n".join(
                    f"{cohort.term_name} ({cohort.visibility.value.lower().replace('_', ' ')})"
                    + (f", {cohort.active_count}/{cohort.capacity} seats" if cohort.capacity else "")
                    for cohort in open_cohorts
                )
                or "none open",
            ),
        ]
        about = clip(strip_mentions(details.description), INFO_DESCRIPTION_CHARS)
        reply = add_fields(embed(f"{details.code} · {details.title}", about), fields)
        await interaction.response.send_message(embed=reply, ephemeral=True)

    @app_commands.command(description="Join a course")
    @app_commands.describe(course="The course code, e.g. PY101", invite="The invite code of an invite-only cohort")
    @app_commands.autocomplete(course=published_courses)
    async def enroll(
        self, interaction: discord.Interaction, course: str, invite: app_commands.Range[str, 1, 40] | None = None
    ) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            result = await enrollment.enroll(
                session,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                course_code=course,
                invite_code=invite,
                now=self.bot.clock.now(),
            )
        if result.status is EnrollmentStatus.WAITLISTED:
            reply = embed(
                f"Waitlisted for {result.course_code}",
                f"{result.term_name} is full. You are number {result.waitlist_position} on the waitlist; "
                "you'll get the next free seat.",
            )
        else:
            reply = success_embed(
                f"Welcome to {result.course_code} · {result.course_title}",
                f"You joined **{result.term_name}**. Start with `/lesson next`.",
            )
        await interaction.response.send_message(embed=reply, ephemeral=True)
        if result.role_id:
            problem = await change_role(
                self.bot,
                interaction,
                user_id=interaction.user.id,
                role_id=result.role_id,
                add=True,
                course_code=result.course_code,
            )
            if problem:
                await interaction.followup.send(problem, ephemeral=True)

    @app_commands.command(description="Leave a course (your progress is kept if you come back)")
    @app_commands.autocomplete(course=courses_you_take)
    async def drop(self, interaction: discord.Interaction, course: str) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            result = await enrollment.drop(
                session,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                course_code=course,
                now=self.bot.clock.now(),
            )
        await interaction.response.send_message(
            embed=embed(f"You left {result.course_code}", "Your progress is kept if you enroll again."),
            ephemeral=True,
        )
        if result.role_id:
            for user_id, add in [(interaction.user.id, False), (result.promoted_user_id, True)]:
                if user_id is None:
                    continue
                problem = await change_role(
                    self.bot,
                    interaction,
                    user_id=user_id,
                    role_id=result.role_id,
                    add=add,
                    course_code=result.course_code,
                )
                if problem and user_id == interaction.user.id:
                    await interaction.followup.send(problem, ephemeral=True)

    @app_commands.command(description="How far you are in a course")
    @app_commands.autocomplete(course=courses_you_take)
    async def progress(self, interaction: discord.Interaction, course: str | None = None) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            progress = await navigation.course_progress(
                session, guild_id=interaction.guild_id, user_id=interaction.user.id, course_code=course
            )
            concepts = await practice.mastery_bars(
                session, guild_id=interaction.guild_id, user_id=interaction.user.id, course_code=progress.course_code
            )
        status = " — completed ✓" if progress.status is EnrollmentStatus.COMPLETED else ""
        reply = embed(
            f"{progress.course_code} · {progress.course_title}{status}",
            f"Overall: {progress_bar(progress.done, progress.total)}",
        )
        fields = [
            (module.title or "Module", clip(progress_bar(module.done, module.total), EMBED_FIELD_VALUE_MAX))
            for module in progress.modules
        ]
        if concepts:
            fields.append(
                ("Mastery (`/practice` works on the weakest)", clip(mastery_lines(concepts), EMBED_FIELD_VALUE_MAX))
            )
        await interaction.response.send_message(embed=add_fields(reply, fields), ephemeral=True)

    @app_commands.command(description="Offer a file to your course (Markdown, text or PDF); staff review it")
    @app_commands.describe(
        file="A .md, .txt or .pdf file",
        title="How the tutor cites it; by default the file name",
        note="A word for the staff who review it",
    )
    @app_commands.autocomplete(course=courses_you_take)
    async def submit(
        self,
        interaction: discord.Interaction,
        course: str,
        file: discord.Attachment,
        title: app_commands.Range[str, 1, 150] | None = None,
        note: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        limit = self.bot.settings.human.max_submission_bytes
        if file.size > limit:  # refused before downloading it
            raise InvalidInput(f"That file is {file.size / 1e6:.1f} MB; submissions may be {limit / 1e6:g} MB at most.")
        materials.file_type_for(file.filename)
        data = await file.read()
        async with self.bot.db.session_scope() as session:
            sent = await submissions.submit(
                session,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                course_code=course,
                filename=file.filename,
                data=data,
                title=title,
                note=note,
                now=self.bot.clock.now(),
                limits=self.bot.settings.human,
            )
        await interaction.response.send_message(
            embed=success_embed(
                f"Submitted #{sent.id} to {sent.course_code}",
                f"“{strip_mentions(sent.title)}” waits for the course staff. You'll get a DM when they decide; "
                f"approved, it becomes course material credited to you, with {self.bot.settings.human.submission_xp} "
                "XP.",
            ),
            ephemeral=True,
        )


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Courses(bot))
