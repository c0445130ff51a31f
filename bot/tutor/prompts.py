"""Versioned, labelled, composable prompts.

- Every `create_version` of a name gets the next version number (1, 2, …) and the `latest` label.
  Versions never change afterwards.
- A label sits on at most one version of a name (the `prompt_labels` primary key enforces it):
  `set_label` moves it there from whichever version had it. `production` is what `resolve` uses by
  default; `latest` is moved only by `create_version`.
- A prompt may include others with `@@@prompt:name=NAME|label=LABEL@@@` or `@@@prompt:name=NAME|version=N@@@`.
  `compose` replaces each reference with the referenced prompt's own composed text. References nest
  at most `MAX_DEPTH` levels, and a prompt never includes any version of itself, directly or through
  others. Both rules are checked when a version is created and when a label moves, for the prompt
  changed and for every prompt that includes it; a change that would break them is refused whole.
  The same checks hold a composed prompt to `MAX_COMPOSED_CHARS`: a few references repeated a few levels deep
  multiply, and the result is sent to the model with every answer.

Changes by an admin (`actor_id` given) write an audit row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import CourseError, InvalidInput
from bot.services import audit, views
from bot.services.plaintext import describe_character, unsafe_character
from db.models import Prompt, PromptDependency, PromptLabel
from db.models.tutor import PROMPT_LABEL_LENGTH

TUTOR_SYSTEM_PROMPT = "tutor.system"
PRODUCTION = "production"
LATEST = "latest"
MAX_DEPTH = 5
# About 12k tokens: a system prompt past this leaves little of a model's context for the lesson and the conversation.
MAX_COMPOSED_CHARS = 50_000

_REFERENCE_START = "@@@prompt:"
_REFERENCE = re.compile(r"@@@prompt:([^@\n]*)@@@")
_REFERENCE_BODY = re.compile(r"name=(?P<name>[^|]+)\|(?:label=(?P<label>[^|]+)|version=(?P<version>\d+))")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/-]{0,254}")
_LABEL = re.compile(rf"[a-z0-9][a-z0-9_.-]{{0,{PROMPT_LABEL_LENGTH - 1}}}")
_REFERENCE_FORM = "`@@@prompt:name=NAME|label=LABEL@@@` or `@@@prompt:name=NAME|version=N@@@`"


class PromptNotFound(CourseError):
    def __init__(self, name: str, *, label: str | None = None, version: int | None = None) -> None:
        which = f"version {version}" if version is not None else f"the label `{label}`"
        super().__init__(f"There is no prompt `{name}` with {which}. `/admin prompts` lists the prompts and labels.")


class PromptCompositionError(CourseError):
    """A prompt's references cannot be composed: a cycle, nesting deeper than `MAX_DEPTH`, or a missing prompt."""


@dataclass(frozen=True, slots=True)
class PromptReference:
    """One `@@@prompt:…@@@` reference: exactly one of `label` and `version` is set."""

    name: str
    label: str | None
    version: int | None

    def __str__(self) -> str:
        return f"{self.name}|label={self.label}" if self.label is not None else f"{self.name}|version={self.version}"


@dataclass(frozen=True, slots=True)
class PromptVersion:
    id: int
    name: str
    version: int
    type: str
    text: str  # as written, references not expanded; see `compose`
    config: dict[str, Any]
    labels: tuple[str, ...]
    commit_message: str | None
    created_by: int | None  # None: shipped with the bot
    created_at: datetime


def parse_references(text: str) -> list[PromptReference]:
    """The references in `text`, in order. Raises `InvalidInput` for a reference that is not well formed."""
    matches = list(_REFERENCE.finditer(text))
    if len(matches) != text.count(_REFERENCE_START):
        raise InvalidInput(f"A prompt reference is not closed. Write it as {_REFERENCE_FORM}.")
    references = []
    for match in matches:
        body = _REFERENCE_BODY.fullmatch(match.group(1).strip())
        if body is None:
            raise InvalidInput(f"`{match.group()}` is not a prompt reference. Write it as {_REFERENCE_FORM}.")
        version = body.group("version")
        references.append(
            PromptReference(
                name=body.group("name").strip(),
                label=body.group("label").strip() if body.group("label") else None,
                version=int(version) if version else None,
            )
        )
    return references


