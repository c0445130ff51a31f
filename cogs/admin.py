"""`/admin …`: privileged configuration. Every change writes an audit row (in the service)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.errors import CourseError
from bot.services import audit, delivery, permissions, reminders, tenancy, xp
from bot.services.feedback import STATUS_NAMES, list_requests
from bot.tutor import backends, cache, prompts
from bot.tutor.secrets import SecretBox
from cogs._autocomplete import Choices, Found, courses_you_teach, matching
from cogs._checks import is_bot_operator, require_bot_operator, require_level
from cogs._limits import EMBED_DESCRIPTION_MAX, MODAL_TITLE_MAX, STRING_OPTION_MAX, TEXT_INPUT_MAX
from cogs._request_views import RequestsView
from cogs._staff_views import live_course_of
from cogs._text import split_for_discord
from cogs._ui import add_fields, clip, embed, in_pages, send, success_embed
from cogs._views import Form, Paginator, confirm
from db.models import MemberRole, ModelPurpose, RequestStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

AUDIT_PAGE_SIZE = 10


def describe_config(config: tenancy.GuildConfig) -> list[tuple[str, str]]:
    def role(role_id: int | None) -> str:
        return f"<@&{role_id}>" if role_id else "not set"

    def channel(channel_id: int | None) -> str:
        return f"<#{channel_id}>" if channel_id else "not set"

    return [
        ("Admin role", role(config.admin_role_id) + " (members with Manage Server are admins too)"),
        ("Instructor role", role(config.instructor_role_id)),
        ("TA role", role(config.ta_role_id)),
        ("Reminder channel", channel(config.reminder_channel_id)),
        ("Announcement channel", channel(config.announcement_channel_id)),
        ("Staff channel (Ask a TA)", channel(config.staff_channel_id)),
        ("Feedback channel", channel(config.feedback_channel_id)),
        ("Quiet hours", f"{config.quiet_hours} (each student's own clock)" if config.quiet_hours else "none"),
    ]


async def for_operator(
    interaction: discord.Interaction, read: Callable[[AsyncSession], Awaitable[list[Found]]]
) -> list[Found]:
    """What `read` finds, for the bot's operator only; nothing for anyone else. Autocomplete runs no command
    checks, and these suggest the operator's settings."""
    bot: CourseBot = interaction.client  # type: ignore[assignment]
    if not await is_bot_operator(interaction):
        return []
    async with bot.db.session_scope() as session:
        return await read(session)


async def backend_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[Any]]:
    listed = await for_operator(interaction, backends.list_backends)
    return matching([(backend.id, f"{backend.name} · {backend.base_url}") for backend in listed], current)


async def model_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[Any]]:
    listed = await for_operator(interaction, backends.list_backends)
    return matching(
        [
            (model.id, f"{backend.name} · {model.model} ({model.purpose.value.lower()})")
            for backend in listed
            for model in backend.models
        ],
        current,
    )


async def prompt_names(interaction: discord.Interaction, current: str) -> Choices:
    names = await for_operator(interaction, prompts.list_names)
    return matching([(name, name) for name in names], current)


def describe_backend(backend: backends.BackendSummary) -> tuple[str, str]:
    key = "API key stored (encrypted)" if backend.has_api_key else "no API key"
    models = [
        f"{'★ ' if model.is_default else ''}`{model.id}` {model.model} · {model.purpose.value.lower()}"
        + (f" · {model.embedding_dimensions} dims" if model.embedding_dimensions else "")
        for model in backend.models
    ]
    return (
        f"{backend.name} (`{backend.id}`)",
        "\n".join([f"{backend.provider} · {backend.base_url} · {key}", *(models or ["no models yet"])]),
    )


class PromptEditor(Form):
    """The text of a new prompt version; the version is created when the form is sent."""

    text: discord.ui.TextInput[PromptEditor] = discord.ui.TextInput(
        label="Prompt text", style=discord.TextStyle.paragraph, max_length=TEXT_INPUT_MAX
    )

    def __init__(self, bot: CourseBot, *, name: str, labels: list[str], message: str | None, current: str) -> None:
        super().__init__(title=clip(f"New version of {name}", MODAL_TITLE_MAX))
        self.bot, self.name, self.labels, self.message = bot, name, labels, message
        if len(current) <= TEXT_INPUT_MAX:
            self.text.default = current

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await create_prompt_version(self.bot, interaction, self.name, self.text.value, self.labels, self.message)


