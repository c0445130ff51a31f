"""LLMClient against a real (local, fake) OpenAI-compatible HTTP server: no patching of the SDK."""

from __future__ import annotations

import logging
import math
import time
from contextlib import aclosing

import pytest

from bot.errors import CourseError
from bot.tutor.errors import EmbeddingsNotConfigured, LLMBadResponse, LLMRateLimited, LLMUnavailable
from bot.tutor.llm import ChatMessage, LLMClient, StreamEvent, StreamFinished, TextDelta
from tests.fakes.openai_server import CHAT_PATH, EMBEDDINGS_PATH, FakeOpenAIServer, Fault
from tests.tutor.conftest import API_KEY, MakeClient

QUESTION: list[ChatMessage] = [
    {"role": "system", "content": "You are a patient tutor."},
    {"role": "user", "content": "What is a variable?"},
]


async def collect(client: LLMClient) -> list[StreamEvent]:
    return [event async for event in client.stream(QUESTION)]


async def test_complete_returns_the_answer_with_usage_and_latency(
    openai_server: FakeOpenAIServer, make_client: MakeClient
):
    openai_server.reply("A variable is a name bound to a value.", prompt_tokens=21, completion_tokens=9)

    completion = await make_client().complete(QUESTION, max_tokens=200, temperature=0.2)

    assert completion.text == "A variable is a name bound to a value."
    assert completion.model == "fake-chat"
    assert (completion.prompt_tokens, completion.completion_tokens) == (21, 9)
    assert 0 <= completion.latency_ms < 2000
    [request] = openai_server.requests_to(CHAT_PATH)
    assert request.json["model"] == "fake-chat"
    assert request.json["messages"] == QUESTION
    assert (request.json["max_tokens"], request.json["temperature"]) == (200, 0.2)
    assert not request.json.get("stream")


async def test_the_answer_names_the_model_the_server_used(openai_server: FakeOpenAIServer, make_client: MakeClient):
    openai_server.reply("Hi.", model="fake-chat-2025-01-01")

    completion = await make_client().complete(QUESTION)

    assert completion.model == "fake-chat-2025-01-01"


async def test_stream_yields_deltas_then_usage(openai_server: FakeOpenAIServer, make_client: MakeClient):
    openai_server.reply(["A variable ", "is a ", "name."], prompt_tokens=21, completion_tokens=3)

    events = await collect(make_client())

    *deltas, finished = events
    assert deltas == [TextDelta("A variable "), TextDelta("is a "), TextDelta("name.")]
    assert isinstance(finished, StreamFinished)
    assert (finished.prompt_tokens, finished.completion_tokens) == (21, 3)
    assert finished.model == "fake-chat"
    assert finished.finish_reason == "stop"
    assert finished.first_token_ms is not None and finished.first_token_ms <= finished.latency_ms
    [request] = openai_server.requests_to(CHAT_PATH)
    assert request.json["stream"] is True
    assert request.json["stream_options"] == {"include_usage": True}


async def test_a_stream_cut_by_max_tokens_says_so(openai_server: FakeOpenAIServer, make_client: MakeClient):
    openai_server.reply("A variable is", finish_reason="length")

    *_, finished = await collect(make_client())

    assert isinstance(finished, StreamFinished) and finished.finish_reason == "length"


async def test_stopping_a_stream_early_is_quiet(openai_server: FakeOpenAIServer, make_client: MakeClient):
    openai_server.reply(["one ", "two ", "three"])
    client = make_client()

    async with aclosing(client.stream(QUESTION)) as events:
        async for event in events:
            assert event == TextDelta("one ")
            break

    assert (await client.complete(QUESTION)).text  # the connection pool is still usable


async def test_unscripted_requests_get_an_echo(make_client: MakeClient):
    completion = await make_client().complete(QUESTION)

    assert completion.text == "Echo: What is a variable?"


async def test_embeddings_are_batched_and_returned_in_order(openai_server: FakeOpenAIServer, make_client: MakeClient):
    texts = [f"lesson {n} about loops and variables" for n in range(130)]

    vectors = await make_client().embed(texts)

    assert vectors == [openai_server.embedding_for(text) for text in texts]
    batches = [request.json["input"] for request in openai_server.requests_to(EMBEDDINGS_PATH)]
    assert [len(batch) for batch in batches] == [64, 64, 2]
    assert [text for batch in batches for text in batch] == texts
    assert {request.json["model"] for request in openai_server.requests_to(EMBEDDINGS_PATH)} == {"fake-embed"}