async def create_version(
    session: AsyncSession,
    *,
    name: str,
    text: str,
    labels: Sequence[str] = (),
    config: dict[str, Any] | None = None,
    prompt_type: str = "text",
    commit_message: str | None = None,
    actor_id: int | None = None,
    guild_id: int | None = None,
) -> PromptVersion:
    """Store `text` as the next version of `name`, labelled `latest` plus `labels` (moved from older versions).

    Refused with `InvalidInput` for a bad name, label, character or reference, and with `PromptNotFound` or
    `PromptCompositionError` when the references cannot be composed; nothing is stored then.
    """
    name = _checked_name(name)
    labels = [_checked_label(label) for label in labels if label != LATEST]
    # The text may come from a form, which no slash-command option check sees.
    if (character := unsafe_character(text, multiline=True)) is not None:
        raise InvalidInput(
            f"The prompt has a control character or a text-direction mark ({describe_character(character)}). "
            "Remove it and save again."
        )
    references = parse_references(text)
    async with session.begin_nested():  # a refused version leaves nothing behind, even if the caller goes on
        await _lock_name(session, name)
        version = (await session.scalar(select(func.max(Prompt.version)).where(Prompt.name == name)) or 0) + 1
        row = Prompt(
            name=name,
            version=version,
            type=prompt_type,
            prompt=text,
            config=config or {},
            labels=[],
            commit_message=commit_message,
            created_by=actor_id,
        )
        session.add(row)
        await session.flush()
        session.add_all(
            PromptDependency(parent_id=row.id, child_name=ref.name, child_version=ref.version, child_label=ref.label)
            for ref in dict.fromkeys(references)
        )
        for label in [LATEST, *dict.fromkeys(labels)]:
            await _move_label(session, row, label)
        await _check_composable(session, row)
    await _audit(session, row, "prompt.create", actor_id=actor_id, guild_id=guild_id, labels=list(row.labels))
    return _version_of(row)


async def set_label(
    session: AsyncSession,
    *,
    name: str,
    version: int,
    label: str,
    actor_id: int | None = None,
    guild_id: int | None = None,
) -> PromptVersion:
    """Put `label` on `version` of `name`, taking it off the version that had it.

    `latest` cannot be set by hand. Refused with `PromptCompositionError` when a prompt that includes
    `name` by this label could then no longer be composed.
    """
    label = _checked_label(label)
    if label == LATEST:
        raise InvalidInput("`latest` always marks the newest version; it cannot be moved by hand.")
    async with session.begin_nested():
        await _lock_name(session, name)
        row = await session.scalar(select(Prompt).where(Prompt.name == name, Prompt.version == version))
        if row is None:
            raise PromptNotFound(name, version=version)
        previous = await _move_label(session, row, label)
        await _check_composable(session, row)
    await _audit(
        session, row, "prompt.label", actor_id=actor_id, guild_id=guild_id, label=label, previous_version=previous
    )
    return _version_of(row)


async def _audit(
    session: AsyncSession, row: Prompt, action: str, *, actor_id: int | None, guild_id: int | None, **meta: Any
) -> None:
    """Record a person's change to a prompt version; one the bot makes itself (no `actor_id`) is not audited."""
    if actor_id is not None:
        await audit.record(
            session,
            guild_id=guild_id,
            actor_id=actor_id,
            action=action,
            target_type="prompt",
            target_ids=[row.id],
            meta={"name": row.name, "version": row.version, **meta},
        )


async def resolve(
    session: AsyncSession, *, name: str, label: str | None = None, version: int | None = None
) -> PromptVersion:
    """The version of `name` with `version`, or else the one labelled `label` (default `production`).

    Raises `PromptNotFound`.
    """
    if version is not None and label is not None:
        raise ValueError("resolve by label or by version, not both")
    label = None if version is not None else label or PRODUCTION
    row = await _find(session, PromptReference(name, label, version))
    if row is None:
        raise PromptNotFound(name, label=label, version=version)
    return _version_of(row)


async def compose(session: AsyncSession, prompt: PromptVersion) -> str:
    """The prompt's text with every reference replaced, recursively, by the referenced prompt's text.

    References resolve as the labels stand now. Raises `PromptCompositionError`.
    """
    return await _expand(session, prompt.text, path=(prompt.name,))


async def list_versions(session: AsyncSession, *, name: str) -> list[PromptVersion]:
    """Every version of `name`, newest first."""
    rows = await session.scalars(select(Prompt).where(Prompt.name == name).order_by(Prompt.version.desc()))
    return [_version_of(row) for row in rows]


async def list_names(session: AsyncSession) -> list[str]:
    """Every prompt name, alphabetically."""
    return list(await session.scalars(select(Prompt.name).distinct().order_by(Prompt.name)))


async def _lock_name(session: AsyncSession, name: str) -> None:
    # PostgreSQL: serialise changes to one name (version numbers, label moves). SQLite writers are serial anyway.
    await session.execute(select(Prompt.id).where(Prompt.name == name).with_for_update())


