"""`Reply`: what the bot showed in answer to one interaction, as the sandbox hands it back to a test."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from discord import app_commands

from sandbox.http import RecordedCall
from sandbox.messages import ComponentInfo, PostedMessage, RecordedFile

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot showed in answer to one interaction, frozen at the moment it was returned.

    `messages` are the interaction's own messages (its response, followups, the clicked message when edited) in
    order of first touch, the response first; `posted` are other messages the bot created or edited meanwhile
    (channel posts, DMs). `calls` are every REST call made meanwhile; `errors` the ERROR log records.
    """

    label: str
    messages: tuple[PostedMessage, ...] = ()
    posted: tuple[PostedMessage, ...] = ()
    calls: tuple[RecordedCall, ...] = ()
    response_type: int | None = None
    modal: Json | None = None
    choices: tuple[app_commands.Choice[Any], ...] = ()
    interaction_id: int | None = None
    user_id: int | None = None
    source_message_id: int | None = None
    acknowledged_after: float | None = None  # seconds from delivery to the interaction callback; None if none
    errors: tuple[logging.LogRecord, ...] = field(default=(), repr=False)

    @property
    def message(self) -> PostedMessage | None:
        """The response message (None for modals, autocomplete and silent acknowledgements)."""
        return self.messages[0] if self.messages else None

    @property
    def message_id(self) -> int | None:
        return self.message.id if self.message else None

    @property
    def text(self) -> str:
        """Content, embed titles/descriptions/fields/footers and text displays of every message, as plain text."""
        return "\n".join(m.text for m in self.messages if m.text)

    @property
    def embeds(self) -> list[Json]:
        return [e for m in self.messages for e in m.embeds]

    @property
    def components(self) -> list[ComponentInfo]:
        return [c for m in self.messages for c in m.components]

    @property
    def ephemeral(self) -> bool:
        """Whether the response is visible only to the user who triggered it."""
        return self.message.ephemeral if self.message else False

    @property
    def deferred(self) -> bool:
        return self.response_type in (5, 6)

    @property
    def files(self) -> list[RecordedFile]:
        return [f for m in self.messages for f in m.files]

    def render(self) -> str:
        """A terminal-friendly rendering, as the console shows it."""
        parts = [m.render() for m in self.messages]
        if self.modal:
            names = ", ".join(label or custom_id for label, custom_id, _ in modal_inputs(self.modal))
            parts.append(f"(modal) {self.modal.get('title', '')}: {names}")
        if self.choices:
            parts.append("(choices) " + ", ".join(f"{c.name}={c.value!r}" for c in self.choices))
        return "\n\n".join(parts) or "(no visible response)"


def modal_inputs(modal: Json) -> list[tuple[str | None, str, Json]]:
    """(label, custom_id, component) of every input in a modal, looking through rows and labels."""
    found: list[tuple[str | None, str, Json]] = []

    def walk(component: Json, label: str | None) -> None:
        if component["type"] == 1:
            for child in component.get("components", []):
                walk(child, label)
        elif component["type"] == 18:
            walk(component["component"], component.get("label"))
        elif "custom_id" in component:
            found.append((label or component.get("label"), component["custom_id"], component))

    for component in modal.get("components", []):
        walk(component, None)
    return found
