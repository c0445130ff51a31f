"""The tutor's connection to a language model: any OpenAI-compatible server, through the official `openai` SDK.

`LLMClient` turns every SDK failure into one of the tutor's errors (`bot.tutor.errors`), whose
messages can be shown to the student as they are:

- `LLMUnavailable`: timeouts, connection errors, 5xx (and other refusals) after the SDK's retries;
- `LLMRateLimited`: HTTP 429 after the retries;
- `LLMBadResponse`: the server answered with something that is not a readable completion.

Retries are the SDK's own (exponential backoff, honouring `retry-after`); `timeout` applies to each
attempt and to each wait for the next bytes of a stream, not to the call as a whole.
The API key is never logged, and is masked in any server message that is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from bot import metrics
from bot.tutor.errors import EmbeddingsNotConfigured, LLMBadResponse, LLMError, LLMRateLimited, LLMUnavailable

log = logging.getLogger(__name__)

ChatMessage = ChatCompletionMessageParam
"""One message of a conversation, e.g. `{"role": "user", "content": "What is a variable?"}`."""

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local servers (Ollama, vLLM, LM Studio) ignore the key, but the SDK insists on having one.
PLACEHOLDER_API_KEY = "no-key-needed"
EMBEDDING_BATCH_SIZE = 64


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole answer. Token counts are the server's, or None when it did not report usage."""

    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int  # wall time of the call, retries included


@dataclass(frozen=True, slots=True)
class TextDelta:
    """The next piece of a streamed answer; the pieces concatenate to the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class StreamFinished:
    """The last event of a stream that completed normally."""

    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int  # from the request to the end of the stream, retries included
    first_token_ms: int | None  # from the request to the first non-empty delta; None if the answer was empty
    finish_reason: str | None  # "stop", or "length" when the answer was cut by max_tokens


StreamEvent = TextDelta | StreamFinished


class LLMClient:
    """Chat completions, streamed chat completions and embeddings from one OpenAI-compatible server.

    Safe to share between concurrent tasks (the SDK client pools connections). Close it with
    `await client.aclose()` or use it as an async context manager.
    """

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        chat_model: str,
        embedding_model: str | None = None,
        embedding_batch_size: int = EMBEDDING_BATCH_SIZE,
    ) -> None:
        if embedding_batch_size < 1:
            raise ValueError("embedding_batch_size must be at least 1")
        self._client = client
        self.chat_model = chat_model
        self.embedding_model = embedding_model
        self._embedding_batch_size = embedding_batch_size
        self._server = self._redacted(str(client.base_url))  # for log lines

    @classmethod
    def from_settings(
        cls,
        *,
        chat_model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        embedding_model: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        embedding_batch_size: int = EMBEDDING_BATCH_SIZE,
    ) -> LLMClient:
        """A client built from plain configuration values.

        `base_url` defaults to OpenAI's; `api_key` may be left out for local servers. Nothing is read
        from the environment: the `OPENAI_*` variables the SDK would otherwise consult are ignored.
        """
        if timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        client = AsyncOpenAI(
            base_url=base_url or DEFAULT_BASE_URL,
            api_key=api_key or PLACEHOLDER_API_KEY,
            timeout=timeout,
            max_retries=max_retries,
        )
        return cls(
            client, chat_model=chat_model, embedding_model=embedding_model, embedding_batch_size=embedding_batch_size
        )

    @property
    def has_embeddings(self) -> bool:
        """Whether `embed` can be called."""
        return self.embedding_model is not None

    def __repr__(self) -> str:
        return (
            f"LLMClient(base_url={self._server!r}, chat_model={self.chat_model!r}, "
            f"embedding_model={self.embedding_model!r})"
        )

    async def aclose(self) -> None:
        """Close the connection pool. The client cannot be used afterwards."""
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def complete(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None, temperature: float | None = None
    ) -> Completion:
        """The model's whole answer to `messages`.

        Raises `LLMUnavailable`, `LLMRateLimited` or `LLMBadResponse`; never an SDK exception.
        """
        started = time.perf_counter()
        with self._translated_errors("chat completion"):
            response = await self._client.chat.completions.create(
                model=self.chat_model, messages=list(messages), **_sampling_options(max_tokens, temperature)
            )
            text, _ = _first_choice(response, streamed=False)
            prompt_tokens, completion_tokens = _token_counts(getattr(response, "usage", None))
            metrics.llm_tokens(prompt_tokens, completion_tokens)
            return Completion(
                text=text or "",
                model=_model_name(response) or self.chat_model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                latency_ms=_elapsed_ms(started),
            )

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None, temperature: float | None = None
    ) -> AsyncIterator[StreamEvent]:
        """The model's answer to `messages` as `TextDelta`s, then exactly one `StreamFinished`.

        Usage is requested with `stream_options.include_usage`; servers that ignore it give None counts.
        A stream that breaks off raises `LLMUnavailable` (connection lost, or silent for longer than the
        timeout) or `LLMBadResponse` (unreadable data, or an end without the model saying it was done),
        after the deltas received so far. Close the iterator (`contextlib.aclosing`) when stopping early.
        """
        started = time.perf_counter()
        model = self.chat_model
        first_token_ms: int | None = None
        finish_reason: str | None = None
        usage: object | None = None
        with self._translated_errors("chat stream"):
            chunks = await self._client.chat.completions.create(
                model=self.chat_model,
                messages=list(messages),
                stream=True,
                stream_options={"include_usage": True},
                **_sampling_options(max_tokens, temperature),
            )
            async with chunks:
                async for chunk in chunks:
                    model = _model_name(chunk) or model
                    usage = getattr(chunk, "usage", None) or usage
                    text, reason = _first_choice(chunk, streamed=True)
                    finish_reason = reason or finish_reason
                    if text:
                        if first_token_ms is None:
                            first_token_ms = _elapsed_ms(started)
                        yield TextDelta(text)
        if finish_reason is None and usage is None:
            # The SDK ends quietly when the body ends, even without `[DONE]`; a finished answer says so.
            log.warning("LLM chat stream from %s ended before the model finished its answer", self._server)
            raise LLMBadResponse()
        prompt_tokens, completion_tokens = _token_counts(usage)
        metrics.llm_tokens(prompt_tokens, completion_tokens)
        yield StreamFinished(
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=_elapsed_ms(started),
            first_token_ms=first_token_ms,
            finish_reason=finish_reason,
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One embedding per text, in order, requested `embedding_batch_size` texts at a time.

        Raises `EmbeddingsNotConfigured` when the client has no embedding model, and the same errors as
        `complete` otherwise. Texts must be non-empty (OpenAI rejects empty strings).
        """
        if self.embedding_model is None:
            raise EmbeddingsNotConfigured()
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._embedding_batch_size):
            batch = list(texts[start : start + self._embedding_batch_size])
            with self._translated_errors("embeddings"):
                # Ask for floats: the SDK's default (base64) is not understood by every compatible server.
                response = await self._client.embeddings.create(
                    model=self.embedding_model, input=batch, encoding_format="float"
                )
                vectors.extend(_vectors_in_order(response, expected=len(batch)))
        return vectors

    async def list_model_ids(self) -> list[str]:
        """The ids of the models the server offers (`GET /models`), e.g. to check a configuration."""
        with self._translated_errors("model list"):
            return [model.id async for model in self._client.models.list()]

    @contextmanager
    def _translated_errors(self, operation: str) -> Iterator[None]:
        started, succeeded = time.perf_counter(), False
        try:
            yield
            succeeded = True
        except LLMBadResponse:
            log.warning("LLM %s: the response from %s is not a completion", operation, self._server)
            raise
        except LLMError:
            raise
        except openai.RateLimitError as error:
            log.warning("LLM %s rate limited (HTTP 429) by %s", operation, self._server)
            raise LLMRateLimited(retry_after=_retry_after_seconds(error)) from error
        except openai.APIResponseValidationError as error:
            log.warning("LLM %s: the response from %s did not match the API schema", operation, self._server)
            raise LLMBadResponse() from error
        except openai.APITimeoutError as error:
            log.warning("LLM %s timed out waiting for %s", operation, self._server)
            raise LLMUnavailable() from error
        except openai.APIConnectionError as error:
            cause = type(error.__cause__).__name__ if error.__cause__ else "unknown cause"
            log.warning("LLM %s: connection to %s failed (%s)", operation, self._server, cause)
            raise LLMUnavailable() from error
        except openai.APIStatusError as error:
            # 5xx is the server's trouble; other statuses (401, 404, 400) mean the configuration needs a look.
            level = logging.WARNING if error.status_code >= 500 else logging.ERROR
            message = self._redacted(error.message)
            log.log(level, "LLM %s: %s answered HTTP %s: %s", operation, self._server, error.status_code, message)
            raise LLMUnavailable() from error
        except openai.OpenAIError as error:
            log.warning("LLM %s failed: %s: %s", operation, type(error).__name__, self._redacted(str(error)))
            raise LLMUnavailable() from error
        except ValueError as error:
            # What a malformed body raises inside the SDK: json.JSONDecodeError, UnicodeDecodeError,
            # pydantic.ValidationError -- all ValueErrors.
            log.warning("LLM %s: unreadable response from %s (%s)", operation, self._server, type(error).__name__)
            raise LLMBadResponse() from error
        finally:
            metrics.llm_call(operation, seconds=time.perf_counter() - started, ok=succeeded)

    def _redacted(self, text: str) -> str:
        key = self._client.api_key
        if isinstance(key, str) and len(key) >= 4 and key != PLACEHOLDER_API_KEY:
            return text.replace(key, "[redacted]")
        return text


