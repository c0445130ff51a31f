"""`coursebot console`: the real bot, its real database, an offline Discord, and a terminal.

Type slash commands as in Discord (`/course enroll course:PY101`), press a button of the last answer
by its number, and switch who you are with `as student|instructor|admin`. Lines can come from a
pipe, so a script drives it too. Attachment options take `@path` (a folder is zipped on the fly).

The bot runs on a clock the console moves (`clock +1d`, `clock 2026-12-04 09:00`): between lines it follows
real time, and a jump runs the scheduled jobs that became due at once, showing the DMs and channel posts they
send like any other answer, so a reminder can be seen arriving and its button pressed.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from discord import AppCommandOptionType, app_commands

from bot.app import CourseBot
from bot.clock import FixedClock
from bot.config import Settings
from bot.scheduler import run_due_jobs
from bot.services import courses, tenancy
from sandbox.errors import CommandHidden, SandboxError
from sandbox.harness import DiscordSandbox
from sandbox.messages import PostedMessage
from sandbox.reply import Reply, modal_inputs
from sandbox.world import DM_CHANNEL

HELP = """\
Commands:
  /name sub option:value ...   run a slash command (values may contain spaces; quote nothing)
  1, 2, ...                    press button N of the last answer (numbers are shown as [N])
  pick N value[,value]         choose in select menu N of the last answer
  fill 1:text 2:text           fill the form the bot opened (fields are numbered) and submit it
  say TEXT                     post a message in the current thread (the tutor's), or the channel
  as student|instructor|admin  act as another member (now: {who})
  clock                        show the bot's clock (UTC; between lines it follows real time)
  clock +1d | +2h | +30m       move it forward, then run the jobs that became due (reminders, nudges) and
  clock tomorrow 09:00         show the DMs and posts they sent. Times are UTC; `clock 09:00` is the next
  clock 2026-12-04 09:00       09:00. A jump sends only what fell due in its last 2 hours, as after a restart
  help                         this text;  quit  to leave
"""

# Charts and other images the bot attaches are saved here (beside the default database), one folder per message.
CONSOLE_IMAGES = Path("data") / "console-images"
_OPTION = re.compile(r"\s(?=[\w-]+:)")
_FIELD = re.compile(r"\s(?=\d+:)")
GREEN = 3  # ButtonStyle.success
_STEP = re.compile(r"\+(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_clock(argument: str, now: datetime) -> datetime:
    """Where `clock ARGUMENT` moves the clock from `now`, all in UTC: `+1d`, `+2h`, `+30m` (or several, `+1d +2h`);
    `2026-12-04 09:00`; `tomorrow 09:00`; or `09:00`, the next time the clock shows it."""
    argument = " ".join(argument.split())
    if argument.startswith("+"):
        steps = _STEP.findall(argument)
        if not steps or _STEP.sub("", argument).strip():
            raise SandboxError(f"can't read {argument!r}: use +1d, +2h or +30m")
        return now + sum((timedelta(**{_UNITS[unit]: int(count)}) for count, unit in steps), timedelta())
    day, _, wall = argument.rpartition(" ")
    try:
        hours, minutes = (int(part) for part in wall.split(":"))
        at = dt_time(hours, minutes)
        if day == "tomorrow":
            return datetime.combine(now.date() + timedelta(days=1), at, tzinfo=UTC)
        if day:
            return datetime.combine(date.fromisoformat(day), at, tzinfo=UTC)
    except ValueError:
        raise SandboxError(
            f"can't read {argument!r}: use +1d, +2h, +30m, 09:00, tomorrow 09:00 or 2026-12-04 09:00 (UTC)"
        ) from None
    today = datetime.combine(now.date(), at, tzinfo=UTC)
    return today if today > now else today + timedelta(days=1)


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

    def __init__(
        self,
        sandbox: DiscordSandbox,
        *,
        acting_as: str,
        write: Callable[[str], None],
        follow_real_time: bool = False,
        images_dir: Path | None = None,
    ) -> None:
        self.sandbox = sandbox
        # Where images the bot attaches (charts) are saved, so they can be opened; None: not saved.
        self.images_dir = images_dir
        self.write = write
        self.members = {"student": sandbox.student, "instructor": sandbox.instructor, "admin": sandbox.owner}
        self.acting_as = acting_as
        self.visible: list[PostedMessage] = []  # the last answer's messages: their buttons are numbered
        self.open_form: Reply | None = None  # the form (modal) the bot opened last, until it is filled
        self.thread_id: int | None = None
        # With a FixedClock, the time that passed between lines moves it too (a terminal session; not in tests).
        self.follow_real_time = follow_real_time
        self._last_line_at = time.monotonic()
        self._calls_seen = len(sandbox.http.calls)  # what the bot sent on its own after this is shown next line

    @property
    def user(self) -> dict[str, Any]:
        return self.members[self.acting_as]

    async def handle(self, line: str) -> bool:
        """Run one line; False when the session should end."""
        line = line.strip()
        await self._catch_up()
        if not line or line.startswith("#"):
            return True
        if line in ("quit", "exit"):
            return False
        try:
            await self._dispatch(line)
        except SandboxError as error:
            self.write(f"! {error}")
        finally:
            self._calls_seen = len(self.sandbox.http.calls)
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
        elif line.startswith("fill "):
            await self._fill(line[5:])
        elif line.startswith("say "):
            await self._say(line[4:])
        elif line == "clock" or line.startswith("clock "):
            await self._clock(line[5:])
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
        recipient = self._dm_recipient(self._message_of(component.message_id))
        if recipient is not None and recipient != self.user["user"]["id"]:
            self.write("! that button is in someone else's DMs; `as student` to press it as its reader")
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

    async def _fill(self, given: str) -> None:
        if self.open_form is None or self.open_form.modal is None:
            self.write("! no form is open: a button or command opens one")
            return
        inputs = modal_inputs(self.open_form.modal)
        fields = {}
        for part in _FIELD.split(given.strip()):
            number, _, text = part.partition(":")
            if not number.strip().isdigit() or not 1 <= int(number) <= len(inputs):
                self.write(f"! the form has fields 1 to {len(inputs)}: fill 1:text 2:text")
                return
            fields[inputs[int(number) - 1][1]] = text.strip()
        reply = await self.sandbox.submit_modal(self.open_form, fields, user=self.user)
        await self._show(reply)

    async def _say(self, text: str) -> None:
        channel = self.thread_id or self.sandbox.channel["id"]
        answers = await self.sandbox.send_message(channel, text, user=self.user)
        self.visible = answers
        counter = iter(range(1, 1000))
        for message in answers:
            self.write(self._numbered(message, counter))

    def skip_sent_so_far(self) -> None:
        """Start showing what the bot sends on its own from now on."""
        self._calls_seen = len(self.sandbox.http.calls)

    async def _catch_up(self) -> None:
        """Before a line: move a followed clock by the real time that passed, run the jobs that came due, and show
        what the bot sent on its own since the last line (a reminder that came while you read)."""
        now = time.monotonic()
        elapsed, self._last_line_at = now - self._last_line_at, now
        bot: CourseBot = self.sandbox.bot  # type: ignore[assignment]
        if self.follow_real_time and isinstance(bot.clock, FixedClock):
            bot.clock.advance(seconds=elapsed)
            await run_due_jobs(bot)
        await self._show_sent(self._calls_seen, append=True)

    async def _clock(self, argument: str) -> None:
        bot: CourseBot = self.sandbox.bot  # type: ignore[assignment]
        clock = bot.clock
        if not argument.strip():
            self.write(f"(the bot's clock: {clock.now():%a %Y-%m-%d %H:%M} UTC)\n")
            return
        if not isinstance(clock, FixedClock):
            raise SandboxError("this bot runs on the system clock, which the console can't move")
        moment = parse_clock(argument, clock.now())
        if moment < clock.now():
            raise SandboxError("the clock only moves forward (the jobs' state would not make sense otherwise)")
        clock.set(moment)
        self.write(f"> clock {argument.strip()}   (now {moment:%a %Y-%m-%d %H:%M} UTC; running the jobs that are due)")
        start = len(self.sandbox.http.calls)
        await run_due_jobs(bot)
        await self._show_sent(start)

    async def _show_sent(self, start: int, *, append: bool = False) -> None:
        """Print the messages the bot posted on its own since call `start` (DMs, channel posts), buttons numbered:
        as the new last answer, or (`append`) numbered on after the last answer's buttons, which keep theirs."""
        http = self.sandbox.http
        ids = dict.fromkeys(
            c.message_id for c in http.calls[start:] if c.matches("POST", "/channels/*/messages") and c.message_id
        )
        sent = [http.messages[i].snapshot() for i in ids if not http.messages[i].deleted]
        if not sent:
            if not append:
                self.write("(nothing was sent)\n")
            return
        shown = sum(len(message.components) for message in self.visible) if append else 0
        self.visible = [*self.visible, *sent] if append else sent
        counter = iter(range(shown + 1, 1000))
        for message in sent:
            self.write(f"{self._where(message)}\n{self._numbered(message, counter)}")
        self.write("")

    def _where(self, message: PostedMessage) -> str:
        channel = self.sandbox.http.channels.get(str(message.channel_id), {})
        if channel.get("type") == DM_CHANNEL:
            recipient = (channel.get("recipients") or [{}])[0]
            return f"(direct message to {recipient.get('global_name') or recipient.get('username', '?')})"
        return f"(posted in #{channel.get('name', message.channel_id)})"

    def _dm_recipient(self, message: PostedMessage) -> str | None:
        channel = self.sandbox.http.channels.get(str(message.channel_id), {})
        if channel.get("type") != DM_CHANNEL:
            return None
        return (channel.get("recipients") or [{}])[0].get("id")

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
            self._save_images(message)
        for message in reply.posted:
            direct = self._dm_recipient(message) is not None
            if message.channel_id != int(self.sandbox.channel["id"]) and not direct:
                self.thread_id = message.channel_id  # the bot posted in a thread (the tutor's): `say` goes there
            where = self._where(message) if direct else f"(posted in <#{message.channel_id}>)"
            self.write(f"{where}\n{self._numbered(message, counter)}")
        self.open_form = reply if reply.modal else None
        if reply.modal:
            self.write(f"(form) {reply.modal.get('title', '')}")
            for number, (label, custom_id, _) in enumerate(modal_inputs(reply.modal), start=1):
                self.write(f"  [{number}] {label or custom_id}")
            self.write("  fill 1:text 2:text ... to submit it")
        if reply.choices:
            self.write(reply.render())
        self.write("")

    def _save_images(self, message: PostedMessage) -> None:
        """Save the message's PNG attachments (e.g. `/teach analytics` charts) and print where they are."""
        images = [file for file in message.files if file.filename.lower().endswith(".png")]
        if self.images_dir is None or not images:
            return
        folder = self.images_dir / f"message-{message.id}"
        folder.mkdir(parents=True, exist_ok=True)
        for image in images:
            path = folder / Path(image.filename).name
            path.write_bytes(image.data)
            self.write(f"(saved) {path.resolve()}")

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
        has_courses = bool(
            await courses.list_courses(
                session, guild_id=int(console.sandbox.guild["id"]), user_id=0, include_unpublished=True
            )
        )
    quiet = Console(console.sandbox, acting_as="admin", write=lambda _: None)
    if config.instructor_role_id is None:
        await quiet.handle(f"/admin setup instructor_role:{console.sandbox.instructor_role['id']}")
    if sample is not None and not has_courses and "teach course import" in command_names(bot):
        quiet.acting_as = "instructor"
        await quiet.handle(f"/teach course import package:@{sample} publish:true")
        console.write(f"(imported the sample course from {sample})")
    # The import goes on indexing for the tutor after it answers: let it finish here, so its last edit is not
    # shown under the first command typed, and start the console's own record after these quiet steps.
    await console.sandbox.finish_handlers()
    console.skip_sent_so_far()


def command_names(bot: CourseBot) -> set[str]:
    return {command.qualified_name for command in bot.tree.walk_commands()}


async def run_console(settings: Settings, *, acting_as: str, sample: Path | None) -> int:
    """Start the bot in a sandbox over the configured database, set up a first start, then read lines."""
    # The terminal is for the conversation: keep library chatter (e.g. "voice not supported") out of it.
    logging.getLogger("discord").setLevel(logging.ERROR)
    # The console shows what the scheduled jobs send; their counts would only interrupt it.
    logging.getLogger("bot.scheduler").setLevel(logging.WARNING)
    # A clock the console can move (`clock +1d`); between lines it follows real time.
    bot = CourseBot(settings, clock=FixedClock(datetime.now(UTC)))
    sandbox = DiscordSandbox(bot, timeout=30.0)
    await sandbox.start()
    console = Console(sandbox, acting_as=acting_as, write=print, follow_real_time=True, images_dir=CONSOLE_IMAGES)
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