async def test_embedding_nothing_sends_nothing(openai_server: FakeOpenAIServer, make_client: MakeClient):
    assert await make_client().embed([]) == []
    assert openai_server.requests == []


async def test_embed_without_an_embedding_model_says_how_to_add_one(
    openai_server: FakeOpenAIServer, make_client: MakeClient
):
    client = make_client(embedding_model=None)

    with pytest.raises(EmbeddingsNotConfigured, match="/admin llm"):
        await client.embed(["loops"])

    assert not client.has_embeddings
    assert openai_server.requests == []


async def test_list_model_ids(make_client: MakeClient):
    assert await make_client().list_model_ids() == ["fake-chat", "fake-embed"]


async def test_rate_limited_on_every_attempt_raises_llm_rate_limited(
    openai_server: FakeOpenAIServer, make_client: MakeClient
):
    openai_server.fail(Fault.rate_limited(retry_after=0.02), times=3)

    with pytest.raises(LLMRateLimited) as raised:
        await make_client(max_retries=2).complete(QUESTION)

    assert raised.value.retry_after == pytest.approx(0.02)
    assert "press Retry" in str(raised.value)
    assert len(openai_server.requests_to(CHAT_PATH)) == 3


async def test_a_rate_limit_that_clears_is_retried_transparently(
    openai_server: FakeOpenAIServer, make_client: MakeClient
):
    openai_server.fail(Fault.rate_limited(), times=1)
    openai_server.reply("Here you go.")

    completion = await make_client().complete(QUESTION)

    assert completion.text == "Here you go."
    assert len(openai_server.requests_to(CHAT_PATH)) == 2


async def test_server_errors_are_retried_then_reported_unavailable(
    openai_server: FakeOpenAIServer, make_client: MakeClient
):
    openai_server.fail(Fault.server_error(503, retry_after=0.01), times=2)

    with pytest.raises(LLMUnavailable) as raised:
        await make_client(max_retries=1).complete(QUESTION)

    assert str(raised.value) == (
        "The tutor's model is not answering right now. Your message is saved; press Retry in a minute."
    )
    assert isinstance(raised.value, CourseError)
    assert len(openai_server.requests_to(CHAT_PATH)) == 2


async def test_a_server_error_then_success_is_an_answer(openai_server: FakeOpenAIServer, make_client: MakeClient):
    openai_server.fail(Fault.server_error(500, retry_after=0.01))
    openai_server.reply(["Recovered."])

    events = await collect(make_client())

    assert events[0] == TextDelta("Recovered.")


async def test_a_refused_configuration_is_unavailable_without_retrying(
    openai_server: FakeOpenAIServer, make_client: MakeClient
):
    openai_server.fail(Fault.server_error(404))

    with pytest.raises(LLMUnavailable):
        await make_client(max_retries=2).complete(QUESTION)

    assert len(openai_server.requests_to(CHAT_PATH)) == 1


async def test_a_silent_server_times_out_within_timeout_times_attempts(
    openai_server: FakeOpenAIServer, make_client: MakeClient
):
    openai_server.fail(Fault.delay(5.0), times=2)
    client = make_client(timeout=0.3, max_retries=1)

    started = time.monotonic()
    with pytest.raises(LLMUnavailable):
        await client.complete(QUESTION)
    elapsed = time.monotonic() - started

    # Two attempts of 0.3 s, plus the SDK's one backoff (at most 0.5 s before the retry), plus room for a busy
    # machine: far below one silent attempt's 5 s.
    assert 0.3 * 2 <= elapsed < 0.3 * 2 + 0.5 + 1.5
    assert len(openai_server.requests_to(CHAT_PATH)) == 2


async def test_a_timeout_that_clears_is_retried_transparently(openai_server: FakeOpenAIServer, make_client: MakeClient):
    openai_server.fail(Fault.delay(5.0))
    openai_server.reply("Sorry for the wait.")

    completion = await make_client(timeout=0.3, max_retries=1).complete(QUESTION)

    assert completion.text == "Sorry for the wait."