async def create_prompt_version(
    bot: CourseBot, interaction: discord.Interaction, name: str, text: str, labels: list[str], message: str | None
) -> None:
    async with bot.db.session_scope() as session:
        created = await prompts.create_version(
            session,
            name=name,
            text=text,
            labels=labels,
            commit_message=message,
            actor_id=interaction.user.id,
            guild_id=interaction.guild_id,
        )
    await send(
        interaction,
        embed=success_embed(
            f"Created {created.name} v{created.version}",
            f"Labels: {', '.join(created.labels)}. The tutor uses the version labelled `production`; move it with "
            "`/admin prompts label`.",
        ),
    )


def parse_labels(labels: str | None) -> list[str]:
    return [label.strip() for label in (labels or "").split(",") if label.strip()]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Admin(commands.GroupCog, group_name="admin", group_description="Configure Coursebot for this server"):
    xp_group = app_commands.Group(name="xp", description="Correct members' XP")
    llm_group = app_commands.Group(
        name="llm", description="The language model servers the tutor uses (bot-wide: the bot's operator only)"
    )
    prompts_group = app_commands.Group(
        name="prompts", description="The tutor's versioned prompts (bot-wide: the bot's operator only)"
    )
    cache_group = app_commands.Group(name="cache", description="The tutor's answer cache")

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    @app_commands.command(description="Map Discord roles to Coursebot levels and pick the bot's channels")
    @app_commands.describe(
        instructor_role="Members with this role can author and run courses",
        ta_role="Members with this role can see rosters and help students",
        admin_role="Members with this role can configure the bot",
        reminder_channel="Where a reminder goes, mentioning only its student, when their DMs are closed",
        announcement_channel="Where course announcements are posted",
        staff_channel="Where students' Ask-a-TA requests are posted for TAs to claim",
        feedback_channel="Where /feedback requests are posted for members to +1",
        quiet_hours="Default quiet hours, e.g. 22:00-07:00 in each student's own time zone; off for none",
    )
    @require_level(MemberRole.ADMIN)
    async def setup(
        self,
        interaction: discord.Interaction,
        instructor_role: discord.Role | None = None,
        ta_role: discord.Role | None = None,
        admin_role: discord.Role | None = None,
        reminder_channel: discord.TextChannel | None = None,
        announcement_channel: discord.TextChannel | None = None,
        quiet_hours: app_commands.Range[str, 1, 20] | None = None,
        staff_channel: discord.TextChannel | None = None,
        feedback_channel: discord.TextChannel | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        chosen = {
            "instructor_role_id": instructor_role,
            "ta_role_id": ta_role,
            "admin_role_id": admin_role,
            "reminder_channel_id": reminder_channel,
            "announcement_channel_id": announcement_channel,
            "staff_channel_id": staff_channel,
            "feedback_channel_id": feedback_channel,
        }
        changes: dict[str, int | str | None] = {key: value.id for key, value in chosen.items() if value is not None}
        if quiet_hours is not None:
            quiet = reminders.parse_quiet_hours(quiet_hours)
            changes["quiet_hours"] = str(quiet) if quiet else None
        async with self.bot.db.session_scope() as session:
            if changes:
                config = await permissions.save_setup(
                    session, guild_id=interaction.guild_id, actor_id=interaction.user.id, changes=changes
                )
            else:
                config = await tenancy.guild_config(session, interaction.guild_id)
        title = "Configuration saved" if changes else "Current configuration"
        hint = "" if changes else "Pass options to change a setting, e.g. `/admin setup instructor_role:@Teachers`."
        await interaction.response.send_message(
            embed=add_fields(success_embed(title, hint), describe_config(config)), ephemeral=True
        )

    @app_commands.command(
        name="reminders", description="The outbox of reminders and nudges: pending, sent today, failed, paused"
    )
    @require_level(MemberRole.ADMIN)
    async def reminder_outbox(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            report = await delivery.guild_report(session, guild_id=interaction.guild_id, now=self.bot.clock.now())
        failed = "\n".join(
            f"{discord.utils.format_dt(due, 'f')} · {clip(reason or 'no reason recorded', 150)}"
            for due, reason in report.outbox.failed
        )
        stopped = "\n".join(f"<@{student.user_id}> ({student.course_code})" for student in report.paused)
        if stopped:
            stopped += "\nEach is told how to fix it at their next command."
        starts = discord.utils.format_dt(report.day_started_at, "f")
        page = embed("Reminders and nudges", f"Today starts at {starts} ({report.time_zone}).")
        fields = [
            ("Pending", str(report.outbox.pending)),
            ("Sent today", str(report.outbox.sent_today)),
            ("Failed (latest)", failed or "none"),
            ("Paused students", stopped or "none"),
        ]
        await send(interaction, embed=add_fields(page, fields))

    @app_commands.command(description="Recent instructor and admin changes in this server")
    @app_commands.describe(action="Only this kind of change, e.g. course.publish")
    @require_level(MemberRole.ADMIN)
    async def audit(
        self, interaction: discord.Interaction, action: app_commands.Range[str, 1, 60] | None = None
    ) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            entries = await audit.recent(session, guild_id=interaction.guild_id, limit=100, action=action)
        if not entries:
            await interaction.response.send_message(embed=embed("Audit log", "Nothing recorded yet."), ephemeral=True)
            return
        pages = []
        for page in in_pages(entries, AUDIT_PAGE_SIZE):
            lines = [
                f"{discord.utils.format_dt(entry.at, 'R')} <@{entry.actor_id}> `{entry.action}` "
                f"{entry.target_type} {', '.join(map(str, entry.target_ids))}"
                for entry in page
            ]
            pages.append(embed("Audit log", "\n".join(lines)))
        await Paginator(pages, owner_id=interaction.user.id).start(interaction)

    @xp_group.command(name="adjust", description="Give or take XP, with a reason (audited)")
    @app_commands.describe(amount="Positive to give, negative to take", reason="Shown in the audit log")
    @require_level(MemberRole.ADMIN)
    async def xp_adjust(
        self,
        interaction: discord.Interaction,
        user: discord.Member,
        amount: app_commands.Range[int, -100_000, 100_000],
        reason: app_commands.Range[str, 1, 300],
    ) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            adjusted = await xp.adjust(
                session,
                guild_id=interaction.guild_id,
                actor_id=interaction.user.id,
                user_id=user.id,
                display_name=user.display_name,
                amount=amount,
                reason=reason,
                now=self.bot.clock.now(),
                request_id=str(interaction.id),
            )
        await interaction.response.send_message(
            embed=success_embed(
                f"{'Gave' if amount > 0 else 'Took'} {abs(amount)} XP",
                f"{user.mention} now has {adjusted.total} XP. Reason: {reason}",
            ),
            ephemeral=True,
        )

    @llm_group.command(name="add", description="Add an OpenAI-compatible server (OpenAI, Azure, Ollama, vLLM, …)")
    @app_commands.describe(
        name="A name for it, e.g. openai or local-ollama",
        base_url="Its API address, e.g. https://api.openai.com/v1",
        provider="Who runs it, e.g. openai, azure, ollama",
        api_key="Its API key; stored encrypted and never shown again. Leave out for local servers",
    )
    @require_bot_operator()
    async def llm_add(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 100],
        base_url: app_commands.Range[str, 1, 500],
        provider: app_commands.Range[str, 1, 50] = "openai",
        api_key: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        secrets = SecretBox.from_key(self.bot.settings.secret_key)
        async with self.bot.db.session_scope() as session:
            added = await backends.add_backend(
                session,
                name=name,
                provider=provider,
                base_url=base_url,
                api_key=api_key,
                secrets=secrets,
                actor_id=interaction.user.id,
                guild_id=interaction.guild_id,
            )
        key = "Its API key is stored encrypted." if added.has_api_key else "No API key stored."
        await send(
            interaction,
            embed=success_embed(
                f"Added {added.name}", f"{key} Offer its models with `/admin llm model backend:{added.name}`."
            ),
        )

    @llm_group.command(name="model", description="Offer a model of a server for chat or embeddings")
    @app_commands.describe(
        backend="The server (from /admin llm add)",
        model="The model's id as the server names it, e.g. gpt-4o-mini",
        purpose="Chat answers or embeddings for search",
        dimensions="Embedding models: the length of their vectors, e.g. 1536",
        default="Make it the model the tutor uses for this purpose",
    )
    @app_commands.autocomplete(backend=backend_choices)
    @require_bot_operator()
    async def llm_model(
        self,
        interaction: discord.Interaction,
        backend: int,
        model: app_commands.Range[str, 1, 255],
        purpose: ModelPurpose = ModelPurpose.CHAT,
        dimensions: app_commands.Range[int, 1, 16000] | None = None,
        default: bool = False,
    ) -> None:
        async with self.bot.db.session_scope() as session:
            added = await backends.add_model(
                session,
                backend_id=backend,
                model=model,
                purpose=purpose,
                embedding_dimensions=dimensions,
                make_default=default,
                actor_id=interaction.user.id,
                guild_id=interaction.guild_id,
            )
        state = "It is now the default." if added.is_default else "Make it the default with `/admin llm default`."
        await send(interaction, embed=success_embed(f"Added {added.model} for {purpose.value.lower()}", state))

    @llm_group.command(name="default", description="Choose the model the tutor uses for its purpose")
    @app_commands.autocomplete(model=model_choices)
    @require_bot_operator()
    async def llm_default(self, interaction: discord.Interaction, model: int) -> None:
        async with self.bot.db.session_scope() as session:
            chosen = await backends.set_default(
                session, model_id=model, actor_id=interaction.user.id, guild_id=interaction.guild_id
            )
        await send(
            interaction,
            embed=success_embed(f"The tutor now uses {chosen.model}", f"for {chosen.purpose.value.lower()}."),
        )

    @llm_group.command(name="list", description="The servers and models the tutor can use, and which it uses now")
    @require_bot_operator()  # their internal addresses are the operator's, not every guild admin's
    async def llm_list(self, interaction: discord.Interaction) -> None:
        async with self.bot.db.session_scope() as session:
            listed = await backends.list_backends(session)
            try:
                chat = await backends.model_connection(session, self.bot.settings, ModelPurpose.CHAT)
            except CourseError as problem:  # e.g. a key stored under another COURSEBOT_SECRET_KEY
                in_use = str(problem)
            else:
                in_use = f"`{chat.model}` at {chat.base_url}" if chat else "no model: the tutor answers from retrieval"
        page = embed(
            "LLM servers", f"Chat answers now: {in_use}. ★ marks the defaults; the rest falls back to config.toml."
        )
        await send(interaction, embed=add_fields(page, [describe_backend(backend) for backend in listed]))

    @prompts_group.command(name="list", description="Every prompt with its versions and labels")
    @require_bot_operator()  # the prompts are the operator's, shared by every guild
    async def prompts_list(self, interaction: discord.Interaction) -> None:
        async with self.bot.db.session_scope() as session:
            names = await prompts.list_names(session)
            versions = {name: await prompts.list_versions(session, name=name) for name in names}
        fields = [
            (name, "\n".join(f"v{v.version}: {', '.join(v.labels) or '—'}" for v in found[:10]))
            for name, found in versions.items()
        ]
        await send(
            interaction, embed=add_fields(embed("Prompts", "The tutor uses `tutor.system` @ production."), fields)
        )

    @prompts_group.command(name="show", description="Read a prompt version (by default the production one)")
    @app_commands.autocomplete(name=prompt_names)
    @require_bot_operator()  # the prompts are the operator's, shared by every guild
    async def prompts_show(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 255] = prompts.TUTOR_SYSTEM_PROMPT,
        version: app_commands.Range[int, 1, 2_147_483_647] | None = None,
        label: app_commands.Range[str, 1, 36] | None = None,
    ) -> None:
        async with self.bot.db.session_scope() as session:
            shown = await prompts.resolve(session, name=name, version=version, label=None if version else label)
        title = f"{shown.name} v{shown.version} ({', '.join(shown.labels) or 'no labels'})"
        pages = [embed(title, text) for text in split_for_discord(shown.text, EMBED_DESCRIPTION_MAX - 96)]
        await Paginator(pages or [embed(title, "(empty)")], owner_id=interaction.user.id).start(interaction)

    @prompts_group.command(name="create", description="Write a new version of a prompt (in a form, or as text:)")
    @app_commands.describe(
        labels="Labels for it, comma separated, e.g. production or staging",
        message="What changed, for the record",
        text="The prompt itself; leave out to write it in a form",
    )
    @app_commands.autocomplete(name=prompt_names)
    @require_bot_operator()
    async def prompts_create(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 255] = prompts.TUTOR_SYSTEM_PROMPT,
        labels: app_commands.Range[str, 1, 200] | None = None,
        message: app_commands.Range[str, 1, 500] | None = None,
        text: app_commands.Range[str, 1, STRING_OPTION_MAX] | None = None,
    ) -> None:
        if text is not None:
            await create_prompt_version(self.bot, interaction, name, text, parse_labels(labels), message)
            return
        async with self.bot.db.session_scope() as session:
            versions = await prompts.list_versions(session, name=name)
        current = versions[0].text if versions else ""
        await interaction.response.send_modal(
            PromptEditor(self.bot, name=name, labels=parse_labels(labels), message=message, current=current)
        )

    @prompts_group.command(name="label", description="Put a label (e.g. production) on a prompt version")
    @app_commands.autocomplete(name=prompt_names)
    @require_bot_operator()
    async def prompts_label(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 255],
        version: app_commands.Range[int, 1, 2_147_483_647],
        label: app_commands.Range[str, 1, 36],
    ) -> None:
        async with self.bot.db.session_scope() as session:
            labelled = await prompts.set_label(
                session,
                name=name,
                version=version,
                label=label,
                actor_id=interaction.user.id,
                guild_id=interaction.guild_id,
            )
        await send(interaction, embed=success_embed(f"{label} → {labelled.name} v{labelled.version}"))

    @cache_group.command(name="stats", description="How much of a course's tutor answers come from the cache")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.ADMIN)
    async def cache_stats(self, interaction: discord.Interaction, course: str) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            course_cache = await cache.stats(session, guild_id=interaction.guild_id, course_code=course)
        state = "on" if course_cache.enabled else "off"
        page = embed(
            f"{course_cache.course_code} answer cache ({state})", "Cached answers are replayed without a model call."
        )
        counted = course_cache.counts
        fields = [
            ("Answers stored", str(counted.nodes)),
            ("Greetings", str(counted.roots)),
            ("Served from the cache", str(counted.hits)),
            ("Lessons", str(counted.lessons)),
        ]
        await send(interaction, embed=add_fields(page, fields, inline=True))

    @cache_group.command(name="clear", description="Forget a course's cached tutor answers (asks for confirmation)")
    @app_commands.autocomplete(course=courses_you_teach)
    @require_level(MemberRole.ADMIN)
    async def cache_clear(self, interaction: discord.Interaction, course: str) -> None:
        assert interaction.guild_id is not None
        found = await live_course_of(interaction, course)
        pressed = await confirm(
            interaction,
            embed(
                f"Clear the answer cache of {found.code}?",
                "The next students get freshly written answers (and the model calls they cost).",
            ),
            confirm_label="Clear the cache",
            declined="Nothing cleared",
            untouched="The cache is untouched.",
        )
        if pressed is None:
            return
        async with self.bot.db.session_scope() as session:
            nodes = await cache.clear(
                session, actor_id=interaction.user.id, guild_id=interaction.guild_id, course_code=found.code
            )
        await pressed.response.edit_message(
            embed=success_embed(f"Cleared {found.code}'s answer cache", f"{nodes} cached answer(s) forgotten."),
            view=None,
        )

    @app_commands.command(name="requests", description="Feedback and requests members sent: read them, set status")
    @app_commands.describe(status="Only requests in this status (default: all)")
    @require_level(MemberRole.ADMIN)
    async def requests(self, interaction: discord.Interaction, status: RequestStatus | None = None) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            listed = await list_requests(session, guild_id=interaction.guild_id, status=status)
        which = f" ({STATUS_NAMES[status]})" if status else ""
        view = RequestsView(listed, owner_id=interaction.user.id, heading=f"Requests{which}: {len(listed)}")
        await send(interaction, embed=view.page(), view=view)
        view.message = await interaction.original_response()


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Admin(bot))
