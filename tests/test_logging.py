"""No secret reaches a log at any level: not an API key given to `/admin llm add`, not the Discord token, not
OPENAI_API_KEY, even with `[logging] level = "DEBUG"` and the wire logged (`wire_debug`)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot import logs
from bot.app import CourseBot
from bot.config import LoggingSettings, Settings
from bot.logs import WIRE_LOGGERS, configure_logging, redact
from db.session import Database
from sandbox import payloads
from sandbox.gateway import FakeGateway, started
from sandbox.harness import GENERAL_CHANNEL_ID, OWNER_ID, add_default_guild
from sandbox.http import FakeDiscordHTTP
from tests.cogs.conftest import running_sandbox

API_KEY = "sk-test-KNOWN"
UNSHAPED_API_KEY = "KNOWN-azure-0f1e2d3c4b5a"  # no recognisable shape: only knowing it is an api_key option hides it
DISCORD_TOKEN = "MTA4MDAwMDAwMDAwMDAwMDQwMQ.GsKNOWN.abcdefghijklmnopqrstuvwxyz0123456789AB"
OPENAI_API_KEY = "sk-proj-KNOWNKNOWNKNOWN"
SECRETS = (API_KEY, UNSHAPED_API_KEY, DISCORD_TOKEN, OPENAI_API_KEY)


class Capture(logging.Handler):
    """Every record, and what the configured handler wrote (`written`)."""

    def __init__(self, *, wire: bool) -> None:
        super().__init__(logging.DEBUG)
        self.wire = wire  # whether `wire_debug` is on
        self.records: list[logging.LogRecord] = []
        self.output = io.StringIO()

    @property
    def written(self) -> str:
        return self.output.getvalue()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def leaks(records: list[logging.LogRecord], output: str) -> list[str]:
    """Every secret found in a record (its message, template and arguments) or in what the handler wrote."""
    found = []
    for record in records:
        text = f"{record.getMessage()} {record.msg} {record.args!r}"
        found += [f"{record.name}: {secret}" for secret in SECRETS if secret in text]
    return found + [f"stderr: {secret}" for secret in SECRETS if secret in output]


@pytest.fixture
def secret_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "discord_token": SecretStr(DISCORD_TOKEN),
            "openai_api_key": SecretStr(OPENAI_API_KEY),
            "secret_key": SecretStr(Fernet.generate_key().decode()),
        }
    )


@pytest.fixture(params=[False, True], ids=["debug", "debug+wire"])
def debug_logging(request: pytest.FixtureRequest, secret_settings: Settings) -> Iterator[Capture]:
    """Logging configured as `coursebot` configures it at DEBUG (with and without `wire_debug`), its output kept,
    then a handler that keeps every record; everything is put back afterwards."""
    root = logging.getLogger()
    touched = [logging.getLogger(name) for name in ("discord", "alembic", "apscheduler", *WIRE_LOGGERS)]
    saved = (root.handlers[:], root.level, [logger.level for logger in touched], logging.getLogRecordFactory())
    known = set(logs._known_secrets)
    configure_logging(LoggingSettings(level="DEBUG", wire_debug=request.param), secrets=secret_settings.secret_values())
    capture = Capture(wire=request.param)
    [configured] = root.handlers
    assert isinstance(configured, logging.StreamHandler)
    configured.setStream(capture.output)  # type: ignore[arg-type]
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.handlers[:], level, levels, factory = saved
        root.setLevel(level)
        for logger, logger_level in zip(touched, levels, strict=True):
            logger.setLevel(logger_level)
        logging.setLogRecordFactory(factory)
        logs._known_secrets.clear()
        logs._known_secrets.update(known)


async def test_an_api_key_given_to_a_command_reaches_no_log(
    debug_logging: Capture, database: Database, secret_settings: Settings
) -> None:
    async with running_sandbox(CourseBot(secret_settings, database=database)) as sandbox:
        for name, key in (("openai", API_KEY), ("azure", UNSHAPED_API_KEY)):
            reply = await sandbox.slash(
                "admin llm add", user=sandbox.owner, name=name, base_url="https://api.example.com/v1", api_key=key
            )
            assert "stored encrypted" in reply.text, reply.text
    assert " DEBUG " in debug_logging.written  # the log really was at DEBUG
    assert not leaks(debug_logging.records, debug_logging.written)


async def test_gateway_frames_with_a_secret_option_are_logged_redacted_or_not_at_all(
    debug_logging: Capture, database: Database, secret_settings: Settings
) -> None:
    http = FakeDiscordHTTP()
    guild = add_default_guild(http)
    async with http, FakeGateway(http) as gateway:
        bot = CourseBot(secret_settings, database=database)
        async with started(bot, token=DISCORD_TOKEN):
            options = [
                {"name": "name", "type": 3, "value": "azure"},
                {"name": "base_url", "type": 3, "value": "https://api.example.com/v1"},
                {"name": "api_key", "type": 3, "value": UNSHAPED_API_KEY},
            ]
            owner, channel = http.member(guild["id"], OWNER_ID), http.channels[str(GENERAL_CHANNEL_ID)]
            await gateway.push(
                "INTERACTION_CREATE",
                payloads.slash_interaction("admin llm add", options, user=owner, guild=guild, channel=channel),
            )
            callback = await http.wait_for_call("POST", "/interactions/*/callback", timeout=10)
    assert "stored encrypted" in str(callback.json), callback.json
    frames = [record for record in debug_logging.records if "INTERACTION_CREATE" in record.getMessage()]
    if debug_logging.wire:
        assert frames and all("'api_key'" in frame.getMessage() for frame in frames)  # logged, value redacted
    else:
        assert not frames  # at plain DEBUG the wire stays out of the log
    assert not leaks(debug_logging.records, debug_logging.written)


def test_the_token_and_the_openai_key_are_redacted_wherever_they_appear(debug_logging: Capture) -> None:
    log = logging.getLogger("coursebot.test")
    log.info("connecting with %s", DISCORD_TOKEN)
    log.warning("key=%r", {"headers": {"Authorization": f"Bearer {OPENAI_API_KEY}"}})
    log.error(f"an f-string that should not have been: {OPENAI_API_KEY}")
    try:
        raise RuntimeError(f"refused {DISCORD_TOKEN}")
    except RuntimeError:
        log.exception("failed")
    messages = [record.getMessage() for record in debug_logging.records if record.name == "coursebot.test"]
    assert len(messages) == 4 and all("[redacted]" in message for message in messages[:3])
    assert "RuntimeError: refused [redacted]" in debug_logging.written  # the traceback as the log shows it
    assert not leaks(debug_logging.records, debug_logging.written)
    assert not [record for record in debug_logging.records if record.exc_text and DISCORD_TOKEN in record.exc_text]


def test_secret_option_values_are_redacted_in_payloads() -> None:
    frame = {
        "t": "INTERACTION_CREATE",
        "d": {
            "token": "aW50ZXJhY3Rpb24tdG9rZW4",
            "data": {
                "name": "admin",
                "options": [{"type": 1, "name": "add", "options": [{"type": 3, "name": "api_key", "value": "x1"}]}],
            },
            "components": [{"type": 4, "custom_id": "api_key", "value": "x2"}],
        },
    }
    redacted = redact(frame)
    assert "x1" not in repr(redacted) and "x2" not in repr(redacted) and "aW50" not in repr(redacted)
    assert redacted["d"]["data"]["name"] == "admin" and frame["d"]["token"] == "aW50ZXJhY3Rpb24tdG9rZW4"
