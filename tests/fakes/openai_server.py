"""A local OpenAI-compatible HTTP server for tests.

It speaks just enough of the OpenAI REST API for the `openai` SDK to talk to it for real:
`POST /v1/chat/completions` (plain JSON, or Server-Sent Events when the request sets `stream`),
`POST /v1/embeddings` and `GET /v1/models`. Tests script it instead of patching the SDK::

    async with FakeOpenAIServer() as server:
        server.reply("Variables are names for values.")      # next chat completion
        server.fail(Fault.rate_limited(), times=2)            # the next two requests get HTTP 429
        client = LLMClient.from_settings(base_url=server.base_url, api_key="sk-test", chat_model="fake-chat")
        ...
        assert server.requests[-1].headers["authorization"] == "Bearer sk-test"

Faults are taken before replies, so a retried request that was refused does not use up a reply.
When no reply is queued, the chat endpoint echoes the last user message, so tests that don't care
about the wording still get an answer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import math
import re
import struct
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server received it. Header names are lower-cased; `json` is None for a non-JSON body."""

    method: str
    path: str
    headers: Mapping[str, str]
    json: Any


@dataclass(frozen=True, slots=True)
class Fault:
    """A way to misbehave for one request. Build one with the class methods."""

    kind: Literal["status", "delay", "garbage", "cut", "end_early", "stall"]
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    after_chunks: int = 0

    @classmethod
    def rate_limited(cls, retry_after: float = 0.01) -> Fault:
        """HTTP 429 with a `retry-after` header (seconds; fractions are accepted by the SDK)."""
        return cls(kind="status", status=429, retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500, retry_after: float | None = None) -> Fault:
        """An HTTP error status with an OpenAI-style error body; `retry-after` only when given.

        A 401 quotes the API key it received in its message, as some servers do.
        """
        return cls(kind="status", status=status, retry_after=retry_after)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait before answering normally. Longer than the client's timeout, this is a timeout."""
        return cls(kind="delay", seconds=seconds)

    @classmethod
    def garbage(cls) -> Fault:
        """HTTP 200 whose body is not valid JSON (or, for a stream, an SSE event whose data is not JSON)."""
        return cls(kind="garbage")

    @classmethod
    def cut(cls, after_chunks: int = 2) -> Fault:
        """Start a normal answer, then drop the connection: after `after_chunks` SSE events, or mid-body."""
        return cls(kind="cut", after_chunks=after_chunks)

    @classmethod
    def end_early(cls, after_chunks: int = 2) -> Fault:
        """Streams only: send `after_chunks` events, then end the body cleanly, without finish reason or `[DONE]`."""
        return cls(kind="end_early", after_chunks=after_chunks)

    @classmethod
    def stall(cls, seconds: float, after_chunks: int = 1) -> Fault:
        """Stream `after_chunks` events, go quiet for `seconds`, then finish the answer (a plain request just waits)."""
        return cls(kind="stall", seconds=seconds, after_chunks=after_chunks)


@dataclass(frozen=True, slots=True)
class _ScriptedReply:
    deltas: tuple[str, ...]
    model: str | None
    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(slots=True)
class _PendingFault:
    fault: Fault
    remaining: int
    path: str | None


def embedding_for(text: str, dim: int) -> list[float]:
    """The server's embedding of `text`: a signed hashing-trick bag of words, L2-normalised.

    Texts that share words have a high cosine similarity; a text without words maps to the first axis.
    """
    vector = [0.0] * dim
    for word in _WORD.findall(text.lower()):
        bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        vector[bucket % dim] += 1.0 if (bucket >> 40) & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        vector[0] = 1.0
        return vector
    return [x / norm for x in vector]


def _approximate_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def _split_into_deltas(text: str) -> tuple[str, ...]:
    # Word-sized deltas, like a real model streams; whitespace stays attached so the deltas rejoin exactly.
    return tuple(re.findall(r"\s*\S+\s*", text)) or (text,)


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


class FakeOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 and a free port, for the duration of an `async with`.

    Scripting API:
    - `reply(text_or_deltas, ...)` queues one chat completion (served as JSON or as a stream, as asked);
    - `fail(fault, times=n, path=None)` makes the next `n` requests (to `path`, or to any endpoint) misbehave
      (`GET /v1/models` only fails with a status or a delay);
    - `requests` / `requests_to(path)` show what was received, Authorization header included.
    """

    def __init__(
        self, *, chat_model: str = "fake-chat", embedding_model: str = "fake-embed", embedding_dim: int = 64
    ) -> None:
        self.chat_model = chat_model
        self.embedding_model = embedding_model
        self.embedding_dim = embedding_dim
        self.requests: list[RecordedRequest] = []
        self._replies: deque[_ScriptedReply] = deque()
        self._faults: list[_PendingFault] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post(CHAT_PATH, self._chat_completions)
        app.router.add_post(EMBEDDINGS_PATH, self._embeddings)
        app.router.add_get(MODELS_PATH, self._models)
        # Cancel a handler when its client hangs up, so a "delay" outlived by a client timeout never
        # answers late (and never consumes a reply meant for the retry).
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`, the value to give an OpenAI client as its base URL."""
        if self._port is None:
            raise RuntimeError("FakeOpenAIServer is not running; use it as `async with FakeOpenAIServer() as server`.")
        return f"http://127.0.0.1:{self._port}/v1"

    # -- scripting -------------------------------------------------------------------------------

    def reply(
        self,
        text: str | Sequence[str],
        *,
        model: str | None = None,
        finish_reason: str = "stop",
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> None:
        """Queue the next chat completion. A `str` is streamed word by word; a sequence gives the exact deltas.

        Token counts default to an approximation of the request and the reply; `model` defaults to the
        model the request named.
        """
        deltas = _split_into_deltas(text) if isinstance(text, str) else tuple(text)
        self._replies.append(_ScriptedReply(deltas, model, finish_reason, prompt_tokens, completion_tokens))

    def fail(self, fault: Fault, *, times: int = 1, path: str | None = None) -> None:
        """Make the next `times` requests to `path` (e.g. `EMBEDDINGS_PATH`; None means any) misbehave as `fault`."""
        if times < 1:
            raise ValueError("times must be at least 1")
        self._faults.append(_PendingFault(fault, times, path))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The received requests whose path is `path`, oldest first."""
        return [request for request in self.requests if request.path == path]

    def embedding_for(self, text: str) -> list[float]:
        """The embedding this server returns for `text`."""
        return embedding_for(text, self.embedding_dim)

    # -- handlers --------------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append(RecordedRequest(request.method, request.path, headers, body))
        return body

    def _take_fault(self, path: str) -> Fault | None:
        for pending in self._faults:
            if pending.path is None or pending.path == path:
                pending.remaining -= 1
                if pending.remaining == 0:
                    self._faults.remove(pending)
                return pending.fault
        return None

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error_response(400, "invalid_request_error", "A JSON body with `messages` is required.")
        fault = self._take_fault(request.path)
        if fault is not None and fault.kind == "status":
            return _status_fault_response(fault, request)
        streaming = bool(body.get("stream"))
        if fault is not None and (fault.kind == "delay" or (fault.kind == "stall" and not streaming)):
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "garbage":
            return await _garbage_response(request, streaming=streaming)

        reply = self._replies.popleft() if self._replies else self._default_reply(body)
        completion_id = f"chatcmpl-fake-{next(self._ids)}"
        model = reply.model or str(body.get("model") or self.chat_model)
        prompt_tokens = reply.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = sum(_approximate_tokens(_message_text(m)) for m in body["messages"] if isinstance(m, dict))
        completion_tokens = reply.completion_tokens if reply.completion_tokens is not None else len(reply.deltas)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

        if not streaming:
            payload = {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(reply.deltas), "refusal": None},
                        "finish_reason": reply.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": usage,
            }
            encoded = json.dumps(payload).encode()
            if fault is not None and fault.kind == "cut":
                return await _cut_body_response(request, encoded)
            return web.Response(body=encoded, content_type="application/json")

        stream_options = body.get("stream_options")
        include_usage = isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))
        events = _stream_events(completion_id, model, reply, usage if include_usage else None)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        for number, event in enumerate(events):
            if fault is not None and number == fault.after_chunks:
                if fault.kind == "cut":
                    _drop_connection(request)
                    return response
                if fault.kind == "end_early":
                    break
                if fault.kind == "stall":
                    await asyncio.sleep(fault.seconds)
            await response.write(event)
        await response.write_eof()
        return response

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if not isinstance(body, dict):
            return _error_response(400, "invalid_request_error", "A JSON body is required.")
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(item, str) for item in inputs):
            return _error_response(400, "invalid_request_error", "`input` must be a string or a list of strings.")
        if any(item == "" for item in inputs):
            return _error_response(400, "invalid_request_error", "`input` cannot contain an empty string.")
        fault = self._take_fault(request.path)
        if fault is not None and fault.kind == "status":
            return _status_fault_response(fault, request)
        if fault is not None and fault.kind in ("delay", "stall"):
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "garbage":
            return await _garbage_response(request, streaming=False)

        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(inputs):
            vector = self.embedding_for(text)
            encoded: str | list[float] = (
                base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if as_base64 else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(_approximate_tokens(text) for text in inputs)
        payload = {
            "object": "list",
            "data": data,
            "model": str(body.get("model") or self.embedding_model),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        encoded_body = json.dumps(payload).encode()
        if fault is not None and fault.kind == "cut":
            return await _cut_body_response(request, encoded_body)
        return web.Response(body=encoded_body, content_type="application/json")

    async def _models(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        fault = self._take_fault(request.path)
        if fault is not None and fault.kind == "status":
            return _status_fault_response(fault, request)
        if fault is not None and fault.kind in ("delay", "stall"):
            await asyncio.sleep(fault.seconds)
        models = [self.chat_model, self.embedding_model]
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "fake"} for name in models]
        return web.json_response({"object": "list", "data": data})

    def _default_reply(self, body: Mapping[str, Any]) -> _ScriptedReply:
        user_messages = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        text = f"Echo: {_message_text(user_messages[-1])[:200]}" if user_messages else "Hello from the fake model."
        return _ScriptedReply(_split_into_deltas(text), None, "stop", None, None)


def _stream_events(
    completion_id: str, model: str, reply: _ScriptedReply, usage: Mapping[str, int] | None
) -> list[bytes]:
    created = int(time.time())

    def chunk(delta: Mapping[str, str], finish_reason: str | None) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish_reason, "logprobs": None}],
        }
        if usage is not None:
            event["usage"] = None  # as OpenAI does: null on every chunk but the last
        return event

    chunks = [chunk({"role": "assistant", "content": ""}, None)]
    chunks += [chunk({"content": delta}, None) for delta in reply.deltas]
    chunks.append(chunk({}, reply.finish_reason))
    if usage is not None:
        chunks.append(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": dict(usage),
            }
        )
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


def _error_response(
    status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    payload = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
    return web.json_response(payload, status=status, headers=dict(headers or {}))


def _status_fault_response(fault: Fault, request: web.Request) -> web.Response:
    headers = {} if fault.retry_after is None else {"retry-after": str(fault.retry_after)}
    if fault.status == 429:
        return _error_response(429, "rate_limit_exceeded", "Rate limit reached (fake).", headers)
    if fault.status == 401:
        # Real servers quote the key they were given (OpenAI masks most of it; not every server does).
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return _error_response(401, "invalid_request_error", f"Incorrect API key provided: {key}.", headers)
    return _error_response(fault.status, "server_error", f"The fake server failed with HTTP {fault.status}.", headers)


async def _garbage_response(request: web.Request, *, streaming: bool) -> web.StreamResponse:
    if not streaming:
        return web.Response(body=b'{"id": "chatcmpl-garbage", "choices": [{"mess', content_type="application/json")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b'data: {"id": "chatcmpl-garbage", "choices": [{"delta": {"content": "Hel\n\n')
    await response.write(b"data: <html>502 Bad Gateway</html>\n\n")
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _cut_body_response(request: web.Request, body: bytes) -> web.StreamResponse:
    # Promise the whole body, send half of it, then hang up: the client sees an incomplete response.
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    _drop_connection(request)
    return response


def _drop_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