def _sampling_options(max_tokens: int | None, temperature: float | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    if temperature is not None:
        options["temperature"] = temperature
    return options


# The SDK does not validate responses strictly (compatible servers differ in small ways), so a body
# that is JSON but not a completion arrives as a model with missing attributes: read it defensively.


def _first_choice(response: object, *, streamed: bool) -> tuple[str | None, str | None]:
    """The text (or delta text) and finish reason of the first choice."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
        raise LLMBadResponse()
    if not choices:
        if streamed:  # the final usage chunk has no choices
            return None, None
        raise LLMBadResponse()
    choice = choices[0]
    message = getattr(choice, "delta" if streamed else "message", None)
    text = getattr(message, "content", None)
    if text is not None and not isinstance(text, str):
        raise LLMBadResponse()
    reason = getattr(choice, "finish_reason", None)
    return text, reason if isinstance(reason, str) else None


def _model_name(response: object) -> str | None:
    model = getattr(response, "model", None)
    return model if isinstance(model, str) and model else None


def _token_counts(usage: object | None) -> tuple[int | None, int | None]:
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    return (prompt if isinstance(prompt, int) else None, completion if isinstance(completion, int) else None)


def _vectors_in_order(response: object, *, expected: int) -> list[list[float]]:
    data = getattr(response, "data", None)
    if not isinstance(data, list) or len(data) != expected:
        raise LLMBadResponse()
    vectors: list[list[float]] = []
    for item in sorted(data, key=lambda item: getattr(item, "index", 0)):
        vector = getattr(item, "embedding", None)
        if not isinstance(vector, list) or not vector or not all(isinstance(x, int | float) for x in vector):
            raise LLMBadResponse()
        vectors.append([float(x) for x in vector])
    return vectors


def _retry_after_seconds(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date; the caller only needs a hint


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
