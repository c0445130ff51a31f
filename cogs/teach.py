"""`/teach …`: instructors author and run courses. Every change is audited by the service it calls."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.errors import InvalidInput, RoleNotGrantable
from bot.services import audit, content, courses
from bot.services import submissions as material_submissions
from bot.services.analytics import gradebook as grading
from bot.services.analytics import overview as class_overview
from bot.services.coursepack import DEFAULT_LIMITS, Problem, load_zip_report, size_text, zip_bytes
from bot.services.coursepack.loader import PackageReport
from bot.spreadsheets import csv_bytes
from bot.tutor import escalations, materials
from bot.tutor.materials import MaterialRecord
from cogs._analytics import AnalyticsView, as_files, deliver_digest, overview_charts, overview_embed
from cogs._autocomplete import courses_you_teach
from cogs._checks import require_level
from cogs._escalation_views import inbox_page
from cogs._limits import EMBED_FIELD_VALUE_MAX
from cogs._roles import check_package_roles, cohort_role_problems
from cogs._staff_views import live_course_of
from cogs._submission_views import send_submission_review
from cogs._ui import add_fields, clip, embed, error_embed, in_pages, send, success_embed
from cogs._views import Paginator, confirm
from db.models import CourseLevel, IndexingStatus, MemberRole, NotificationKind, OfferingVisibility

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

ROSTER_PAGE_SIZE = 15
MATERIALS_PAGE_SIZE = 15
STATUS_ICONS = {
    IndexingStatus.READY: "✅",
    IndexingStatus.FAILED: "❌",
    IndexingStatus.PENDING: "⏳",
    IndexingStatus.PROCESSING: "⏳",
}


def read_package(filename: str, data: bytes) -> PackageReport:
    """Load an uploaded package (a .zip) from memory; PackageInvalid, naming the uploaded file, if it is broken."""
    if not filename.lower().endswith(".zip"):
        raise InvalidInput("Upload the course package as a `.zip` of the course folder (see docs/course-format.md).")
    return load_zip_report(filename, data)


def warnings_text(warnings: Sequence[Problem], *, shown: int = 5) -> str:
    """What was read in the closest form Coursebot has, by file and line, as one embed field."""
    lines = [f"• {clip(str(warning), 200)}" for warning in warnings[:shown]]
    if len(warnings) > shown:
        lines.append(f"…and {len(warnings) - shown} more: run `coursebot course validate` on the folder to see all.")
    return clip("\n".join(lines), EMBED_FIELD_VALUE_MAX)


async def record_course_export(
    session: AsyncSession, interaction: discord.Interaction, course: str, *, action: str, **meta: object
) -> None:
    """Record in the audit log who took a course's data out of the bot, and what."""
    assert interaction.guild_id is not None
    found = await courses.live_course(session, guild_id=interaction.guild_id, code=course)
    await audit.record(
        session,
        guild_id=interaction.guild_id,
        actor_id=interaction.user.id,
        action=action,
        target_type="course",
        target_ids=[found.id],
        meta={"code": found.code, **meta},
    )


def material_line(material: MaterialRecord) -> str:
    kind = "lesson" if material.content_item_id is not None else material.file_type
    return f"{STATUS_ICONS[material.status]} {clip(material.title, 80)} · {kind} · {material.status.value.lower()}"


def upload_result(material: MaterialRecord, course_code: str) -> discord.Embed:
    if material.status is IndexingStatus.READY:
        how = " (with embeddings)" if material.has_embeddings else ""
        return success_embed(f"{clip(material.title, 200)} is ready", f"The tutor can cite it in {course_code}{how}.")
    if material.status is IndexingStatus.FAILED:
        return error_embed(material.failure_reason or "Indexing failed.", title=f"{clip(material.title, 200)} failed")
    return embed(f"{clip(material.title, 200)} is being indexed", "See `/teach materials list` in a minute.")


