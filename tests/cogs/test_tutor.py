"""The tutor through real discord.py parsing, against a real OpenAI-compatible server (the SDK is never patched).

Each test runs on SQLite and on PostgreSQL. The model is `FakeOpenAIServer`; what it received (`server.requests`)
is what a real model would have been sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.config import Settings, load_settings
from bot.scheduler import end_idle_tutor_sessions
from bot.tutor.secrets import SecretBox
from bot.tutor.tutor import CHECK_UNDERSTANDING_REQUEST, QUIZ_IN_PROGRESS_NOTE
from db.models import (
    AuditLog,
    CacheState,
    ChatMessage,
    ChatMessageCitation,
    ChatMessageFeedback,
    ChatSession,
    GenerationStatus,
    LLMBackend,
    LLMResponseCache,
    Material,
    MessageRole,
    Question,
    SessionEndReason,
    SourceMode,
)
from db.session import Database
from sandbox import DiscordSandbox, Reply
from sandbox.messages import PostedMessage
from tests.cogs.test_courses import import_sample
from tests.fakes.openai_server import CHAT_PATH, FakeOpenAIServer, Fault

CONFIG = Path(__file__).resolve().parent.parent.parent / "config.toml"
GREETING = "Welcome to Variables! You will learn to name values. [1]\nOptions: Show an example | Explain naming rules"


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def settings(openai_server: FakeOpenAIServer) -> Settings:
    """config.toml with the fake server as the chat model: short timeout, no retries, so faults show at once."""
    settings = load_settings(CONFIG)
    settings.llm.base_url = openai_server.base_url
    settings.llm.chat_model = "fake-chat"
    settings.llm.timeout_seconds = 0.5
    settings.llm.max_retries = 0
    settings.secret_key = SecretStr(Fernet.generate_key().decode())
    return settings


@pytest.fixture
async def classroom(discord_sandbox: DiscordSandbox) -> DiscordSandbox:
    """The sample course imported, published and indexed for the tutor; the student enrolled."""
    sandbox = discord_sandbox
    await sandbox.slash("admin setup", user=sandbox.owner, instructor_role=sandbox.instructor_role)
    since = len(sandbox.http.calls)
    await import_sample(sandbox)
    indexed = await sandbox.http.wait_for_call("PATCH", "/webhooks/*/messages/@original", since=since)
    assert "8 lesson(s) ready" in json.dumps(indexed.json), indexed.json
    await sandbox.slash("course enroll", course="PY101")
    return sandbox


async def open_tutor(sandbox: DiscordSandbox, *, user: Any = None, lesson: str = "variables") -> tuple[Reply, str]:
    """`/tutor start` and the id of the thread it opened."""
    since = len(sandbox.http.calls)
    reply = await sandbox.slash("tutor start", user=user or sandbox.student, lesson=lesson)
    created = sandbox.http.calls_to("POST", "/channels/*/threads", since=since)
    assert created, reply.text
    return reply, created[-1].response["id"]


async def finished_answer(sandbox: DiscordSandbox, since: int) -> PostedMessage:
    """The answer (or failure) the bot finished after call `since`: the message that got tutor buttons."""
    async with asyncio.timeout(5):
        while True:
            next_call = sandbox.http.activity()
            for call in sandbox.http.calls[since:]:
                body = json.dumps(call.json or {})
                if call.message_id and "/channels/" in call.path and ("tutor:fb:" in body or "tutor:retry:" in body):
                    next_call.cancel()
                    return sandbox.http.messages[call.message_id].snapshot()
            await next_call


def chat_requests(server: FakeOpenAIServer, since: int = 0) -> list[dict[str, Any]]:
    return [request.json for request in server.requests[since:] if request.path == CHAT_PATH]


def normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


async def messages_of(database: Database, thread_id: str) -> list[ChatMessage]:
    async with database.session_scope() as session:
        return list(
            await session.scalars(
                select(ChatMessage)
                .join(ChatSession, ChatSession.id == ChatMessage.session_id)
                .where(ChatSession.thread_id == int(thread_id))
                .order_by(ChatMessage.id)
            )
        )


async def session_of(database: Database, thread_id: str) -> ChatSession:
    async with database.session_scope() as session:
        found = await session.scalar(select(ChatSession).where(ChatSession.thread_id == int(thread_id)))
    assert found is not None
    return found


async def test_start_opens_a_private_thread_and_greets(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    openai_server.reply(GREETING)
    reply, thread_id = await open_tutor(classroom)
    assert reply.ephemeral and f"<#{thread_id}>" in reply.text
    created = classroom.http.calls_to("POST", "/channels/*/threads")[-1]
    assert created.json["type"] == 12 and created.json["invitable"] is False
    assert classroom.http.calls_to("PUT", f"/channels/{thread_id}/thread-members/{classroom.student['user']['id']}")
    [greeting] = classroom.messages_in(thread_id)
    assert greeting.content == "Welcome to Variables! You will learn to name values. [1]"
    assert "Sources" in greeting.text and "[1]" in greeting.embeds[0]["description"]
    labels = [component.label or component.emoji for component in greeting.components]
    assert labels == ["Show an example", "Explain naming rules", "Check my understanding", "👍", "👎"]
    session = await session_of(database, thread_id)
    assert session.source_mode is SourceMode.LESSON and session.cache_state is CacheState.TRACKING
    [answer] = await messages_of(database, thread_id)
    assert answer.role is MessageRole.ASSISTANT and answer.generation_status is GenerationStatus.COMPLETED
    assert answer.discord_message_id == greeting.id
    assert answer.meta["model"] == "fake-chat" and answer.meta["prompt_name"] == "tutor.system"
    assert answer.meta["prompt_version"] == 1 and answer.meta["total_tokens"] > 0 and answer.meta["latency_ms"] >= 0
    async with database.session_scope() as db:
        assert await db.scalar(select(func.count()).where(ChatMessageCitation.message_id == answer.id))


async def test_a_question_is_answered_with_streamed_edits_and_sources(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    openai_server.reply(GREETING)
    _, thread_id = await open_tutor(classroom)
    classroom.bot.get_cog("Tutor").edit_interval = 0  # type: ignore[union-attr]  # show every delta
    openai_server.reply(["A variable ", "is a name ", "that refers ", "to a value [2]. @everyone"])
    since = len(classroom.http.calls)
    [answer] = await classroom.send_message(thread_id, "What is a variable?")
    edits = classroom.http.calls_to("PATCH", f"/channels/{thread_id}/messages/{answer.id}", since=since)
    assert len(edits) >= 4  # one per delta, then the final one with sources and buttons
    assert [edit.json["content"] for edit in edits[:2]] == ["A variable ", "A variable is a name "]
    assert answer.content.startswith("A variable is a name that refers to a value [2].")
    assert "@\u200beveryone" in answer.content  # model text never pings
    assert answer.embeds[0]["title"] == "Sources" and answer.embeds[0]["description"].startswith("[2] ")
    request = chat_requests(openai_server)[-1]
    assert request["messages"][-1] == {"role": "user", "content": "What is a variable?"}
    assert "<<<SOURCE 1" in request["messages"][0]["content"]
    assert request["messages"][1]["role"] == "assistant"  # the greeting, as conversation history
    user, reply = (await messages_of(database, thread_id))[-2:]
    assert user.role is MessageRole.USER and user.content == "What is a variable?" and user.discord_message_id
    assert reply.generation_status is GenerationStatus.COMPLETED and reply.discord_message_id == answer.id
    assert (await session_of(database, thread_id)).cache_state is CacheState.DIVERGED


async def test_only_the_student_who_opened_the_thread_is_answered(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer
) -> None:
    _, thread_id = await open_tutor(classroom)
    requests = len(openai_server.requests)
    assert await classroom.send_message(thread_id, "Can I join?", user=classroom.instructor) == []
    other = await classroom.add_member("riley")
    assert await classroom.send_message(thread_id, "Me too?", user=other) == []
    assert len(openai_server.requests) == requests
    answered = await classroom.send_message(thread_id, "What is a variable?")
    assert len(answered) == 1 and len(openai_server.requests) == requests + 1


async def test_without_a_model_the_tutor_says_so_and_answers_from_the_material(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    classroom.bot.settings.llm.chat_model = ""  # type: ignore[attr-defined]
    _, thread_id = await open_tutor(classroom)
    [greeting] = classroom.messages_in(thread_id)
    assert "No language model is set up" in greeting.content
    assert [component.label for component in greeting.components] == [None, None]  # 👍 👎 only: no branches
    [answer] = await classroom.send_message(thread_id, "How do I name a variable?")
    assert answer.content.startswith("No language model is set up for the tutor, so I can't write an answer")
    assert "**[1] " in answer.content and "**[3] " in answer.content and answer.embeds[0]["title"] == "Sources"
    assert openai_server.requests == []
    stored = (await messages_of(database, thread_id))[-1]
    assert (
        stored.meta["provider"] == "retrieval-only" and stored.meta["model"] == "" and stored.meta["total_tokens"] == 0
    )
    async with database.session_scope() as db:
        assert await db.scalar(select(func.count()).where(ChatMessageCitation.message_id == stored.id)) == 3


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (Fault.rate_limited(), "busy with other requests"),
        (Fault.server_error(500), "not answering right now"),
        (Fault.delay(2.0), "not answering right now"),
        (Fault.garbage(), "could not be read"),
    ],
    ids=["429", "500", "timeout", "garbage"],
)
async def test_a_model_fault_keeps_the_message_and_retry_answers_it(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database, fault: Fault, says: str
) -> None:
    _, thread_id = await open_tutor(classroom)
    openai_server.fail(fault)
    [failed] = await classroom.send_message(thread_id, "What is a variable?")
    assert says in failed.content and [component.label for component in failed.components] == ["Retry"]
    user, answer = (await messages_of(database, thread_id))[-2:]
    assert user.role is MessageRole.USER and user.content == "What is a variable?"
    assert answer.generation_status is GenerationStatus.FAILED
    openai_server.reply("A variable is a name for a value.")
    since = len(classroom.http.calls)
    retried = await classroom.click(failed, "Retry", user=classroom.student)
    assert "Trying again" in retried.text and not retried.components
    recovered = await finished_answer(classroom, since)
    assert recovered.content == "A variable is a name for a value."
    retry = chat_requests(openai_server)[-1]
    assert retry["messages"][-1] == {"role": "user", "content": "What is a variable?"}
    stored = await messages_of(database, thread_id)
    assert [message.role for message in stored].count(MessageRole.USER) == 1  # the message is answered, not re-sent
    assert stored[-1].generation_status is GenerationStatus.COMPLETED


async def test_the_cache_serves_the_second_student_without_a_model_call(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    second = await classroom.add_member("riley")
    await classroom.slash("course enroll", course="PY101", user=second)
    openai_server.reply(GREETING)
    openai_server.reply("Quick check: what does `x = 5` do?\nOptions: It stores 5 in x | It compares x with 5")
    _, first_thread = await open_tutor(classroom)
    since = len(classroom.http.calls)
    await classroom.click(classroom.messages_in(first_thread)[0], "Check my understanding", user=classroom.student)
    first_check = await finished_answer(classroom, since)
    requests = len(openai_server.requests)
    assert requests == 2 and chat_requests(openai_server)[-1]["messages"][-1]["content"] == CHECK_UNDERSTANDING_REQUEST

    _, second_thread = await open_tutor(classroom, user=second)
    [greeting] = classroom.messages_in(second_thread)
    assert greeting.content == classroom.messages_in(first_thread)[0].content
    since = len(classroom.http.calls)
    await classroom.click(greeting, "Check my understanding", user=second)
    second_check = await finished_answer(classroom, since)
    assert second_check.content == first_check.content == "Quick check: what does `x = 5` do?"
    assert [component.label for component in second_check.components][:2] == [
        "It stores 5 in x",
        "It compares x with 5",
    ]
    assert len(openai_server.requests) == requests  # both replayed from the cache

    async with database.session_scope() as db:
        hits = list(await db.scalars(select(LLMResponseCache.hit_count).order_by(LLMResponseCache.id)))
    assert hits == [1, 1]
    replayed = [
        message for message in await messages_of(database, second_thread) if message.role is MessageRole.ASSISTANT
    ]
    assert [message.meta["cached"] for message in replayed] == [True, True]
    assert [message.meta["total_tokens"] for message in replayed] == [0, 0]
    assert (await session_of(database, second_thread)).cache_node_id is not None


async def test_a_free_form_message_leaves_the_cache_tree(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    second = await classroom.add_member("riley")
    await classroom.slash("course enroll", course="PY101", user=second)
    openai_server.reply(GREETING)
    _, first_thread = await open_tutor(classroom)
    since = len(classroom.http.calls)
    await classroom.click(classroom.messages_in(first_thread)[0], "Show an example", user=classroom.student)
    await finished_answer(classroom, since)

    _, second_thread = await open_tutor(classroom, user=second)
    assert (await session_of(database, second_thread)).cache_state is CacheState.TRACKING
    await classroom.send_message(second_thread, "Hold on, what is a value?", user=second)
    assert (await session_of(database, second_thread)).cache_state is CacheState.DIVERGED
    requests = len(openai_server.requests)
    since = len(classroom.http.calls)
    await classroom.click(classroom.messages_in(second_thread)[0], "Show an example", user=second)
    await finished_answer(classroom, since)
    assert len(openai_server.requests) == requests + 1  # cached for the first student, but this path diverged
    async with database.session_scope() as db:
        assert await db.scalar(select(func.count()).select_from(LLMResponseCache)) == 2  # greeting + one branch


async def test_feedback_is_recorded_once_per_user_and_only_for_the_owner(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    _, thread_id = await open_tutor(classroom)
    [greeting] = classroom.messages_in(thread_id)
    thumbs_up, thumbs_down = [c.custom_id for c in greeting.components if c.custom_id.startswith("tutor:fb:")]
    first = await classroom.click(greeting, thumbs_up, user=classroom.student)
    assert first.ephemeral and "Thanks" in first.text
    await classroom.click(greeting, thumbs_up, user=classroom.student)
    await classroom.click(greeting, thumbs_down, user=classroom.student)
    stranger = await classroom.click(greeting, thumbs_up, user=classroom.instructor)
    assert stranger.ephemeral and "Only the student who asked" in stranger.text
    async with database.session_scope() as db:
        ratings = (await db.execute(select(ChatMessageFeedback.user_id, ChatMessageFeedback.rating))).all()
    assert ratings == [(int(classroom.student["user"]["id"]), -1)]


async def test_no_quiz_answer_reaches_the_model_while_the_quiz_is_in_progress(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    async with database.session_scope() as db:
        questions = list(await db.scalars(select(Question).where(Question.explanation.contains("thrown away"))))
        quiz = questions[0].item_id
        questions = list(await db.scalars(select(Question).where(Question.item_id == quiz)))
    answer_key = "# First steps check: answer key\n\n" + "\n\n".join(
        f"## Question {n}\n\n{question.explanation}" for n, question in enumerate(questions, start=1)
    )
    upload = classroom.attachment("answer-key.md", answer_key.encode())
    uploaded = await classroom.slash("teach materials upload", user=classroom.instructor, course="PY101", file=upload)
    assert "is ready" in uploaded.text
    guarded = {
        normalised(text)
        for question in questions
        for text in (question.explanation, question.text, *(question.options[i] for i in question.answer))
        if len(normalised(text)) >= 12
    }
    _, thread_id = await open_tutor(classroom, lesson="running-code")
    question = "Why does a bare expression in a script show nothing when it runs?"
    # Before the quiz the key is fair game, and the model's answer quotes it.
    openai_server.reply(f"Because: {questions[0].explanation}")
    before = len(openai_server.requests)
    await classroom.send_message(thread_id, question)
    [control] = chat_requests(openai_server, before)
    assert normalised(questions[0].explanation) in normalised(json.dumps(control["messages"][0]["content"]))

    started = await classroom.slash("quiz start", quiz="first-steps-check")
    assert "question 1/5" in started.text
    during = len(openai_server.requests)
    await classroom.send_message(thread_id, question)
    since = len(classroom.http.calls)
    await classroom.click(classroom.messages_in(thread_id)[-1], "Check my understanding", user=classroom.student)
    await finished_answer(classroom, since)
    sent = chat_requests(openai_server, during)
    assert len(sent) == 2
    for body in sent:
        prompt = normalised(" ".join(message["content"] for message in body["messages"]))
        leaked = [text for text in guarded if text in prompt]
        assert leaked == [], leaked
        assert normalised(QUIZ_IN_PROGRESS_NOTE) in prompt


async def test_a_message_over_the_input_cap_is_refused_and_not_sent(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    _, thread_id = await open_tutor(classroom)
    requests = len(openai_server.requests)
    [refusal] = await classroom.send_message(thread_id, "why " * 400)
    assert "1,599 characters long" in refusal.text and "at most 1,500" in refusal.text
    assert len(openai_server.requests) == requests
    assert [message.role for message in await messages_of(database, thread_id)] == [MessageRole.ASSISTANT]


async def test_the_rate_limit_is_explained(classroom: DiscordSandbox, openai_server: FakeOpenAIServer) -> None:
    classroom.bot.settings.tutor.rate_limit_per_minute = 1  # type: ignore[attr-defined]
    _, thread_id = await open_tutor(classroom)
    await classroom.send_message(thread_id, "What is a variable?")
    requests = len(openai_server.requests)
    [refusal] = await classroom.send_message(thread_id, "And a list?")
    assert "1 messages a minute" in refusal.text and "Wait 60 s" in refusal.text
    assert len(openai_server.requests) == requests


async def test_an_exhausted_budget_points_to_the_material_instead(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer
) -> None:
    _, thread_id = await open_tutor(classroom)  # the greeting spends the whole (tiny) budget
    classroom.bot.settings.tutor.daily_token_budget = 1  # type: ignore[attr-defined]
    requests = len(openai_server.requests)
    [answer] = await classroom.send_message(thread_id, "How do I name a variable?")
    assert "used this server's model budget for today" in answer.content and "**[1] " in answer.content
    assert len(openai_server.requests) == requests


async def test_one_answer_at_a_time_per_thread(classroom: DiscordSandbox, openai_server: FakeOpenAIServer) -> None:
    _, thread_id = await open_tutor(classroom)
    openai_server.fail(Fault.stall(0.3))
    since = len(classroom.http.calls)
    first = asyncio.create_task(classroom.send_message(thread_id, "What is a variable?"))
    await classroom.http.wait_for_call("POST", f"/channels/{thread_id}/messages", since=since)
    [note] = await classroom.send_message(thread_id, "And a list?")
    assert "Still answering" in note.text
    answer = (await first)[0]  # the note was posted while it ran, so it is among its messages too
    assert answer.content.startswith("Echo: What is a variable?") and answer.components


async def test_a_long_answer_is_split_over_several_messages(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer
) -> None:
    _, thread_id = await open_tutor(classroom)
    paragraphs = [f"Paragraph {n}: " + "variables name values. " * 40 for n in range(5)]
    openai_server.reply("\n\n".join(paragraphs))
    messages = await classroom.send_message(thread_id, "Tell me everything about variables")
    assert len(messages) >= 3 and all(len(message.content) <= 2000 for message in messages)
    assert "Paragraph 4" in messages[-1].content and messages[-1].components  # buttons on the last piece only
    assert not messages[0].components


async def test_tutor_end_archives_and_locks_the_thread(classroom: DiscordSandbox, database: Database) -> None:
    _, thread_id = await open_tutor(classroom)
    again = await classroom.slash("tutor start")
    assert f"already have a tutor thread open: <#{thread_id}>" in again.text
    ended = await classroom.slash("tutor end", channel=thread_id)
    assert "Tutor session ended" in ended.text and not ended.ephemeral
    archived = await classroom.http.wait_for_call("PATCH", f"/channels/{thread_id}")
    assert archived.json == {"archived": True, "locked": True}
    session = await session_of(database, thread_id)
    assert session.ended_at is not None and session.end_reason is SessionEndReason.USER
    assert await classroom.send_message(thread_id, "Hello?") == []


async def test_the_inactivity_sweep_ends_and_archives_idle_threads(
    classroom: DiscordSandbox, database: Database, clock: Any
) -> None:
    _, thread_id = await open_tutor(classroom)
    clock.advance(minutes=59)
    await end_idle_tutor_sessions(classroom.bot)  # type: ignore[arg-type]
    assert (await session_of(database, thread_id)).ended_at is None
    clock.advance(minutes=2)
    since = len(classroom.http.calls)
    await end_idle_tutor_sessions(classroom.bot)  # type: ignore[arg-type]
    archived = await classroom.http.wait_for_call("PATCH", f"/channels/{thread_id}", since=since)
    assert archived.json == {"archived": True, "locked": True}
    assert "60 minutes without a message" in classroom.messages_in(thread_id)[-1].content
    assert (await session_of(database, thread_id)).end_reason is SessionEndReason.INACTIVITY


async def test_a_public_thread_when_private_ones_are_refused_and_an_error_when_neither(
    classroom: DiscordSandbox,
) -> None:
    classroom.http.fail("POST", "/channels/*/threads", status=403, times=1)
    reply, thread_id = await open_tutor(classroom)
    assert "this one is public" in reply.text
    assert classroom.http.calls_to("POST", "/channels/*/threads")[-1].json["type"] == 11
    await classroom.slash("tutor end", channel=thread_id)
    classroom.http.fail("POST", "/channels/*/threads", status=403, times=2)
    refused = await classroom.slash("tutor start")
    assert refused.ephemeral and "can't open a thread in this channel" in refused.text


async def test_the_guild_cap_on_open_threads(classroom: DiscordSandbox) -> None:
    classroom.bot.settings.tutor.max_open_threads = 1  # type: ignore[attr-defined]
    await open_tutor(classroom)
    second = await classroom.add_member("riley")
    await classroom.slash("course enroll", course="PY101", user=second)
    refused = await classroom.slash("tutor start", user=second)
    assert refused.ephemeral and "already has 1 tutor threads open" in refused.text


async def test_admins_add_a_backend_whose_key_is_stored_encrypted_and_used(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    key = "sk-admin-9f8e7d6c5b4a"
    added = await classroom.slash(
        "admin llm add", user=classroom.owner, name="fake", base_url=openai_server.base_url, provider="local",
        api_key=key,
    )  # fmt: skip
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


async def test_instructors_upload_list_and_review_materials(classroom: DiscordSandbox, database: Database) -> None:
    notes = classroom.attachment("loops-cheatsheet.md", b"# Loops\n\nA `for` loop repeats its block for each item.")
    first = await classroom.slash("teach materials upload", user=classroom.instructor, course="PY101", file=notes)
    assert "loops-cheatsheet is ready" in first.text
    again = await classroom.slash(
        "teach materials upload", user=classroom.instructor, course="PY101",
        file=classroom.attachment("copy.md", b"# Loops\n\nA `for` loop repeats its block for each item."),
    )  # fmt: skip
    assert "loops-cheatsheet is ready" in again.text  # the same bytes: the first upload, not a second one
    broken = classroom.attachment("slides.pdf", b"%PDF-1.7 this is not really a pdf")
    failed = await classroom.slash("teach materials upload", user=classroom.instructor, course="PY101", file=broken)
    assert "slides failed" in failed.text and "could not be read" in failed.text
    wrong = classroom.attachment("data.xlsx", b"spreadsheet")
    refused = await classroom.slash("teach materials upload", user=classroom.instructor, course="PY101", file=wrong)
    assert "not a file the tutor can read" in refused.text
    listed = await classroom.slash("teach materials list", user=classroom.instructor, course="PY101")
    assert "Lessons: 8/8 indexed" in listed.text and "✅ loops-cheatsheet" in listed.text and "❌ slides" in listed.text
    review = await classroom.slash("teach materials review", user=classroom.instructor, course="PY101")
    assert "1 to review" in review.text and "could not be read" in review.text
    async with database.session_scope() as db:
        uploads = await db.scalar(select(func.count()).where(Material.content_item_id.is_(None)))
        audited = await db.scalar(select(func.count()).where(AuditLog.action == "material.upload"))
    assert uploads == 2 and audited == 2


async def test_after_the_secret_key_changes_a_student_gets_a_neutral_answer_and_keeps_their_message(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    added = await classroom.slash(
        "admin llm add", user=classroom.owner, name="fake", base_url=openai_server.base_url, provider="local",
        api_key="sk-admin-1234",
    )  # fmt: skip
    async with database.session_scope() as db:
        backend = await db.scalar(select(LLMBackend))
    assert "Added fake" in added.text and backend is not None
    await classroom.slash(
        "admin llm model", user=classroom.owner, backend=backend.id, model="admin-model", default=True
    )
    _, thread_id = await open_tutor(classroom)
    classroom.bot.settings.secret_key = SecretStr(Fernet.generate_key().decode())  # type: ignore[attr-defined]
    requests = len(openai_server.requests)

    [answer] = await classroom.send_message(thread_id, "What is a variable?")

    assert "model is unavailable right now" in answer.content
    assert "COURSEBOT_SECRET_KEY" not in answer.text and "old key" not in answer.text
    assert len(openai_server.requests) == requests  # no model call with a key that cannot be read
    user, reply = (await messages_of(database, thread_id))[-2:]
    assert user.role is MessageRole.USER and user.content == "What is a variable?"
    assert reply.generation_status is GenerationStatus.COMPLETED and reply.discord_message_id == answer.id
    logged = [record.getMessage() for record in classroom.errors]
    assert len(logged) == 1 and "COURSEBOT_SECRET_KEY" in logged[0] and "/admin llm add" in logged[0]
    classroom.errors.clear()  # the operator's log line is the point here, not a failure


@pytest.mark.parametrize("big", [1_080_000_000_000_000_403, 10**30], ids=["snowflake", "past-64-bits"])
async def test_tutor_buttons_with_ids_out_of_range_are_not_found(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database, big: int
) -> None:
    openai_server.reply(GREETING)
    _, thread_id = await open_tutor(classroom)
    [greeting] = classroom.messages_in(thread_id)
    thumbs_up = next(c.custom_id for c in greeting.components if (c.custom_id or "").startswith("tutor:fb:"))

    rated = await classroom.click(greeting, thumbs_up, forged_custom_id=f"tutor:fb:{big}:+1")

    assert rated.ephemeral and "No tutor answer called" in rated.text and "Unexpected" not in rated.text
    async with database.session_scope() as db:
        assert await db.scalar(select(func.count()).select_from(ChatMessageFeedback)) == 0
