"""`/admin llm`, `/admin prompts` and `/admin cache` through real discord.py parsing, seen from the tutor they steer:
a backend's key, a prompt version and the answer cache each change what the model (`FakeOpenAIServer`) is sent.

Beside `test_admin.py` rather than in it: these tests need the bot pointed at the fake model server (the
`settings` fixture of `tutor_fixtures`), which would replace the shipped config for that file's tests too.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select

from bot.tutor.secrets import SecretBox
from db.models import AuditLog, CacheState, LLMBackend, LLMResponseCache
from db.session import Database
from sandbox import DiscordSandbox
from tests.cogs.tutor_fixtures import (  # noqa: F401 (the fixtures are taken by name)
    GREETING,
    chat_requests,
    fake_openai_server,
    messages_of,
    open_tutor,
    session_of,
    tutor_classroom,
    tutor_settings,
)
from tests.fakes.openai_server import FakeOpenAIServer


async def test_admins_add_a_backend_whose_key_is_stored_encrypted_and_used(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    key = "sk-admin-9f8e7d6c5b4a"
    added = await classroom.slash(
        "admin llm add",
        user=classroom.owner,
        name="fake",
        base_url=openai_server.base_url,
        provider="local",
        api_key=key,
    )
    assert "Added fake" in added.text and key not in added.text
    async with database.session_scope() as db:
        backend = await db.scalar(select(LLMBackend))
    assert backend is not None and backend.api_key_encrypted and key not in backend.api_key_encrypted
    assert SecretBox.from_key(classroom.bot.settings.secret_key).decrypt(backend.api_key_encrypted) == key  # type: ignore[attr-defined]
    chosen = await classroom.slash(
        "admin llm model", user=classroom.owner, backend=backend.id, model="admin-model", default=True
    )
    assert "It is now the default" in chosen.text
    listed = await classroom.slash("admin llm list", user=classroom.owner)
    assert "`admin-model`" in listed.text and key not in listed.text
    await open_tutor(classroom)
    request = openai_server.requests[-1]
    assert request.json["model"] == "admin-model" and request.headers["authorization"] == f"Bearer {key}"
    async with database.session_scope() as db:
        actions = set(await db.scalars(select(AuditLog.action)))
    assert {"llm.backend.add", "llm.model.add", "llm.model.default"} <= actions


async def test_admins_write_a_prompt_version_and_label_it_production(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    form = await classroom.slash("admin prompts create", user=classroom.owner, labels="staging")
    assert form.modal is not None and "You are the tutor" in json.dumps(form.modal)  # prefilled with the latest
    created = await classroom.submit_modal(form, {"Prompt text": "You are a patient pirate tutor."})
    assert "Created tutor.system v2" in created.text and "staging" in created.text
    _, thread_id = await open_tutor(classroom)
    assert chat_requests(openai_server)[-1]["messages"][0]["content"].startswith("You are the tutor")
    labelled = await classroom.slash(
        "admin prompts label", user=classroom.owner, name="tutor.system", version=2, label="production"
    )
    assert "production → tutor.system v2" in labelled.text
    await classroom.send_message(thread_id, "What is a variable?")
    assert chat_requests(openai_server)[-1]["messages"][0]["content"].startswith("You are a patient pirate tutor.")
    assert (await messages_of(database, thread_id))[-1].meta["prompt_version"] == 2
    shown = await classroom.slash("admin prompts show", user=classroom.owner)
    assert "tutor.system v2" in shown.text and "pirate" in shown.text
    listed = await classroom.slash("admin prompts list", user=classroom.owner)
    assert "v2: latest, production" in listed.text and "v1: —" in listed.text


async def test_admins_see_and_clear_a_courses_answer_cache(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    openai_server.reply(GREETING)
    _, thread_id = await open_tutor(classroom)
    stats = await classroom.slash("admin cache stats", user=classroom.owner, course="PY101")
    assert "Answers stored: 1" in stats.text and "Served from the cache: 0" in stats.text
    asked = await classroom.slash("admin cache clear", user=classroom.owner, course="PY101")
    assert "Clear the answer cache of PY101?" in asked.text
    cleared = await classroom.click(asked, "Clear the cache", user=classroom.owner)
    assert "1 cached answer(s) forgotten" in cleared.text
    async with database.session_scope() as db:
        assert await db.scalar(select(func.count()).select_from(LLMResponseCache)) == 0
        assert await db.scalar(select(func.count()).where(AuditLog.action == "tutor.cache.clear")) == 1
    assert (await session_of(database, thread_id)).cache_state is CacheState.DIVERGED
