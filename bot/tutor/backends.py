"""The LLM servers (backends) and models the bot may use, as configured by `/admin llm`, and which one is used.

Backends are bot-wide. API keys are stored as Fernet tokens (`bot.tutor.secrets`) and leave this module
in plain text only inside an `LLMConnection`, the value used to build a client; list views say whether
a key is set, never what it is. Every change writes an audit row.

Model resolution (`model_connection`): the admin's default backend for a purpose when the operator set
COURSEBOT_SECRET_KEY, else `[llm]` in config.toml with OPENAI_API_KEY; an empty model name there means no model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.errors import InvalidInput, NotFound
from bot.services import audit
from bot.tutor.llm import LLMClient
from bot.tutor.secrets import SecretBox
from db.models import LLMBackend, LLMModel, ModelPurpose


@dataclass(frozen=True, slots=True)
class ModelSummary:
    id: int
    backend_id: int
    model: str
    purpose: ModelPurpose
    is_default: bool
    embedding_dimensions: int | None


@dataclass(frozen=True, slots=True)
class BackendSummary:
    """A backend as an admin may see it: the key itself is never included."""

    id: int
    name: str
    provider: str
    base_url: str
    has_api_key: bool
    models: tuple[ModelSummary, ...]


@dataclass(frozen=True, slots=True)
class LLMConnection:
    """What a client needs to reach the default model of a purpose. `api_key` is plain: keep it out of logs."""

    provider: str
    base_url: str
    model: str
    api_key: str | None = field(repr=False)
    embedding_dimensions: int | None


async def add_backend(
    session: AsyncSession,
    *,
    name: str,
    provider: str,
    base_url: str,
    api_key: str | None,
    secrets: SecretBox,
    actor_id: int,
    guild_id: int | None,
) -> BackendSummary:
    """Register a server. The key is encrypted before it reaches the database; a taken name is refused."""
    name, provider, base_url = name.strip(), provider.strip().lower(), base_url.strip().rstrip("/")
    if not name:
        raise InvalidInput("Give the backend a name, e.g. `openai` or `local-ollama`.")
    if not base_url.startswith(("http://", "https://")):
        raise InvalidInput(f"`{base_url}` is not a server address. Use the form `https://host/v1`.")
    if await session.scalar(select(LLMBackend.id).where(LLMBackend.name == name)) is not None:
        raise InvalidInput(f"A backend called `{name}` exists already. Pick another name.")
    backend = LLMBackend(
        name=name,
        provider=provider,
        base_url=base_url,
        api_key_encrypted=secrets.encrypt(api_key) if api_key else None,
        created_by=actor_id,
    )
    session.add(backend)
    await session.flush()
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="llm.backend.add",
        target_type="llm_backend",
        target_ids=[backend.id],
        meta={"name": name, "provider": provider, "base_url": base_url, "has_api_key": bool(api_key)},
    )
    return BackendSummary(backend.id, name, provider, base_url, bool(api_key), ())


async def add_model(
    session: AsyncSession,
    *,
    backend_id: int,
    model: str,
    purpose: ModelPurpose,
    embedding_dimensions: int | None = None,
    make_default: bool = False,
    actor_id: int,
    guild_id: int | None,
) -> ModelSummary:
    """Offer `model` of a backend for `purpose`; with `make_default`, it becomes that purpose's default."""
    model = model.strip()
    if not model:
        raise InvalidInput("Give the model's id as the server names it, e.g. `gpt-4o-mini`.")
    if await session.get(LLMBackend, backend_id) is None:
        raise NotFound("LLM backend", str(backend_id))
    if purpose is ModelPurpose.EMBEDDING and embedding_dimensions is None:
        raise InvalidInput("An embedding model needs its output size (dimensions), e.g. 1536.")
    taken = select(LLMModel.id).where(
        LLMModel.backend_id == backend_id, LLMModel.model == model, LLMModel.purpose == purpose
    )
    if await session.scalar(taken) is not None:
        raise InvalidInput(f"`{model}` is already offered for {purpose.lower()} by this backend.")
    row = LLMModel(backend_id=backend_id, model=model, purpose=purpose, embedding_dimensions=embedding_dimensions)
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="llm.model.add",
        target_type="llm_model",
        target_ids=[row.id],
        meta={"backend_id": backend_id, "model": model, "purpose": purpose.value},
    )
    if make_default:
        return await set_default(session, model_id=row.id, actor_id=actor_id, guild_id=guild_id)
    return _model_summary(row)