async def _move_label(session: AsyncSession, row: Prompt, label: str) -> int | None:
    """Put `label` on `row`; returns the version that had it (None if none)."""
    label_row = await session.get(PromptLabel, (row.name, label))
    previous: Prompt | None = None
    if label_row is None:
        session.add(PromptLabel(name=row.name, label=label, prompt_id=row.id))
    elif label_row.prompt_id != row.id:
        previous = await session.get(Prompt, label_row.prompt_id)
        assert previous is not None  # the foreign key
        previous.labels = [existing for existing in previous.labels if existing != label]
        label_row.prompt_id = row.id
    else:
        return row.version
    row.labels = sorted({*row.labels, label})
    await session.flush()
    return previous.version if previous is not None else None


async def _check_composable(session: AsyncSession, changed: Prompt) -> None:
    """Compose `changed` and every version that includes its name, directly or not, as the data now stands."""
    for row in [changed, *await _versions_including(session, changed.name)]:
        await _expand(session, row.prompt, path=(row.name,))


async def _versions_including(session: AsyncSession, name: str) -> list[Prompt]:
    found: dict[int, Prompt] = {}
    names_seen = {name}
    frontier = [name]
    while frontier:
        parents = await session.scalars(
            select(Prompt)
            .where(Prompt.id.in_(select(PromptDependency.parent_id).where(PromptDependency.child_name.in_(frontier))))
            .order_by(Prompt.id)
        )
        frontier = []
        for parent in parents:
            found.setdefault(parent.id, parent)
            if parent.name not in names_seen:
                names_seen.add(parent.name)
                frontier.append(parent.name)
    return list(found.values())


async def _expand(session: AsyncSession, text: str, *, path: tuple[str, ...]) -> str:
    """`text` with its references composed; `path` holds the names from the outermost prompt to this one.

    The size is checked before anything is joined, so an oversized composition is refused without being built.
    """
    try:
        references = parse_references(text)
    except InvalidInput as error:
        raise PromptCompositionError(f"`{path[-1]}`: {error}") from None
    if not references:
        _check_composed_size(len(text), path)
        return text
    composed: dict[PromptReference, str] = {}
    for reference in references:
        if reference in composed:
            continue
        if reference.name in path:
            chain = " → ".join([*path, reference.name])
            raise PromptCompositionError(f"Prompts may not include themselves: {chain}.")
        if len(path) > MAX_DEPTH:
            chain = " → ".join([*path, reference.name])
            raise PromptCompositionError(f"Prompts may nest at most {MAX_DEPTH} levels deep: {chain}.")
        child = await _find(session, reference)
        if child is None:
            raise PromptCompositionError(f"`{path[-1]}` includes `{reference}`, which does not exist.")
        composed[reference] = await _expand(session, child.prompt, path=(*path, child.name))
    spans = [match.end() - match.start() for match in _REFERENCE.finditer(text)]
    _check_composed_size(len(text) - sum(spans) + sum(len(composed[reference]) for reference in references), path)
    # `parse_references` lists the references in the order `sub` meets them.
    replacements = iter([composed[reference] for reference in references])
    return _REFERENCE.sub(lambda _: next(replacements), text)


def _check_composed_size(size: int, path: tuple[str, ...]) -> None:
    if size > MAX_COMPOSED_CHARS:
        where = f"`{path[-1]}`" + (f" (included as {' → '.join(path)})" if len(path) > 1 else "")
        raise PromptCompositionError(
            f"{where} would compose to {size:,} characters; a composed prompt may have at most "
            f"{MAX_COMPOSED_CHARS:,}. Include fewer or shorter prompts."
        )


async def _find(session: AsyncSession, reference: PromptReference) -> Prompt | None:
    query = select(Prompt).where(Prompt.name == reference.name)
    if reference.version is not None:
        query = query.where(Prompt.version == reference.version)
    else:
        query = query.join(PromptLabel, PromptLabel.prompt_id == Prompt.id).where(PromptLabel.label == reference.label)
    return await session.scalar(query)


def _checked_name(name: str) -> str:
    return _matching(
        _NAME,
        name.strip(),
        "cannot name a prompt: use up to 255 letters, digits, spaces and `._/-`, starting with a letter or digit, "
        "e.g. `tutor.system`.",
    )


def _checked_label(label: str) -> str:
    return _matching(
        _LABEL,
        label,
        f"cannot be a label: use up to {PROMPT_LABEL_LENGTH} lower-case letters, digits and `_.-`, "
        "e.g. `production` or `staging`.",
    )


def _matching(pattern: re.Pattern[str], text: str, problem: str) -> str:
    """`text` if `pattern` matches all of it; else `InvalidInput`: "`text` <problem>"."""
    if not pattern.fullmatch(text):
        raise InvalidInput(f"`{text}` {problem}")
    return text


def _version_of(row: Prompt) -> PromptVersion:
    return views.from_row(PromptVersion, row, text=row.prompt, config=dict(row.config), labels=tuple(row.labels))
