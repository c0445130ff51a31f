"""The sandbox drives a real discord.py bot: options, checks, views, modals and messages all go through discord.py."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands
from discord.http import Route

from sandbox.errors import NoResponse, OptionRejected, SandboxError
from sandbox.harness import INSTRUCTOR_ROLE_ID, DiscordSandbox
from sandbox.http import FakeDiscordHTTP

COURSES = ["PY101", "PY201", "JS101"]


class CourseCode(app_commands.Transformer):
    """Course codes are upper case; anything else is a TransformerError raised inside discord.py."""

    async def transform(self, interaction: discord.Interaction, value: str) -> str:
        if value != value.upper():
            raise ValueError(f"{value!r} is not a course code")
        return value


class AnswerButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"quiz:(?P<question>\d+):(?P<option>[a-d])"
):
    def __init__(self, question: int, option: str) -> None:
        super().__init__(discord.ui.Button(label=f"Answer {option.upper()}", custom_id=f"quiz:{question}:{option}"))
        self.question, self.option = question, option

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> AnswerButton:
        return cls(int(match["question"]), match["option"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content=f"Question {self.question}: you chose {self.option}", view=None)


class Counter(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)
        self.clicks = 0

    @discord.ui.button(label="Count", style=discord.ButtonStyle.primary)
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button[Counter]) -> None:
        self.clicks += 1
        button.label = f"Count {self.clicks}"
        await interaction.response.edit_message(view=self)


class Confirm(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)
        self.confirmed = False

    @discord.ui.button(label="Yes", style=discord.ButtonStyle.danger)
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button[Confirm]) -> None:
        self.confirmed = True
        await interaction.response.edit_message(content="Confirmed", view=None)
        self.stop()


class LevelPicker(discord.ui.View):
    @discord.ui.select(
        placeholder="Pick a level",
        options=[discord.SelectOption(label="Beginner", value="1"), discord.SelectOption(label="Expert", value="3")],
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select[LevelPicker]) -> None:
        await interaction.response.send_message(f"Level {select.values[0]}", ephemeral=True)


class Feedback(discord.ui.Modal, title="Lesson feedback"):
    rating: discord.ui.TextInput[Feedback] = discord.ui.TextInput(label="Rating", max_length=1)
    comment: discord.ui.TextInput[Feedback] = discord.ui.TextInput(
        label="Comment", style=discord.TextStyle.paragraph, required=False
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"Thanks! rating={self.rating.value} comment={self.comment.value or '-'}", ephemeral=True
        )


class Tree(app_commands.CommandTree[commands.Bot]):
    async def on_error(
        self, interaction: discord.Interaction[commands.Bot], error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CommandInvokeError):
            await super().on_error(interaction, error)  # logs "Ignoring exception in command"
            return
        await interaction.response.send_message(f"{type(error).__name__}: {error}", ephemeral=True)


async def courses_matching(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=c, value=c) for c in COURSES if c.startswith(current.upper())]


class TinyBot(commands.Bot):
    def __init__(self, *, dynamic_items: bool = True, message_content: bool = True) -> None:
        intents = discord.Intents.default()
        intents.members = True
        intents.message_content = message_content
        super().__init__(command_prefix="!", intents=intents, tree_cls=Tree)
        self.dynamic_items = dynamic_items
        self.ready_seen = False
        self.synced: list[app_commands.AppCommand] = []

    async def setup_hook(self) -> None:
        if self.dynamic_items:
            self.add_dynamic_items(AnswerButton)
        add_commands(self.tree)
        self.synced = await self.tree.sync()

    async def on_ready(self) -> None:
        self.ready_seen = True

    async def on_message(self, message: discord.Message) -> None:
        if not message.author.bot and isinstance(message.channel, discord.Thread):
            await message.channel.send(f"Tutor: you asked {message.content!r}")


def add_commands(tree: app_commands.CommandTree[Any]) -> None:
    course = app_commands.Group(name="course", description="Take courses")
    teach = app_commands.Group(name="teach", description="Run courses")
    teach_course = app_commands.Group(name="course", description="Manage a course", parent=teach)
    tree.add_command(course)
    tree.add_command(teach)

    @course.command(description="Enroll in a course")
    @app_commands.autocomplete(code=courses_matching)
    async def enroll(interaction: discord.Interaction, code: app_commands.Transform[str, CourseCode]) -> None:
        await interaction.response.send_message(f"Enrolled in {code}", ephemeral=True)

    @teach_course.command(description="Publish a course")
    async def publish(interaction: discord.Interaction, course: str) -> None:
        assert isinstance(interaction.user, discord.Member)
        if not any(r.id == INSTRUCTOR_ROLE_ID for r in interaction.user.roles):
            await interaction.response.send_message("Only an instructor can publish a course.", ephemeral=True)
            return
        await interaction.response.send_message(f"Published {course}")

    @tree.command(description="Rate the lesson")
    async def rate(interaction: discord.Interaction, stars: app_commands.Range[int, 1, 5]) -> None:
        await interaction.response.send_message(f"You rated {stars}")

    @tree.command(description="Show a member")
    async def profile(interaction: discord.Interaction, member: discord.Member) -> None:
        roles = ", ".join(r.name for r in member.roles[1:]) or "none"
        await interaction.response.send_message(f"{member.display_name} ({type(member).__name__}) roles: {roles}")

    @tree.command(description="Count clicks")
    async def counter(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Click away", view=Counter())

    @tree.command(description="A quiz question")
    async def quiz(interaction: discord.Interaction) -> None:
        view = discord.ui.View(timeout=None)
        for option in "ab":
            view.add_item(AnswerButton(1, option))
        await interaction.response.send_message("Question 1: pick one", view=view)

    @tree.command(description="Pick a level")
    async def level(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Which level?", view=LevelPicker(), ephemeral=True)

    @tree.command(description="Give feedback")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Feedback())

    @tree.command(description="A slow report")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        embed = discord.Embed(title="Progress", description="3 of 5 lessons").add_field(name="XP", value="120")
        await interaction.followup.send("Here you go", embed=embed)

    @tree.command(description="Leave the course")
    async def leave(interaction: discord.Interaction) -> None:
        view = Confirm()
        await interaction.response.send_message("Really leave?", view=view)
        await view.wait()
        if view.confirmed:
            await interaction.followup.send("You left the course")

    @tree.command(description="Make someone an instructor")
    async def promote(interaction: discord.Interaction, member: discord.Member) -> None:
        try:
            await member.add_roles(discord.Object(INSTRUCTOR_ROLE_ID))
        except discord.Forbidden as error:
            await interaction.response.send_message(f"Cannot promote: {error.text}", ephemeral=True)
            return
        await interaction.response.send_message(f"{member.display_name} is now an instructor")

    @tree.command(description="Shout a file back")
    async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
        data = await file.read()
        shouted = discord.File(io.BytesIO(data.upper()), filename=f"loud-{file.filename}")
        await interaction.response.send_message(f"{file.filename}: {len(data)} bytes", file=shouted)

    @tree.command(description="Ask the tutor")
    async def ask(interaction: discord.Interaction) -> None:
        assert isinstance(interaction.channel, discord.TextChannel)
        thread = await interaction.channel.create_thread(name="Tutor", type=discord.ChannelType.private_thread)
        await interaction.response.send_message(f"Ask away in {thread.mention}", ephemeral=True)

    @tree.command(description="Get a reminder by DM")
    async def remind(interaction: discord.Interaction) -> None:
        await interaction.user.send("Your lesson starts soon")
        await interaction.response.send_message("Check your DMs", ephemeral=True)

    @tree.command(description="Always fails")
    async def crash(interaction: discord.Interaction) -> None:
        raise RuntimeError("boom")

    @tree.command(description="Admins only")
    @app_commands.default_permissions(manage_guild=True)
    async def settings(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Settings", ephemeral=True)


class ShardedTinyBot(TinyBot, commands.AutoShardedBot):
    """The same bot as an AutoShardedBot, which is what CourseBot is."""


@pytest.fixture(params=[TinyBot, ShardedTinyBot], ids=["bot", "auto-sharded"])
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[DiscordSandbox]:
    sb = DiscordSandbox(request.param())
    await sb.start()
    try:
        yield sb
        sb.assert_no_errors()
    finally:
        await sb.close()


async def test_start_logs_in_syncs_and_becomes_ready(sandbox: DiscordSandbox) -> None:
    bot = sandbox.bot
    assert isinstance(bot, TinyBot)
    assert bot.ready_seen and bot.user is not None and bot.user.bot
    guild = bot.get_guild(int(sandbox.guild["id"]))
    assert guild is not None and guild.get_member(int(sandbox.student["user"]["id"])) is not None
    assert {c.name for c in bot.synced} >= {"course", "teach", "rate"}
    assert all(c.id for c in bot.synced)
    assert [c.name for c in await bot.tree.fetch_commands()] == [c.name for c in bot.synced]


async def test_user_options_arrive_as_members_resolved_by_discord_py(sandbox: DiscordSandbox) -> None:
    reply = await sandbox.slash("profile", member=sandbox.instructor)
    assert reply.text == "Ines (Member) roles: Instructor"
    assert not reply.ephemeral and reply.response_type == 4


async def test_a_subcommand_in_a_nested_group_runs_with_the_invokers_roles(sandbox: DiscordSandbox) -> None:
    published = await sandbox.slash("teach course publish", user=sandbox.instructor, course="PY101")
    assert published.text == "Published PY101" and not published.ephemeral

    refused = await sandbox.slash("teach course publish", user=sandbox.student, course="PY101")
    assert refused.ephemeral and "instructor" in refused.text.lower()


async def test_transformer_errors_come_from_discord_py_and_reach_the_tree_handler(sandbox: DiscordSandbox) -> None:
    reply = await sandbox.slash("course enroll", code="py101")
    assert reply.ephemeral and reply.text.startswith("TransformerError")


async def test_range_limits_are_enforced_like_discords_client(sandbox: DiscordSandbox) -> None:
    with pytest.raises(OptionRejected, match=r"outside 1\.\.5"):
        await sandbox.slash("rate", stars=9)
    # discord.py trusts Discord here: without the client-side check the value reaches the command unchanged.
    reply = await sandbox.slash("rate", stars=9, validate=False)
    assert reply.text == "You rated 9"


async def test_unknown_options_and_commands_are_reported_with_what_exists(sandbox: DiscordSandbox) -> None:
    with pytest.raises(OptionRejected, match=r"has no option 'star'.*\['stars'\]"):
        await sandbox.slash("rate", star=3)
    with pytest.raises(OptionRejected, match="needs"):
        await sandbox.slash("rate")
    with pytest.raises(SandboxError, match="course enroll"):
        await sandbox.slash("course leave")


async def test_default_member_permissions_hide_a_command_from_students(sandbox: DiscordSandbox) -> None:
    with pytest.raises(OptionRejected, match="manage_guild"):
        await sandbox.slash("settings", user=sandbox.student)
    assert (await sandbox.slash("settings", user=sandbox.owner)).text == "Settings"


async def test_autocomplete_returns_the_bots_choices(sandbox: DiscordSandbox) -> None:
    choices = await sandbox.autocomplete("course enroll", "code", "py")
    assert [c.value for c in choices] == ["PY101", "PY201"]


async def test_a_button_routes_to_the_view_created_by_the_command(sandbox: DiscordSandbox) -> None:
    reply = await sandbox.slash("counter")
    assert [c.label for c in reply.components] == ["Count"]

    once = await sandbox.click(reply, "Count")
    assert once.message_id == reply.message_id and [c.label for c in once.components] == ["Count 1"]
    twice = await sandbox.click(once, "Count 1")
    assert [c.label for c in twice.components] == ["Count 2"]


async def test_a_command_waiting_on_its_view_finishes_after_the_click(sandbox: DiscordSandbox) -> None:
    asked = await sandbox.slash("leave")
    assert asked.text == "Really leave?"

    answered = await sandbox.click(asked, "Yes")
    assert answered.text == "Confirmed" and answered.messages[0].components == []
    # The command resumed after view.wait() and sent a followup of its own interaction.
    assert [m.text for m in answered.posted] == ["You left the course"]


async def test_dynamic_items_route_after_a_restart(sandbox: DiscordSandbox) -> None:
    question = await sandbox.slash("quiz")
    await sandbox.close()

    restarted = DiscordSandbox(TinyBot(), http=sandbox.http)
    await restarted.start()
    try:
        answer = await restarted.click(question, "Answer B")
        assert answer.text == "Question 1: you chose b" and answer.components == []
        assert answer.message_id == question.message_id
        restarted.assert_no_errors()
    finally:
        await restarted.close()


async def test_a_click_nothing_routes_is_reported_as_no_response() -> None:
    http = FakeDiscordHTTP()
    async with DiscordSandbox(TinyBot(), http=http) as first:
        question = await first.slash("quiz")
    async with DiscordSandbox(TinyBot(dynamic_items=False), http=http) as forgetful:
        with pytest.raises(NoResponse, match="nothing handled it"):
            await forgetful.click(question, "Answer A")


async def test_selects_send_values_by_option_label(sandbox: DiscordSandbox) -> None:
    reply = await sandbox.slash("level")
    picked = await sandbox.select(reply, "Pick a level", ["Expert"])
    assert picked.text == "Level 3" and picked.ephemeral


async def test_ephemeral_components_belong_to_their_user(sandbox: DiscordSandbox) -> None:
    reply = await sandbox.slash("level", user=sandbox.student)
    with pytest.raises(SandboxError, match="ephemeral"):
        await sandbox.select(reply, "Pick a level", ["1"], user=sandbox.instructor)


async def test_a_modal_opens_and_submits(sandbox: DiscordSandbox) -> None:
    opened = await sandbox.slash("feedback")
    assert opened.response_type == 9 and opened.modal is not None and opened.message is None

    thanked = await sandbox.submit_modal(opened, {"Rating": "5", "Comment": "clear"})
    assert thanked.text == "Thanks! rating=5 comment=clear" and thanked.ephemeral
    with pytest.raises(OptionRejected, match="Rating"):
        await sandbox.submit_modal(opened, {"Comment": "no rating"})


async def test_a_deferred_reply_is_complete_after_its_followup(sandbox: DiscordSandbox) -> None:
    reply = await sandbox.slash("report")
    assert reply.deferred and reply.ephemeral
    assert reply.text == "Here you go\nProgress\n3 of 5 lessons\nXP: 120"
    assert [c.path.split("/")[1] for c in reply.calls] == ["interactions", "webhooks"]
    assert reply.calls[0].json["type"] == 5 and len(reply.messages) == 1


async def test_errors_in_commands_are_captured(sandbox: DiscordSandbox) -> None:
    with pytest.raises(NoResponse, match="boom"):
        await sandbox.slash("crash")
    assert any("boom" in repr(r.exc_info) for r in sandbox.errors)
    sandbox.errors.clear()


async def test_rest_failures_can_be_injected(sandbox: DiscordSandbox) -> None:
    sandbox.http.fail("PUT", "/guilds/*/members/*/roles/*", status=403)
    refused = await sandbox.slash("promote", user=sandbox.owner, member=sandbox.student)
    assert refused.text == "Cannot promote: Missing Permissions"

    promoted = await sandbox.slash("promote", user=sandbox.owner, member=sandbox.student)
    assert promoted.text == "Sam is now an instructor"
    assert [c.status for c in sandbox.http.calls_to("PUT", "/guilds/*/members/*/roles/*")] == [403, 204]
    guild = sandbox.bot.get_guild(int(sandbox.guild["id"]))
    assert guild is not None
    member = guild.get_member(int(sandbox.student["user"]["id"]))
    assert member is not None and [r.name for r in member.roles[1:]] == ["Instructor"]


async def test_attachments_are_readable_and_uploads_recorded(sandbox: DiscordSandbox) -> None:
    notes = sandbox.attachment("notes.txt", b"print('hi')", content_type="text/plain")
    reply = await sandbox.slash("upload", file=notes)
    assert reply.text == "notes.txt: 11 bytes"
    assert [(f.filename, f.data) for f in reply.files] == [("loud-notes.txt", b"PRINT('HI')")]


async def test_messages_in_a_thread_the_bot_created_reach_on_message(sandbox: DiscordSandbox) -> None:
    await sandbox.slash("ask")
    thread_id = next(c.response["id"] for c in sandbox.http.calls_to("POST", "/channels/*/threads"))
    assert sandbox.bot.get_channel(int(thread_id)) is not None  # THREAD_CREATE was delivered

    answers = await sandbox.send_message(thread_id, "what is a list?")
    assert [m.text for m in answers] == ["Tutor: you asked 'what is a list?'"]
    assert [m.text for m in sandbox.messages_in(thread_id)] == ["Tutor: you asked 'what is a list?'"]


async def test_without_the_message_content_intent_the_bot_reads_empty_messages() -> None:
    async with DiscordSandbox(TinyBot(message_content=False)) as sandbox:
        await sandbox.slash("ask")
        thread = sandbox.http.calls_to("POST", "/channels/*/threads")[0].response
        answers = await sandbox.send_message(thread["id"], "what is a list?")
        assert [m.text for m in answers] == ["Tutor: you asked ''"]


async def test_direct_messages_are_kept_per_user(sandbox: DiscordSandbox) -> None:
    reply = await sandbox.slash("remind", user=sandbox.instructor)
    assert reply.text == "Check your DMs" and [m.text for m in reply.posted] == ["Your lesson starts soon"]
    assert [m.text for m in sandbox.dms_to(sandbox.instructor)] == ["Your lesson starts soon"]
    assert sandbox.dms_to(sandbox.student) == []


async def test_a_failing_interaction_callback_surfaces_as_the_commands_error(sandbox: DiscordSandbox) -> None:
    sandbox.http.fail("POST", "/interactions/*/callback", status=500)
    with pytest.raises(NoResponse, match="DiscordServerError"):
        await sandbox.slash("rate", stars=3)
    sandbox.errors.clear()


async def test_unknown_routes_are_recorded_and_answered_with_empty_json(sandbox: DiscordSandbox) -> None:
    bot = sandbox.bot
    assert await bot.http.request(Route("GET", "/guilds/{guild_id}/bans", guild_id=1)) == []
    assert await bot.http.request(Route("POST", "/guilds/{guild_id}/prune", guild_id=1), json={"days": 7}) == {}
    assert sandbox.http.calls_to("POST", "/guilds/*/prune")[0].json == {"days": 7}


async def test_a_late_answer_is_rejected_like_discord_does(sandbox: DiscordSandbox) -> None:
    sandbox.http.response_deadline = -1.0  # every answer is late
    with pytest.raises(NoResponse, match="Unknown interaction"):
        await sandbox.slash("rate", stars=3)
    sandbox.errors.clear()
