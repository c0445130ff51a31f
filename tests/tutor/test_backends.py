"""LLM backends: API keys are encrypted at rest, never listed, and decrypt only under the right key; model choice."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.errors import InvalidInput
from bot.services import audit
from bot.tutor import backends
from bot.tutor.backends import model_connection
from bot.tutor.secrets import SecretBox, SecretKeyInvalid, SecretKeyMissing, SecretUnreadable
from db.models import ModelPurpose
from db.session import Database
from tests.tutor.conftest import GUILD, INSTRUCTOR

API_KEY = "sk-live-9f8e7d6c5b4a39281726"


@pytest.fixture
def secrets() -> SecretBox:
    return SecretBox.from_key(SecretStr(Fernet.generate_key().decode()))


async def add_backend(
    session: AsyncSession,
    secrets: SecretBox,
    *,
    name: str = "openai",
    provider: str = "OpenAI",
    base_url: str = "https://api.openai.com/v1/",
    api_key: str | None = API_KEY,
    guild_id: int | None = GUILD,
) -> backends.BackendSummary:
    """`backends.add_backend` by INSTRUCTOR; by default the OpenAI server with API_KEY."""
    return await backends.add_backend(
        session,
        name=name,
        provider=provider,
        base_url=base_url,
        api_key=api_key,
        secrets=secrets,
        actor_id=INSTRUCTOR,
        guild_id=guild_id,
    )


async def add_model(
    session: AsyncSession, backend_id: int, model: str, *, guild_id: int | None = GUILD, **options: Any
) -> backends.ModelSummary:
    """`backends.add_model` by INSTRUCTOR; a chat model unless `purpose` says otherwise."""
    options.setdefault("purpose", ModelPurpose.CHAT)
    return await backends.add_model(
        session, backend_id=backend_id, model=model, actor_id=INSTRUCTOR, guild_id=guild_id, **options
    )


async def add_openai(database: Database, secrets: SecretBox) -> backends.BackendSummary:
    async with database.session_scope() as session:
        return await add_backend(session, secrets)


def test_a_missing_or_malformed_secret_key_says_how_to_make_one() -> None:
    with pytest.raises(SecretKeyMissing, match="COURSEBOT_SECRET_KEY"):
        SecretBox.from_key(None)
    with pytest.raises(SecretKeyMissing):
        SecretBox.from_key(SecretStr(""))
    with pytest.raises(SecretKeyInvalid, match="32 url-safe base64"):
        SecretBox.from_key("not-a-fernet-key")


def test_secrets_round_trip_and_refuse_another_key(secrets: SecretBox) -> None:
    token = secrets.encrypt(API_KEY)

    assert API_KEY not in token and secrets.decrypt(token) == API_KEY
    assert secrets.encrypt(API_KEY) != token  # a fresh IV each time
    with pytest.raises(SecretUnreadable, match="another COURSEBOT_SECRET_KEY"):
        SecretBox.from_key(Fernet.generate_key().decode()).decrypt(token)
    assert "sk-" not in repr(secrets)


async def test_the_api_key_is_encrypted_at_rest_and_never_listed(database: Database, secrets: SecretBox) -> None:
    added = await add_openai(database, secrets)

    async with database.session_scope() as session:
        [stored] = (await session.execute(text("SELECT * FROM llm_backends"))).all()
        listed = await backends.list_backends(session)
        [entry] = await audit.recent(session, guild_id=GUILD, action="llm.backend.add")

    assert API_KEY not in repr(tuple(stored)) and "9f8e7d6c" not in repr(tuple(stored))
    assert secrets.decrypt(stored.api_key_encrypted) == API_KEY
    assert listed == [added] and added.has_api_key
    assert (added.provider, added.base_url) == ("openai", "https://api.openai.com/v1")
    assert API_KEY not in repr(listed) and API_KEY not in repr(entry)


async def test_the_default_model_of_a_purpose_brings_its_decrypted_key(database: Database, secrets: SecretBox) -> None:
    backend = await add_openai(database, secrets)
    async with database.session_scope() as session:
        assert await backends.default_connection(session, purpose=ModelPurpose.CHAT, secrets=secrets) is None
        first = await add_model(session, backend.id, "gpt-4o-mini", make_default=True)
        second = await add_model(session, backend.id, "gpt-4o")
        await backends.set_default(session, model_id=second.id, actor_id=INSTRUCTOR, guild_id=GUILD)
        connection = await backends.default_connection(session, purpose=ModelPurpose.CHAT, secrets=secrets)
        [listed] = await backends.list_backends(session)

    assert first.is_default
    assert connection is not None and (connection.model, connection.api_key) == ("gpt-4o", API_KEY)
    assert API_KEY not in repr(connection)
    assert {(model.model, model.is_default) for model in listed.models} == {("gpt-4o-mini", False), ("gpt-4o", True)}


async def test_a_key_saved_under_another_secret_key_is_reported_not_guessed(
    database: Database, secrets: SecretBox
) -> None:
    backend = await add_openai(database, secrets)
    async with database.session_scope() as session:
        await add_model(
            session,
            backend.id,
            "text-embedding-3-small",
            purpose=ModelPurpose.EMBEDDING,
            embedding_dimensions=1536,
            make_default=True,
        )
        rotated = SecretBox.from_key(Fernet.generate_key().decode())
        with pytest.raises(SecretUnreadable):
            await backends.default_connection(session, purpose=ModelPurpose.EMBEDDING, secrets=rotated)


async def test_names_and_models_are_checked(database: Database, secrets: SecretBox) -> None:
    backend = await add_openai(database, secrets)
    async with database.session_scope() as session:
        with pytest.raises(InvalidInput, match="exists already"):
            await add_backend(session, secrets, provider="openai", base_url="https://example.com/v1", api_key=None)
        with pytest.raises(InvalidInput, match="server address"):
            await add_backend(
                session, secrets, name="local", provider="ollama", base_url="localhost:11434", api_key=None
            )
        with pytest.raises(InvalidInput, match="dimensions"):
            await add_model(session, backend.id, "text-embedding-3-small", purpose=ModelPurpose.EMBEDDING)


async def test_the_admins_default_backend_wins_over_config(database: Database, settings: Settings) -> None:
    async with database.session_scope() as db:
        assert (await model_connection(db, settings, ModelPurpose.CHAT)).model == "from-config"  # type: ignore[union-attr]
    settings.secret_key = SecretStr(Fernet.generate_key().decode())
    box = SecretBox.from_key(settings.secret_key)
    async with database.session_scope() as db:
        added = await add_backend(
            db,
            box,
            name="local",
            provider="ollama",
            base_url="http://localhost:11434/v1",
            api_key="sk-local",
            guild_id=None,
        )
        await add_model(db, added.id, "llama3", make_default=True, guild_id=None)
    async with database.session_scope() as db:
        chosen = await model_connection(db, settings, ModelPurpose.CHAT)
        embeddings = await model_connection(db, settings, ModelPurpose.EMBEDDING)
    assert chosen is not None and (chosen.model, chosen.provider, chosen.api_key) == ("llama3", "ollama", "sk-local")
    assert embeddings is None  # config.toml has no embedding model and no admin default is set


async def test_an_empty_chat_model_means_no_model(database: Database, settings: Settings) -> None:
    settings.llm.chat_model = "  "
    async with database.session_scope() as db:
        assert await model_connection(db, settings, ModelPurpose.CHAT) is None