async def test_a_stream_that_goes_silent_midway_is_unavailable(
    openai_server: FakeOpenAIServer, make_client: MakeClient
):
    openai_server.reply(["Loops ", "repeat ", "code."])
    openai_server.fail(Fault.stall(5.0, after_chunks=2))
    received: list[StreamEvent] = []

    with pytest.raises(LLMUnavailable):
        async for event in make_client(timeout=0.3).stream(QUESTION):
            received.append(event)

    assert received == [TextDelta("Loops ")]


@pytest.mark.parametrize("streaming", [False, True], ids=["json", "stream"])
async def test_garbage_from_the_server_is_a_bad_response(
    openai_server: FakeOpenAIServer, make_client: MakeClient, streaming: bool
):
    openai_server.fail(Fault.garbage())
    client = make_client()

    with pytest.raises(LLMBadResponse, match="could not be read"):
        if streaming:
            await collect(client)
        else:
            await client.complete(QUESTION)

    assert len(openai_server.requests_to(CHAT_PATH)) == 1  # a 200 is not retried


@pytest.mark.parametrize(
    ("fault", "error", "deltas"),
    [
        (Fault.cut(after_chunks=3), LLMUnavailable, ["Loops ", "repeat "]),
        (Fault.end_early(after_chunks=2), LLMBadResponse, ["Loops "]),
    ],
    ids=["cut_midway_is_unavailable", "ended_before_the_answer_is_finished_is_a_bad_response"],
)
async def test_a_broken_stream_raises_after_the_deltas_received(
    openai_server: FakeOpenAIServer,
    make_client: MakeClient,
    fault: Fault,
    error: type[Exception],
    deltas: list[str],
):
    openai_server.reply(["Loops ", "repeat ", "code."])
    openai_server.fail(fault)
    received: list[StreamEvent] = []

    with pytest.raises(error):
        async for event in make_client().stream(QUESTION):
            received.append(event)

    assert received == [TextDelta(delta) for delta in deltas]


async def test_a_body_cut_midway_is_retried_then_unavailable(openai_server: FakeOpenAIServer, make_client: MakeClient):
    openai_server.fail(Fault.cut(), times=2, path=EMBEDDINGS_PATH)

    with pytest.raises(LLMUnavailable):
        await make_client(max_retries=1).embed(["loops"])

    assert len(openai_server.requests_to(EMBEDDINGS_PATH)) == 2


async def test_an_unreachable_server_is_unavailable(make_client: MakeClient):
    client = make_client(base_url="http://127.0.0.1:9/v1", max_retries=0)

    with pytest.raises(LLMUnavailable):
        await client.complete(QUESTION)


async def test_the_key_is_sent_but_never_logged(
    openai_server: FakeOpenAIServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    client = make_client(max_retries=1)
    openai_server.fail(Fault.server_error(500, retry_after=0.01))
    await client.complete(QUESTION)
    await collect(client)
    await client.embed(["loops"])
    openai_server.fail(Fault.server_error(401))  # whose message quotes the key back
    with pytest.raises(LLMUnavailable) as raised:
        await client.complete(QUESTION)

    assert {request.headers["authorization"] for request in openai_server.requests} == {f"Bearer {API_KEY}"}
    assert any("HTTP 401" in record.getMessage() and "[redacted]" in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in str(record.args)
    assert API_KEY not in str(raised.value)
    assert API_KEY not in repr(client)


async def test_a_local_server_needs_no_key(openai_server: FakeOpenAIServer):
    async with LLMClient.from_settings(base_url=openai_server.base_url, chat_model="llama3") as client:
        await client.complete(QUESTION)

    [request] = openai_server.requests
    assert request.headers["authorization"] == "Bearer no-key-needed"
    assert request.json["model"] == "llama3"


def test_embeddings_of_similar_texts_are_closer():
    server = FakeOpenAIServer()
    loops, for_loops, cooking = (
        server.embedding_for(text)
        for text in ("for loops repeat code", "a for loop repeats the code", "bake bread at 200 degrees")
    )

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert math.isclose(cosine(loops, loops), 1.0)
    assert cosine(loops, for_loops) > cosine(loops, cooking)
