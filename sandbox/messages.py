"""Messages as the fake Discord stores them, and how they read as plain text."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

EPHEMERAL = 1 << 6
LOADING = 1 << 7

_BUTTON, _TEXT_INPUT = 2, 4
_SELECTS = {3: "string_select", 5: "user_select", 6: "role_select", 7: "mentionable_select", 8: "channel_select"}
_INTERACTIVE = {_BUTTON, _TEXT_INPUT, *_SELECTS}


@dataclass(frozen=True, slots=True)
class RecordedFile:
    """A file uploaded with a request; `data` is the full content."""

    filename: str
    data: bytes
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    """One interactive component of a message, flattened out of its action rows and containers."""

    type: int
    custom_id: str | None
    label: str | None
    style: int | None
    disabled: bool
    url: str | None = None
    placeholder: str | None = None
    options: tuple[Json, ...] = ()
    emoji: str | None = None
    message_id: int | None = None

    @property
    def kind(self) -> str:
        """One of "button", "link_button", "text_input" or a select's name ("string_select", "user_select", ...)."""
        if self.type == _BUTTON:
            return "link_button" if self.style == 5 else "button"
        if self.type == _TEXT_INPUT:
            return "text_input"
        return _SELECTS.get(self.type, f"type_{self.type}")

    def matches(self, target: str) -> bool:
        """Whether `target` is this component's custom_id, label or (for selects) placeholder."""
        return target in (self.custom_id, self.label, self.placeholder)


def _walk(components: Sequence[Json]) -> Iterator[Json]:
    for component in components:
        yield component
        yield from _walk(component.get("components", []))
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                yield from _walk([component[key]])


def flatten_components(components: Sequence[Json], *, message_id: int | None = None) -> list[ComponentInfo]:
    """Buttons, selects and text inputs in display order, out of rows, sections, containers and labels."""
    found: list[ComponentInfo] = []
    for c in _walk(components):
        if c.get("type") not in _INTERACTIVE:  # rows, sections, containers, labels, text displays
            continue
        emoji = c.get("emoji") or {}
        found.append(
            ComponentInfo(
                type=c["type"],
                custom_id=c.get("custom_id"),
                label=c.get("label"),
                style=c.get("style"),
                disabled=bool(c.get("disabled", False)),
                url=c.get("url"),
                placeholder=c.get("placeholder"),
                options=tuple(c.get("options", ())),
                emoji=emoji.get("name"),
                message_id=message_id,
            )
        )
    return found


def render_embed(embed: Json) -> list[str]:
    """The readable lines of an embed: author, title, description, fields as "name: value", footer."""
    lines = [
        (embed.get("author") or {}).get("name"),
        embed.get("title"),
        embed.get("description"),
        *(f"{f.get('name', '')}: {f.get('value', '')}" for f in embed.get("fields", [])),
        (embed.get("footer") or {}).get("text"),
    ]
    return [line for line in lines if line]


def render_text(raw: Json) -> str:
    """Content, embeds and components-v2 text displays of a message joined by newlines."""
    lines = [raw.get("content") or ""]
    for embed in raw.get("embeds") or []:
        lines.extend(render_embed(embed))
    lines.extend(c["content"] for c in _walk(raw.get("components") or []) if c.get("type") == 10 and c.get("content"))
    return "\n".join(line for line in lines if line)


@dataclass(slots=True)
class PostedMessage:
    """A message the bot created, kept up to date with later edits by the fake Discord."""

    raw: Json
    files: list[RecordedFile] = field(default_factory=list)
    deleted: bool = False

    @property
    def id(self) -> int:
        return int(self.raw["id"])

    @property
    def channel_id(self) -> int:
        return int(self.raw["channel_id"])

    @property
    def content(self) -> str:
        return self.raw.get("content") or ""

    @property
    def embeds(self) -> list[Json]:
        return list(self.raw.get("embeds") or [])

    @property
    def flags(self) -> int:
        return int(self.raw.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Still the "Bot is thinking..." placeholder of a deferred interaction."""
        return bool(self.flags & LOADING)

    @property
    def components(self) -> list[ComponentInfo]:
        return flatten_components(self.raw.get("components") or [], message_id=self.id)

    @property
    def text(self) -> str:
        return render_text(self.raw)

    def snapshot(self) -> PostedMessage:
        """A copy that later edits do not change."""
        return PostedMessage(copy.deepcopy(self.raw), list(self.files), self.deleted)

    def render(self) -> str:
        """A terminal-friendly view: text, then components as [Label] / <placeholder>, then files."""
        lines = [self.text or "(no text)"]
        controls = []
        for c in self.components:
            name = c.label or c.emoji or c.placeholder or c.custom_id or "?"
            shown = f"<{name}>" if c.type in _SELECTS else f"[{name}]"
            controls.append(f"~{shown}~" if c.disabled else shown)
        if controls:
            lines.append(" ".join(controls))
        lines.extend(f"(file) {f.filename} ({len(f.data)} bytes)" for f in self.files)
        prefix = "(only you can see this) " if self.ephemeral else ""
        return prefix + "\n".join(lines)
