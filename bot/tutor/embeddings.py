"""The embedding models the tutor embeds with: an OpenAI-compatible server when one is configured, else a small model
that runs in this process, so semantic retrieval works offline with no model server.

The in-process model is WordLlama (`wordllama`, MIT): a static embedding model (token vectors, averaged) whose
256-number weights (16 MB, half precision) and tokenizer ship inside its wheel, so nothing is downloaded at run
time. Only those two files are used: the package's own loader imports an HTTP client and its training code and
widens the weights to single precision, which tripled what the model costs in memory (`docs/tutor.md`), so the
weights are read as they ship (`safetensors`), the tokenizer with `tokenizers`, and a text's vector is the mean of
its tokens' vectors, as WordLlama computes it. It embeds a question in well under a millisecond. It is loaded
once, in a worker thread, on first use; embedding many texts runs in a worker thread too.

`docs/tutor.md` says how it was chosen over an int8 MiniLM run with onnxruntime: on the evaluation set MiniLM puts
the right lesson in the top five more often but not first more often, and it takes 8 to 10 ms a question on a busy
two-core machine (WordLlama: under 0.5 ms), with a 23 MB model and a runtime to ship.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.tutor import backends, retrieval
from bot.tutor.llm import LLMClient
from db.models import ModelPurpose
from db.models.tutor import EMBEDDING_DIMENSIONS
from db.session import Database

if TYPE_CHECKING:
    from bot.tutor.backends import LLMConnection

LOCAL_MODEL = "local:wordllama-l2_supercat-256"
LOCAL_DIMENSIONS = 256
_WEIGHTS_FILE = f"l2_supercat_{LOCAL_DIMENSIONS}.safetensors"
_TOKENIZER_FILE = "l2_supercat_tokenizer_config.json"


class Embedder(Protocol):
    """Something that turns texts into vectors, and names the model (stored with every vector it makes)."""

    @property
    def model(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@dataclass(frozen=True, slots=True)
class RemoteEmbedder:
    """An OpenAI-compatible embedding model, reached through an `LLMClient` that the caller closes."""

    client: LLMClient
    dimensions: int | None = None  # the width it is configured for: a vector of another width is refused

    @property
    def model(self) -> str:
        assert self.client.embedding_model is not None
        return self.client.embedding_model

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await self.client.embed(texts)


@dataclass(frozen=True, slots=True)
class _StaticModel:
    """Token vectors (one row per token id) and the tokenizer that gives the ids."""

    vectors: np.ndarray
    tokenizer: Any


class LocalEmbedder:
    """The in-process model. `local_embedder()` gives the one instance; its weights load on first use."""

    model = LOCAL_MODEL

    def __init__(self) -> None:
        self._loaded: _StaticModel | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> _StaticModel:
        """The model, loading it the first time (a fraction of a second): call it off the event loop."""
        with self._lock:
            if self._loaded is None:
                from safetensors import safe_open
                from tokenizers import Tokenizer

                # The wheel's folder, found without importing the package (that is what costs the memory).
                spec = importlib.util.find_spec("wordllama")
                assert spec is not None and spec.submodule_search_locations, "the wordllama wheel is installed"
                folder = Path(spec.submodule_search_locations[0])
                with safe_open(str(folder / "weights" / _WEIGHTS_FILE), framework="np") as weights:
                    vectors = weights.get_tensor("embedding.weight")
                tokenizer = Tokenizer.from_file(str(folder / "tokenizers" / _TOKENIZER_FILE))
                tokenizer.no_padding()
                tokenizer.no_truncation()
                self._loaded = _StaticModel(vectors, tokenizer)
            return self._loaded

    def embed_now(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for `texts`, in this thread: each the normalised mean of its tokens' vectors."""
        model = self.load()
        last_token = len(model.vectors) - 1
        embedded = []
        for text in texts:
            # One text at a time: `encode_batch` starts a thread pool that stays, for no gain on short texts.
            ids = np.clip(
                np.asarray(model.tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int32), 0, last_token
            )
            mean = model.vectors[ids].sum(axis=0, dtype=np.float32) / max(len(ids), 1)
            norm = np.linalg.norm(mean)
            embedded.append((mean / norm if norm > 0 else mean).tolist())
        return embedded

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_now, texts)

    def embed_query_now(self, questions: Sequence[str]) -> list[list[float]]:
        """Vectors for questions, in this thread. A static model averages the vectors of a text's words, so a
        question is embedded by its search terms (`retrieval.query_terms`): "how do i", "my" would only blur it."""
        return self.embed_now([" ".join(retrieval.query_terms(question)) or question for question in questions])

    async def embed_query(self, question: str) -> list[float]:
        [vector] = await asyncio.to_thread(self.embed_query_now, [question])
        return vector


_LOCAL = LocalEmbedder()


def local_embedder() -> LocalEmbedder:
    return _LOCAL


@dataclass(frozen=True, slots=True)
class QueryEmbedder:
    """The model a course's questions are embedded with: `connection` reaches it, or None for the in-process one."""

    model: str
    connection: LLMConnection | None


async def query_embedder(
    session: AsyncSession, *, course_id: int, configured: LLMConnection | None
) -> QueryEmbedder | None:
    """The model that made the course's vectors, if it can embed a question now; None: search by keywords alone.

    While a course is being re-embedded for a new model its old vectors are still the ones searched, so a question
    is embedded with the old model: the in-process one, or the configured one while it is still that model.
    """
    serving = await retrieval.serving_model(session, course_id=course_id)
    if serving is None:
        return None
    if configured is not None and configured.model == serving:
        return QueryEmbedder(serving, configured)
    return QueryEmbedder(LOCAL_MODEL, None) if serving == LOCAL_MODEL else None


async def indexing_embedder(database: Database, settings: Settings) -> Embedder | None:
    """The embedding model materials are indexed with: the configured model (a new client: `close_embedder` it),
    else the in-process one (`[tutor] offline_embeddings`), else None."""
    async with database.session_scope() as session:
        connection = await backends.model_connection(session, settings, ModelPurpose.EMBEDDING)
    if connection is not None:
        client = backends.client_for(connection, settings, embeddings=True)
        return RemoteEmbedder(client, connection.embedding_dimensions)
    return local_embedder() if settings.tutor.offline_embeddings else None


async def close_embedder(embedder: Embedder | None) -> None:
    if isinstance(embedder, RemoteEmbedder):
        await embedder.client.aclose()


def as_embedder(llm: LLMClient | Embedder | None) -> Embedder | None:
    """An embedder from what indexing was given: a client with an embedding model, or an embedder."""
    if isinstance(llm, LLMClient):
        # A bare client is taken to be configured for `[llm] embedding_dimensions`' default width.
        return RemoteEmbedder(llm, EMBEDDING_DIMENSIONS) if llm.has_embeddings else None
    return llm
