from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from bot.tutor.llm import LLMClient
from tests.fakes.openai_server import FakeOpenAIServer

API_KEY = "sk-test-4f9c2a7be1d05533"

MakeClient = Callable[..., LLMClient]


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
async def make_client(openai_server: FakeOpenAIServer) -> AsyncIterator[MakeClient]:
    """Builds `LLMClient`s against the fake server (small timeout and retries by default); closes them after."""
    clients: list[LLMClient] = []

    def make(**settings: object) -> LLMClient:
        options: dict[str, object] = {
            "base_url": openai_server.base_url,
            "api_key": API_KEY,
            "chat_model": "fake-chat",
            "embedding_model": "fake-embed",
            "timeout": 0.3,
            "max_retries": 1,
        }
        options.update(settings)
        client = LLMClient.from_settings(**options)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
