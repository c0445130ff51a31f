"""`coursebot console`: the real bot, its real database, an offline Discord, and a terminal.

Type slash commands as in Discord (`/course enroll course:PY101`), press a button of the last answer
by its number, and switch who you are with `as student|instructor|admin`. Lines can come from a
pipe, so a script drives it too. Attachment options take `@path` (a folder is zipped on the fly).
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from discord import AppCommandOptionType, app_commands

from bot.app import CourseBot
from bot.config import Settings
from bot.sandbox.errors import CommandHidden, SandboxError
from bot.sandbox.harness import DiscordSandbox, Reply
from bot.sandbox.messages import PostedMessage
from bot.services import courses, tenancy

HELP = """\
Commands:
  /name sub option:value ...   run a slash command (values may contain spaces; quote nothing)
  1, 2, ...                    press button N of the last answer (numbers are shown as [N])
  pick N value[,value]         choose in select menu N of the last answer
  say TEXT                     post a message in the current thread (the tutor's), or the channel
  as student|instructor|admin  act as another member (now: {who})
  help                         this text;  quit  to leave
"""

_OPTION = re.compile(r"\s(?=[\w-]+:)")
GREEN = 3  # ButtonStyle.success


def parse_slash(line: str) -> tuple[str, dict[str, str]]:
    """`/teach course import package:@x publish:true` -> ("teach course import", {"package": "@x", ...})."""
    head, *options = _OPTION.split(line.strip().removeprefix("/"))
    values = {}
    for option in options:
        name, _, value = option.partition(":")
        values[name] = value.strip()
    return " ".join(head.split()), values


def option_types(sandbox: DiscordSandbox, command: str) -> dict[str, AppCommandOptionType]:
    """Discord option types of a command's parameters, so typed text becomes the value Discord would send."""
    for candidate in sandbox.bot.tree.walk_commands():
        if candidate.qualified_name == command and isinstance(candidate, app_commands.Command):
            return {parameter.display_name: parameter.type for parameter in candidate.parameters}
    return {}


def read_attachment(path: Path) -> tuple[str, bytes]:
    """(filename, bytes) to upload for `@path`; a folder is sent as a zip of its files."""
    path = path.expanduser()
    if not path.is_dir():
        return path.name, path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(path).as_posix())
    return f"{path.name}.zip", buffer.getvalue()