async def set_default(session: AsyncSession, *, model_id: int, actor_id: int, guild_id: int | None) -> ModelSummary:
    """Make the model the default for its purpose; the previous default of that purpose stops being one."""
    row = await session.get(LLMModel, model_id)
    if row is None:
        raise NotFound("LLM model", str(model_id))
    # Clear first: the partial unique index allows one default per purpose at any moment.
    await session.execute(
        update(LLMModel)
        .where(LLMModel.purpose == row.purpose, LLMModel.is_default, LLMModel.id != model_id)
        .values(is_default=False)
    )
    row.is_default = True
    await session.flush()
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="llm.model.default",
        target_type="llm_model",
        target_ids=[model_id],
        meta={"purpose": row.purpose.value, "model": row.model},
    )
    return _model_summary(row)


async def list_backends(session: AsyncSession) -> list[BackendSummary]:
    """Every backend with its models, by name. Keys are reported only as `has_api_key`."""
    backends = (await session.scalars(select(LLMBackend).order_by(LLMBackend.name))).all()
    models = (await session.scalars(select(LLMModel).order_by(LLMModel.purpose, LLMModel.model))).all()
    return [
        BackendSummary(
            id=backend.id,
            name=backend.name,
            provider=backend.provider,
            base_url=backend.base_url,
            has_api_key=backend.api_key_encrypted is not None,
            models=tuple(_model_summary(model) for model in models if model.backend_id == backend.id),
        )
        for backend in backends
    ]


async def default_connection(
    session: AsyncSession, *, purpose: ModelPurpose, secrets: SecretBox
) -> LLMConnection | None:
    """How to reach the default model for `purpose`, key decrypted; None when no default is set.

    Raises `SecretUnreadable` when the stored key was encrypted under another COURSEBOT_SECRET_KEY.
    """
    found = (
        await session.execute(
            select(LLMModel, LLMBackend)
            .join(LLMBackend, LLMBackend.id == LLMModel.backend_id)
            .where(LLMModel.purpose == purpose, LLMModel.is_default)
        )
    ).first()
    if found is None:
        return None
    model, backend = found
    return LLMConnection(
        provider=backend.provider,
        base_url=backend.base_url,
        model=model.model,
        api_key=secrets.decrypt(backend.api_key_encrypted) if backend.api_key_encrypted else None,
        embedding_dimensions=model.embedding_dimensions,
    )


async def model_connection(session: AsyncSession, settings: Settings, purpose: ModelPurpose) -> LLMConnection | None:
    """How to reach the model for `purpose`: the admin's default backend, else `[llm]` of config.toml; None: no model.

    Admin backends are read only when COURSEBOT_SECRET_KEY is set (their keys cannot be read without it).
    """
    if settings.secret_key is not None:
        found = await default_connection(session, purpose=purpose, secrets=SecretBox.from_key(settings.secret_key))
        if found is not None:
            return found
    llm = settings.llm
    model = llm.chat_model if purpose is ModelPurpose.CHAT else llm.embedding_model
    if not model.strip():
        return None
    return LLMConnection(
        provider=_provider_of(llm.base_url),
        base_url=llm.base_url,
        model=model.strip(),
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key is not None else None,
        embedding_dimensions=llm.embedding_dimensions if purpose is ModelPurpose.EMBEDDING else None,
    )


def client_for(connection: LLMConnection, settings: Settings, *, embeddings: bool) -> LLMClient:
    """A new client for the connection's model, as a chat or as an embedding model; the caller closes it."""
    return LLMClient.from_settings(
        base_url=connection.base_url,
        api_key=connection.api_key,
        chat_model=connection.model if not embeddings else "",
        embedding_model=connection.model if embeddings else None,
        timeout=settings.llm.timeout_seconds,
        max_retries=settings.llm.max_retries,
    )


def _provider_of(base_url: str) -> str:
    host = urlsplit(base_url).hostname or ""
    return "openai" if host == "api.openai.com" else host[:50] or "openai-compatible"


def _model_summary(row: LLMModel) -> ModelSummary:
    return ModelSummary(row.id, row.backend_id, row.model, row.purpose, row.is_default, row.embedding_dimensions)
