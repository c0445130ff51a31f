"""`coursebot run` when the operator got something wrong: one line that says what and where to fix it, exit 1."""

from __future__ import annotations

import argparse
import gc
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.__main__ import run_bot
from bot.config import Settings
from sandbox.gateway import FakeGateway
from sandbox.harness import add_default_guild
from sandbox.http import FakeDiscordHTTP

RUN = argparse.Namespace()


@pytest.fixture(autouse=True)
def _unfreeze_heap() -> Iterator[None]:
    # `coursebot run` freezes the heap once the bot has started; give the test process its collector back.
    yield
    gc.unfreeze()


def settings_with(settings: Settings, *, token: str, database_url: str) -> Settings:
    database = settings.database.model_copy(update={"url": database_url})
    return settings.model_copy(update={"discord_token": SecretStr(token), "database": database})


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("token", ["", "   "])
async def test_an_empty_token_asks_for_one(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], token: str
) -> None:
    code = await run_bot(settings_with(settings, token=token, database_url=f"sqlite+aiosqlite:///{tmp_path}/b.db"), RUN)

    assert code == 2
    assert "set DISCORD_TOKEN" in capsys.readouterr().err


async def test_a_token_discord_refuses_is_one_line_naming_where_to_get_one(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeDiscordHTTP() as http:
        http.fail("GET", "/users/@me", status=401, message="401: Unauthorized")
        code = await run_bot(
            settings_with(settings, token="not-a-token", database_url=f"sqlite+aiosqlite:///{tmp_path}/b.db"), RUN
        )

    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.count("\n") == 0, err
    assert "Discord refused the token in DISCORD_TOKEN" in err and "discord.com/developers" in err
    assert "not-a-token" not in err


async def test_a_missing_privileged_intent_names_the_intent_and_where_to_enable_it(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    http = FakeDiscordHTTP()
    add_default_guild(http)
    async with http, FakeGateway(http, close_on_identify=4014):
        code = await run_bot(
            settings_with(settings, token="token", database_url=f"sqlite+aiosqlite:///{tmp_path}/b.db"), RUN
        )

    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.count("\n") == 0, err
    assert "4014" in err and "Message Content intent" in err and "Privileged Gateway Intents" in err


async def test_an_unreachable_database_names_the_url_without_its_password(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+asyncpg://coursebot:hunter2@127.0.0.1:{closed_port()}/coursebot"
    async with FakeDiscordHTTP():
        code = await run_bot(settings_with(settings, token="token", database_url=url), RUN)

    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.count("\n") == 0, err
    assert "Could not reach the database at postgresql+asyncpg://coursebot:***@127.0.0.1" in err
    assert "hunter2" not in err and "database.url" in err