class Console:
    """One terminal session over a started sandbox."""

    def __init__(self, sandbox: DiscordSandbox, *, acting_as: str, write: Callable[[str], None]) -> None:
        self.sandbox = sandbox
        self.write = write
        self.members = {"student": sandbox.student, "instructor": sandbox.instructor, "admin": sandbox.owner}
        self.acting_as = acting_as
        self.visible: list[PostedMessage] = []  # the last answer's messages: their buttons are numbered
        self.thread_id: int | None = None

    @property
    def user(self) -> dict[str, Any]:
        return self.members[self.acting_as]

    async def handle(self, line: str) -> bool:
        """Run one line; False when the session should end."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line in ("quit", "exit"):
            return False
        try:
            await self._dispatch(line)
        except SandboxError as error:
            self.write(f"! {error}")
        return True

    async def _dispatch(self, line: str) -> None:
        if line == "help":
            self.write(HELP.format(who=self.acting_as))
        elif line.startswith("as "):
            who = line[3:].strip()
            if who not in self.members:
                self.write(f"! who is {who!r}? Pick one of: {', '.join(self.members)}")
                return
            self.acting_as = who
            self.write(f"(you are now the {who})")
        elif line.startswith("/"):
            await self._slash(line)
        elif line.isdigit():
            await self._press(int(line))
        elif line.startswith("pick "):
            number, _, values = line[5:].partition(" ")
            await self._pick(int(number), values.split(","))
        elif line.startswith("say "):
            await self._say(line[4:])
        else:
            self.write("! not a command; type `help`")

    async def _slash(self, line: str) -> None:
        name, options = parse_slash(line)
        types = option_types(self.sandbox, name)
        values: dict[str, Any] = {}
        for option, value in options.items():
            kind = types.get(option)
            if kind is AppCommandOptionType.attachment:
                values[option] = self.sandbox.attachment(*read_attachment(Path(value.removeprefix("@"))))
            elif kind is AppCommandOptionType.boolean:
                values[option] = value.lower() in ("true", "yes", "on", "1")
            elif kind is AppCommandOptionType.integer and value.lstrip("-").isdigit():
                values[option] = int(value)
            elif kind is AppCommandOptionType.number:
                values[option] = float(value)
            else:
                values[option] = value
        self.write(f"> {line}   (as {self.acting_as})")
        try:
            reply = await self.sandbox.slash(name, user=self.user, options=values)
        except CommandHidden:
            self.write("(Discord would hide this command from you; sending it anyway to show the bot's own check)")
            reply = await self.sandbox.slash(name, user=self.user, options=values, validate=False)
        await self._show(reply)

    async def _press(self, number: int) -> None:
        component = self._component(number)
        if component is None:
            return
        reply = await self.sandbox.click(
            self._message_of(component.message_id), component.custom_id or "", user=self.user
        )
        await self._show(reply)

    async def _pick(self, number: int, values: list[str]) -> None:
        component = self._component(number)
        if component is None:
            return
        message = self._message_of(component.message_id)
        reply = await self.sandbox.select(message, component.custom_id or "", values, user=self.user)
        await self._show(reply)

    async def _say(self, text: str) -> None:
        channel = self.thread_id or self.sandbox.channel["id"]
        answers = await self.sandbox.send_message(channel, text, user=self.user)
        self.visible = answers
        counter = iter(range(1, 1000))
        for message in answers:
            self.write(self._numbered(message, counter))

    def _component(self, number: int) -> Any:
        components = [c for message in self.visible for c in message.components]
        if not 1 <= number <= len(components):
            self.write(f"! there is no button {number} on the last answer")
            return None
        return components[number - 1]

    def _message_of(self, message_id: int | None) -> PostedMessage:
        return next(message for message in self.visible if message.id == message_id)

    async def _show(self, reply: Reply) -> None:
        self.visible = [*reply.messages, *reply.posted]
        counter = iter(range(1, 1000))
        for message in reply.messages:
            self.write(self._numbered(message, counter))
        for message in reply.posted:
            if message.channel_id != int(self.sandbox.channel["id"]):
                self.thread_id = message.channel_id  # the bot posted in a thread (the tutor's): `say` goes there
            self.write(f"(posted in <#{message.channel_id}>)\n{self._numbered(message, counter)}")
        if reply.modal:
            self.write(reply.render())
        if reply.choices:
            self.write(reply.render())
        self.write("")

    @staticmethod
    def _numbered(message: PostedMessage, counter: Iterator[int] | None = None) -> str:
        """The message as text, its buttons numbered `[1: Next]` (`~[2: Previous]~` when disabled, `[3: A ✓]` when
        green: a chosen option)."""
        counter = counter or iter(range(1, 1000))
        lines = [("(only you can see this) " if message.ephemeral else "") + (message.text or "(no text)")]
        controls = []
        for component in message.components:
            name = component.label or component.emoji or component.placeholder or component.custom_id or "?"
            if component.kind == "button" and component.style == GREEN:
                name += " ✓"
            shown = f"[{next(counter)}: {name}]" if component.kind.endswith("button") else f"<{next(counter)}: {name}>"
            controls.append(f"~{shown}~" if component.disabled else shown)
        if controls:
            lines.append(" ".join(controls))
        lines.extend(f"(file) {file.filename} ({len(file.data)} bytes)" for file in message.files)
        return "\n".join(lines)


async def lines_from(stream: Any) -> AsyncIterator[str]:
    """Lines typed at a prompt (a terminal) or read from a pipe, without blocking the event loop."""
    interactive = stream.isatty()
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, lambda: input("coursebot> ") if interactive else stream.readline())
        if not interactive and line == "":
            return
        yield line


async def first_start(console: Console, bot: CourseBot, sample: Path | None) -> None:
    """On a fresh database: map the sandbox's Instructor role, and import the sample course, both through
    the bot's own commands (so they are audited like any other change)."""
    async with bot.db.session_scope() as session:
        config = await tenancy.guild_config(session, int(console.sandbox.guild["id"]))
        has_courses = bool(await courses.list_courses(session, guild_id=int(console.sandbox.guild["id"]),
                                                      user_id=0, include_unpublished=True))  # fmt: skip
    quiet = Console(console.sandbox, acting_as="admin", write=lambda _: None)
    if config.instructor_role_id is None:
        await quiet.handle(f"/admin setup instructor_role:{console.sandbox.instructor_role['id']}")
    if sample is not None and not has_courses and "teach course import" in command_names(bot):
        quiet.acting_as = "instructor"
        await quiet.handle(f"/teach course import package:@{sample} publish:true")
        console.write(f"(imported the sample course from {sample})")


def command_names(bot: CourseBot) -> set[str]:
    return {command.qualified_name for command in bot.tree.walk_commands()}


async def run_console(settings: Settings, *, acting_as: str, sample: Path | None) -> int:
    """Start the bot in a sandbox over the configured database, set up a first start, then read lines."""
    # The terminal is for the conversation: keep library chatter (e.g. "voice not supported") out of it.
    logging.getLogger("discord").setLevel(logging.ERROR)
    bot = CourseBot(settings)
    sandbox = DiscordSandbox(bot, timeout=30.0)
    await sandbox.start()
    console = Console(sandbox, acting_as=acting_as, write=print)
    try:
        print(f"Coursebot console on {bot.db.backend}, acting as the {acting_as}. Type `help` for commands.\n")
        await first_start(console, bot, sample)
        async for line in lines_from(sys.stdin):
            if not await console.handle(line):
                break
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        await sandbox.close()
        await bot.close()
    return 0
