"""The fake server's own promises, checked over plain HTTP (the SDK-level behaviour is in tests/tutor)."""

from __future__ import annotations

import base64
import struct

import aiohttp
import pytest

from tests.fakes.openai_server import CHAT_PATH, EMBEDDINGS_PATH, MODELS_PATH, FakeOpenAIServer, Fault


@pytest.fixture
async def server():
    async with FakeOpenAIServer(embedding_dim=8) as server:
        yield server


async def post(server: FakeOpenAIServer, path: str, body: object) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.base_url + path.removeprefix("/v1"), json=body) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_embeddings_come_as_floats_or_base64(server: FakeOpenAIServer):
    _, as_floats = await post(server, EMBEDDINGS_PATH, {"model": "e", "input": "for loops"})
    _, as_base64 = await post(
        server, EMBEDDINGS_PATH, {"model": "e", "input": ["for loops"], "encoding_format": "base64"}
    )

    decoded = struct.unpack("<8f", base64.b64decode(as_base64["data"][0]["embedding"]))
    assert as_floats["data"][0]["embedding"] == server.embedding_for("for loops")
    assert decoded == pytest.approx(server.embedding_for("for loops"), abs=1e-6)
    assert as_floats["usage"]["prompt_tokens"] == 2


async def test_faults_can_target_one_endpoint_and_do_not_use_up_replies(server: FakeOpenAIServer):
    server.fail(Fault.server_error(502), path=MODELS_PATH)
    server.fail(Fault.rate_limited(retry_after=3), times=2, path=CHAT_PATH)
    server.reply("Scripted.")
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

    statuses = [(await post(server, CHAT_PATH, chat))[0] for _ in range(2)]
    status, answer = await post(server, CHAT_PATH, chat)

    assert statuses == [429, 429]
    assert (status, answer["choices"][0]["message"]["content"]) == (200, "Scripted.")
    assert len(server.requests_to(CHAT_PATH)) == 3
    async with aiohttp.ClientSession() as session, session.get(server.base_url + "/models") as response:
        assert response.status == 502


async def test_a_rate_limit_says_when_to_retry(server: FakeOpenAIServer):
    server.fail(Fault.rate_limited(retry_after=2.5))
    url = server.base_url + "/chat/completions"

    async with aiohttp.ClientSession() as session, session.post(url, json={"messages": []}) as response:
        assert (response.status, response.headers["retry-after"]) == (429, "2.5")


async def test_a_request_without_messages_is_refused(server: FakeOpenAIServer):
    status, body = await post(server, CHAT_PATH, {"model": "m"})

    assert status == 400 and "messages" in body["error"]["message"]
