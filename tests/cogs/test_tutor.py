"""The tutor through real discord.py parsing, against a real OpenAI-compatible server (the SDK is never patched).

Each test runs on SQLite and on PostgreSQL. The model is `FakeOpenAIServer`; what it received (`server.requests`)
is what a real model would have been sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import func, select

from bot import metrics
from bot.scheduler import end_idle_tutor_sessions
from bot.tutor.answers import QUIZ_IN_PROGRESS_NOTE
from bot.tutor.quiz_guard import WITHHELD_ANSWER
from bot.tutor.tutor import CHECK_UNDERSTANDING_REQUEST
from db.models import (
    CacheState,
    ChatMessageCitation,
    ChatMessageFeedback,
    GenerationStatus,
    LLMBackend,
    LLMResponseCache,
    MessageRole,
    Question,
    SessionEndReason,
    SourceMode,
)
from db.session import Database
from sandbox import DiscordSandbox
from sandbox.messages import PostedMessage
from tests.cogs.course_fixtures import enrolled_member
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
from tests.fakes.openai_server import FakeOpenAIServer, Fault


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


def normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


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


@pytest.mark.parametrize(
    "fault",
    [Fault.delay(30.0), Fault.stall(30.0, after_chunks=1)],
    ids=["server-never-answers-so-the-sdk-retries", "stream-stalls-midway"],
)
async def test_a_model_that_hangs_fails_the_answer_within_the_deadline_and_retry_works(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database, fault: Fault
) -> None:
    # Each attempt may take 10 s and the SDK retries twice: without one deadline over all of it, the student
    # waited for minutes. The deadline (1 s here) ends the answer with a clear failure and a Retry button.
    classroom.bot.settings.llm.timeout_seconds = 10.0  # type: ignore[attr-defined]
    classroom.bot.settings.llm.max_retries = 2  # type: ignore[attr-defined]
    classroom.bot.settings.tutor.answer_deadline_seconds = 1.0  # type: ignore[attr-defined]
    _, thread_id = await open_tutor(classroom)
    openai_server.fail(fault)
    # The sandbox gives up after 5 s: a student left waiting for an attempt's 10 s would fail the test there.
    [failed] = await classroom.send_message(thread_id, "What is a variable?")
    assert "took longer than 1 seconds" in failed.content
    assert [component.label for component in failed.components] == ["Retry"]
    user, answer = (await messages_of(database, thread_id))[-2:]
    assert user.content == "What is a variable?" and answer.generation_status is GenerationStatus.FAILED
    openai_server.reply("A variable is a name for a value.")
    since = len(classroom.http.calls)
    await classroom.click(failed, "Retry", user=classroom.student)
    assert (await finished_answer(classroom, since)).content == "A variable is a name for a value."


async def test_the_cache_serves_the_second_student_without_a_model_call(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    second = await enrolled_member(classroom, "riley")
    openai_server.reply(GREETING)
    openai_server.reply("Quick check: what does `x = 5` do?\nOptions: It stores 5 in x | It compares x with 5")
    _, first_thread = await open_tutor(classroom)
    since = len(classroom.http.calls)
    await classroom.click(classroom.messages_in(first_thread)[0], "Check my understanding", user=classroom.student)
    first_check = await finished_answer(classroom, since)
    requests = len(openai_server.requests)
    assert requests == 2 and chat_requests(openai_server)[-1]["messages"][-1]["content"] == CHECK_UNDERSTANDING_REQUEST

    replays_before = metrics.REGISTRY.get_sample_value("coursebot_tutor_cache_lookups_total", {"result": "hit"}) or 0
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
    replays = metrics.REGISTRY.get_sample_value("coursebot_tutor_cache_lookups_total", {"result": "hit"})
    assert replays == replays_before + 2  # operators see it too

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
    second = await enrolled_member(classroom, "riley")
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


async def test_while_a_quiz_is_open_an_earlier_answer_quoting_it_is_replaced_and_turns_stay_in_order(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    async with database.session_scope() as db:
        explanation = (
            await db.scalars(select(Question.explanation).where(Question.explanation.contains("thrown away")))
        ).first()
    _, thread_id = await open_tutor(classroom, lesson="running-code")
    openai_server.reply(f"Because: {explanation}")
    await classroom.send_message(thread_id, "Why does a bare expression in a script show nothing?")
    assert "question 1/5" in (await classroom.slash("quiz start", quiz="first-steps-check")).text

    during = len(openai_server.requests)
    await classroom.send_message(thread_id, "What is a variable?")

    [body] = chat_requests(openai_server, during)
    roles = [message["role"] for message in body["messages"]]
    assert roles[0] == "system" and roles[-1] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles[1:])), roles  # user and assistant take turns
    contents = [message["content"] for message in body["messages"]]
    assert WITHHELD_ANSWER in contents and not any(normalised(explanation) in normalised(c) for c in contents)


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
    second = await enrolled_member(classroom, "riley")
    refused = await classroom.slash("tutor start", user=second)
    assert refused.ephemeral and "already has 1 tutor threads open" in refused.text


async def test_after_the_secret_key_changes_a_student_gets_a_neutral_answer_and_keeps_their_message(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database
) -> None:
    added = await classroom.slash(
        "admin llm add",
        user=classroom.owner,
        name="fake",
        base_url=openai_server.base_url,
        provider="local",
        api_key="sk-admin-1234",
    )
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