# No default member permission: instructors and TAs are whoever holds the roles mapped in `/admin setup`, which
# Discord's permission bits cannot express. The bot checks the level; a server may narrow who sees `/teach` in
# Server Settings → Integrations.
@app_commands.guild_only()
class Teach(commands.GroupCog, group_name="teach", group_description="Author and run courses"):
    course = app_commands.Group(name="course", description="Create, import, publish and remove courses")
    cohort = app_commands.Group(name="cohort", description="Runs of a course: who can join, and when")
    materials_group = app_commands.Group(name="materials", description="Files the tutor can cite")

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    @course.command(name="create", description="Start an empty course")
    @app_commands.describe(code="A short code such as PY101", title="The course's title")
    @require_level(MemberRole.INSTRUCTOR)
    async def course_create(
        self,
        interaction: discord.Interaction,
        code: app_commands.Range[str, 1, 20],
        title: app_commands.Range[str, 1, 200],
        description: app_commands.Range[str, 1, 2000] = "",
        level: CourseLevel = CourseLevel.INTRODUCTORY,
    ) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            created = await courses.create_course(
                session,
                guild_id=interaction.guild_id,
                actor_id=interaction.user.id,
                code=code,
                title=title,
                description=description,
                level=level,
            )
        await interaction.response.send_message(
            embed=success_embed(
                f"Created {created.code}", "It is unpublished. Import content with `/teach course import`."
            ),
            ephemeral=True,
        )

    @course.command(name="import", description="Create or update a course from a package (.zip)")
    @app_commands.describe(package="The course folder as a .zip", publish="Publish the new revisions at once")
    @require_level(MemberRole.INSTRUCTOR)
    async def course_import(
        self, interaction: discord.Interaction, package: discord.Attachment, publish: bool = False
    ) -> None:
        assert interaction.guild_id is not None
        if package.size > DEFAULT_LIMITS.max_total_bytes:
            raise InvalidInput(
                f"That file is {size_text(package.size)}; a course package may be at most "
                f"{size_text(DEFAULT_LIMITS.max_total_bytes)}."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await asyncio.to_thread(read_package, package.filename, await package.read())
        parsed = report.package
        await check_package_roles(interaction, parsed)
        async with self.bot.db.session_scope() as session:
            summary = await content.import_package(
                session,
                guild_id=interaction.guild_id,
                actor_id=interaction.user.id,
                package=parsed,
                publish=publish,
                now=self.bot.clock.now(),
            )
        state = "published" if publish else "saved as drafts: publish with `/teach course publish`"
        reply = success_embed(
            f"{'Created' if summary.created else 'Updated'} {summary.code}",
            f"{summary.new_revisions} new revision(s), {summary.unchanged} unchanged, "
            f"{summary.removed} removed, {summary.question_sets_replaced} quiz(zes) with new questions; {state}.",
        )
        if report.warnings:
            reply.add_field(name=f"Read with {len(report.warnings)} warning(s)", value=warnings_text(report.warnings))
        if publish:
            reply.add_field(name="Tutor", value="Indexing the published lessons…")
        await send(interaction, embed=reply)
        if publish:
            await self._index_for_tutor(interaction, summary.code, reply)

    async def _index_for_tutor(self, interaction: discord.Interaction, course_code: str, reply: discord.Embed) -> None:
        """After a publish has been committed and answered: index the published lessons, then say how it went."""
        assert interaction.guild_id is not None
        report = await materials.index_published_lessons(
            self.bot.db,
            guild_id=interaction.guild_id,
            course_code=course_code,
            settings=self.bot.settings,
            clock=self.bot.clock,
        )
        status = f"{report.ready} lesson(s) ready for the tutor to cite."
        if report.failed:
            status += f" {len(report.failed)} failed: see `/teach materials review`."
        reply.set_field_at(len(reply.fields) - 1, name="Tutor", value=status)
        await interaction.edit_original_response(embed=reply)

    @course.command(name="export", description="Download a course as a package (.zip)")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.INSTRUCTOR)
    async def course_export(self, interaction: discord.Interaction, course: str) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            package = await content.export_package(session, guild_id=interaction.guild_id, code=course)
            await record_course_export(session, interaction, course, action="course.export")
        data = await asyncio.to_thread(zip_bytes, package)
        await interaction.response.send_message(
            embed=embed(f"{package.code} package", "Edit it and bring it back with `/teach course import`."),
            file=discord.File(io.BytesIO(data), filename=f"{package.code.lower()}.zip"),
            ephemeral=True,
        )

    async def _set_published(self, interaction: discord.Interaction, course: str, published: bool) -> int:
        """Publish or hide `course`; how many draft revisions went live."""
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            return await courses.set_published(
                session,
                guild_id=interaction.guild_id,
                actor_id=interaction.user.id,
                code=course,
                published=published,
                now=self.bot.clock.now(),
            )

    @course.command(name="publish", description="Make a course and its newest revisions visible to students")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.INSTRUCTOR)
    async def course_publish(self, interaction: discord.Interaction, course: str) -> None:
        count = await self._set_published(interaction, course, True)
        reply = success_embed(f"Published {courses.normalise_code(course)}", f"{count} draft revision(s) went live.")
        reply.add_field(name="Tutor", value="Indexing the published lessons…")
        await interaction.response.send_message(embed=reply, ephemeral=True)
        await self._index_for_tutor(interaction, course, reply)

    @course.command(name="unpublish", description="Hide a course from students (nothing is deleted)")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.INSTRUCTOR)
    async def course_unpublish(self, interaction: discord.Interaction, course: str) -> None:
        await self._set_published(interaction, course, False)
        await interaction.response.send_message(
            embed=success_embed(f"Unpublished {courses.normalise_code(course)}", "Students no longer see it."),
            ephemeral=True,
        )

    @course.command(name="delete", description="Remove a course (asks for confirmation)")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.INSTRUCTOR)
    async def course_delete(self, interaction: discord.Interaction, course: str) -> None:
        assert interaction.guild_id is not None
        found = await live_course_of(interaction, course)
        pressed = await confirm(
            interaction,
            embed(
                f"Delete {found.code} · {found.title}?",
                "Students lose access at once. Records are kept for the audit log, and the code becomes free.",
            ),
            confirm_label=f"Delete {found.code}",
            declined="Nothing deleted",
            untouched=f"{found.code} is untouched.",
        )
        if pressed is None:
            return
        async with self.bot.db.session_scope() as session:
            await courses.delete_course(
                session,
                guild_id=interaction.guild_id,
                actor_id=interaction.user.id,
                code=found.code,
                now=self.bot.clock.now(),
            )
        await pressed.response.edit_message(embed=success_embed(f"Deleted {found.code}"), view=None)

    @cohort.command(name="create", description="Open a new run of a course")
    @app_commands.describe(
        term="A name such as 'Spring 2027'",
        visibility="Who may join without an invite",
        invite="The code students type to join an invite-only cohort",
        capacity="Seats; extra students go on a waitlist",
        role="A Discord role given to everyone enrolled",
    )
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.INSTRUCTOR)
    async def cohort_create(
        self,
        interaction: discord.Interaction,
        course: str,
        term: app_commands.Range[str, 1, 100],
        visibility: OfferingVisibility = OfferingVisibility.PUBLIC,
        invite: app_commands.Range[str, 1, 40] | None = None,
        capacity: app_commands.Range[int, 1, 100_000] | None = None,
        role: discord.Role | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        if role is not None and (problems := await cohort_role_problems(interaction, [role.id])):
            raise RoleNotGrantable(role.name, problems[role.id])
        async with self.bot.db.session_scope() as session:
            cohort = await courses.create_cohort(
                session,
                guild_id=interaction.guild_id,
                actor_id=interaction.user.id,
                code=course,
                term_name=term,
                visibility=visibility,
                invite_code=invite,
                capacity=capacity,
                role_id=role.id if role else None,
            )
        seats = f", {cohort.capacity} seats" if cohort.capacity else ""
        await interaction.response.send_message(
            embed=success_embed(f"Cohort {cohort.term_name} is open", f"{cohort.visibility.value.lower()}{seats}."),
            ephemeral=True,
        )

    async def _set_open(self, interaction: discord.Interaction, course: str, term: str, is_open: bool) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            await courses.set_cohort_open(
                session,
                guild_id=interaction.guild_id,
                actor_id=interaction.user.id,
                code=course,
                term_name=term,
                is_open=is_open,
            )
        state = "takes enrollments again" if is_open else "no longer takes enrollments"
        await interaction.response.send_message(embed=success_embed(f"{term} {state}"), ephemeral=True)

    @cohort.command(name="open", description="Let students enroll in a cohort again")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.INSTRUCTOR)
    async def cohort_open(
        self, interaction: discord.Interaction, course: str, term: app_commands.Range[str, 1, 100]
    ) -> None:
        await self._set_open(interaction, course, term, True)

    @cohort.command(name="close", description="Stop enrollments in a cohort (enrolled students stay)")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.INSTRUCTOR)
    async def cohort_close(
        self, interaction: discord.Interaction, course: str, term: app_commands.Range[str, 1, 100]
    ) -> None:
        await self._set_open(interaction, course, term, False)

    @app_commands.command(description="Who is enrolled in a course, with a CSV to download")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.TA)
    async def roster(self, interaction: discord.Interaction, course: str) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            entries = await courses.roster(session, guild_id=interaction.guild_id, code=course)
            # Members' names and progress leave the bot here.
            await record_course_export(session, interaction, course, action="course.roster", members=len(entries))
        code = courses.normalise_code(course)
        if not entries:
            await interaction.response.send_message(
                embed=embed(f"{code} roster", "Nobody enrolled yet."), ephemeral=True
            )
            return
        pages = []
        for page in in_pages(entries, ROSTER_PAGE_SIZE):
            fields = [
                (entry.display_name, f"{entry.term_name} · {entry.status.value.lower()} · {entry.completed_items} done")
                for entry in page
            ]
            pages.append(add_fields(embed(f"{code} roster ({len(entries)})"), fields, inline=True))
        table = csv_bytes(
            ["user_id", "display_name", "cohort", "status", "enrolled_at", "completed_items"],
            [
                [
                    entry.user_id,
                    entry.display_name,
                    entry.term_name,
                    entry.status.value,
                    entry.enrolled_at.isoformat(),
                    entry.completed_items,
                ]
                for entry in entries
            ],
        )
        attachment = discord.File(io.BytesIO(table), filename=f"{code.lower()}-roster.csv")
        await Paginator(pages, owner_id=interaction.user.id).start(interaction, file=attachment)

    @materials_group.command(name="upload", description="Add a file the tutor can cite (Markdown, text or PDF)")
    @app_commands.describe(file="A .md, .txt or .pdf file", title="How the tutor cites it; by default the file name")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.INSTRUCTOR)
    async def materials_upload(
        self,
        interaction: discord.Interaction,
        course: str,
        file: discord.Attachment,
        title: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        materials.file_type_for(file.filename)
        if file.size > materials.MAX_UPLOAD_BYTES:
            raise InvalidInput(
                f"That file is {file.size / 1e6:.1f} MB; "
                f"a material may be at most {materials.MAX_UPLOAD_BYTES / 1e6:g} MB."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        material = await materials.upload_material(
            self.bot.db,
            guild_id=interaction.guild_id,
            course_code=course,
            uploader_id=interaction.user.id,
            filename=file.filename,
            data=await file.read(),
            title=title,
            settings=self.bot.settings,
            clock=self.bot.clock,
        )
        await send(interaction, embed=upload_result(material, courses.normalise_code(course)))

    @materials_group.command(name="list", description="The files and lessons the tutor can cite, with their status")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.TA)
    async def materials_list(self, interaction: discord.Interaction, course: str) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            listed = await materials.list_materials(session, guild_id=interaction.guild_id, course_code=course)
        code = courses.normalise_code(course)
        uploads = [material for material in listed if material.content_item_id is None]
        lessons = [material for material in listed if material.content_item_id is not None]
        ready = sum(material.status is IndexingStatus.READY for material in lessons)
        summary = f"Lessons: {ready}/{len(lessons)} indexed. Add files with `/teach materials upload`."
        lines = [material_line(material) for material in uploads] or ["No files uploaded yet."]
        pages = [
            embed(f"{code} tutor materials", "\n".join([summary, "", *page]))
            for page in in_pages(lines, MATERIALS_PAGE_SIZE)
        ]
        await Paginator(pages, owner_id=interaction.user.id).start(interaction)

    @materials_group.command(name="review", description="Materials and lessons the tutor could not index, and why")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.TA)
    async def materials_review(self, interaction: discord.Interaction, course: str) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            listed = await materials.list_materials(session, guild_id=interaction.guild_id, course_code=course)
        code = courses.normalise_code(course)
        failed = [material for material in listed if material.status is IndexingStatus.FAILED]
        if not failed:
            await send(interaction, embed=success_embed(f"{code}: nothing to review", "Every material indexed."))
            return
        fields = [(material_line(material), material.failure_reason or "No reason recorded.") for material in failed]
        hint = "Upload a fixed file with `/teach materials upload`; republish to index lessons again."
        await send(interaction, embed=add_fields(embed(f"{code}: {len(failed)} to review", hint), fields))

    @app_commands.command(name="inbox", description="Students waiting for a TA in their tutor threads")
    @app_commands.describe(course="Only this course's (default: every course)")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.TA)
    async def inbox(self, interaction: discord.Interaction, course: str | None = None) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            listed = await escalations.inbox(session, guild_id=interaction.guild_id, course_code=course or None)
        page, view = inbox_page(listed, course_code=courses.normalise_code(course) if course else None)
        await send(interaction, embed=page, view=view)

    @app_commands.command(name="submissions", description="Material students submitted: approve, reject or undo")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.TA)
    async def submissions(self, interaction: discord.Interaction, course: str) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            listed = await material_submissions.list_for_review(
                session, guild_id=interaction.guild_id, course_code=course
            )
        await send_submission_review(interaction, listed)

    async def cog_load(self) -> None:
        # The weekly analytics digest the outbox holds is delivered from here (`cogs._analytics.deliver_digest`).
        self.bot.notification_senders[NotificationKind.DIGEST] = partial(deliver_digest, self.bot)

    async def cog_unload(self) -> None:
        self.bot.notification_senders.pop(NotificationKind.DIGEST, None)

    @app_commands.command(name="analytics", description="Class figures and charts; item analysis, students at risk")
    @app_commands.describe(cohort="Only this cohort (its term name)", period="How far back (default: 7 days)")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.TA)
    async def analytics(
        self,
        interaction: discord.Interaction,
        course: str,
        cohort: app_commands.Range[str, 1, 100] | None = None,
        period: Literal["7d", "30d", "all"] = "7d",
    ) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.session_scope() as session:
            scope = await class_overview.scope_of(session, guild_id=interaction.guild_id, code=course, cohort=cohort)
            report = await class_overview.overview(
                session, scope=scope, days=class_overview.period_days(period), now=self.bot.clock.now()
            )
        rendered = await asyncio.to_thread(overview_charts, report)
        view = AnalyticsView(self.bot, scope, report.quizzes, owner_id=interaction.user.id)
        await send(interaction, embed=overview_embed(report, period), files=as_files(rendered), view=view)
        view.message = await interaction.original_response()

    @app_commands.command(name="gradebook", description="Download the gradebook as CSV: progress, quizzes, XP, streak")
    @app_commands.describe(cohort="Only this cohort (its term name)")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.TA)
    async def gradebook(
        self, interaction: discord.Interaction, course: str, cohort: app_commands.Range[str, 1, 100] | None = None
    ) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            scope = await class_overview.scope_of(session, guild_id=interaction.guild_id, code=course, cohort=cohort)
            # Members' results leave the bot here: the service records who took them.
            book = await grading.gradebook(
                session, scope=scope, actor_id=interaction.user.id, guild_id=interaction.guild_id
            )
        table = await asyncio.to_thread(book.csv)
        await interaction.response.send_message(
            embed=embed(f"{book.course_code} gradebook", f"{len(book.rows)} student(s); open it in any spreadsheet."),
            file=discord.File(io.BytesIO(table), filename=f"{book.course_code.lower()}-gradebook.csv"),
            ephemeral=True,
        )


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Teach(bot))
