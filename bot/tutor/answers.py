"""Answer assembly: what the model is told, what a student is shown without one, and how a model's answer is read.

- in: `system_message` composes the prompt's text with the course, the fenced passages and the standing
  instructions; `fallback_text` is the answer when there is no model (or no budget left): said plainly, then
  the best passages;
- out: `split_branches` takes the follow-ups the model offered off the answer's last line, and `cited_sources`
  keeps the sources the answer cites as `[n]`. The result is an `Answer`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.tutor.guardrails import fence_untrusted
from bot.tutor.llm import ChatMessage as PromptMessage
from bot.tutor.quiz_guard import QuizGuard
from bot.tutor.retrieval import Passage
from bot.tutor.sessions import SessionCourse
from db.models import ChatMessage, GenerationStatus, MessageRole

EXCERPT_CHARS = 600
MAX_BRANCHES = 3
BRANCH_CHARS = 80  # Discord's button label limit

_OPTIONS_LINE = re.compile(r"^\W{0,3}(?:options|choices)\W{0,3}\s*:\s*(?P<options>.+)$", re.IGNORECASE)
_CITATION = re.compile(r"\[(\d{1,2})\]")

OPTIONS_INSTRUCTION = (
    "When you offer the student a choice of what to do next, end your answer with one line of the form "
    "`Options: first choice | second choice | third choice` (at most three short choices). "
    "The student sees them as buttons."
)
QUIZ_IN_PROGRESS_NOTE = (
    "The student is in the middle of a quiz of this course. Do not answer its questions for them or confirm "
    "their answers; help them reason their way there instead."
)
NO_MODEL_NOTICE = (
    "No language model is set up for the tutor, so I can't write an answer myself. "
    "These are the passages of the course material that best match your question:"
)
NO_MODEL_GREETING = (
    "Hi! I'm the tutor for **{topic}**. No language model is set up on this server, so I can't write answers "
    "myself: ask me a question and I'll show you the passages of the course material that match it best, "
    "with their sources."
)
BUDGET_GREETING = "Hi! I'm the tutor for **{topic}**. {notice}"
# Shown to students when the configured model cannot be used for a reason only the operator can fix (the log says
# what); never the operator's advice itself.
MODEL_UNAVAILABLE_NOTICE = (
    "The tutor's model is unavailable right now, so until it is back I can only point you to the passages of the "
    "course material that match your questions."
)
NOTHING_FOUND = "I found nothing in the course material that matches this. Try other words, or ask your instructor."


@dataclass(frozen=True, slots=True)
class Source:
    """A passage an answer was given, numbered as the answer cites it (`[n]`)."""

    number: int
    title: str  # the heading path inside the lesson or material ("Variables > Naming rules")
    page: int | None
    chunk_id: int | None
    score: float

    @property
    def label(self) -> str:
        return f"{self.title}, p. {self.page}" if self.page is not None else self.title

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "page": self.page,
            "chunk_id": self.chunk_id,
            "score": self.score,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Source:
        return cls(
            number=int(data["number"]),
            title=str(data["title"]),
            page=data.get("page"),
            chunk_id=data.get("chunk_id"),
            score=float(data["score"]),
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """A finished turn, ready to show."""

    id: int  # chat_messages.id of the answer
    status: GenerationStatus
    text: str  # what to show: the answer without its options line (partial when FAILED or STOPPED)
    sources: tuple[Source, ...]  # those the text cites, or all it was given when it cites none
    branches: tuple[str, ...]  # follow-ups the model offered, as short labels
    by_model: bool  # written by a model (live or replayed), so branches can be offered
    cached: bool  # replayed from the response cache
    problem: str | None  # FAILED: what went wrong, to show beside a Retry button
    retry_user_message_id: int | None  # the student message a retry answers (None: the greeting)


def numbered_sources(passages: Sequence[Passage]) -> tuple[Source, ...]:
    """The passages as the answer cites them: `[1]` is the first."""
    return tuple(
        Source(number, passage.title, passage.page, passage.chunk_id, passage.score)
        for number, passage in enumerate(passages, start=1)
    )


def split_branches(text: str) -> tuple[str, tuple[str, ...]]:
    """The answer without its closing `Options: a | b | c` line, and those options (at most three, each
    clipped to a button label); the text unchanged and no options when it has no such line."""
    body = text.rstrip()
    head, _, last = body.rpartition("\n")
    match = _OPTIONS_LINE.match(last.strip())
    if match is None:
        return text, ()
    options = [" ".join(option.split()).strip("*_` ") for option in match["options"].split("|")]
    kept = tuple(dict.fromkeys(option[:BRANCH_CHARS] for option in options if option))[:MAX_BRANCHES]
    return (head.rstrip(), kept) if kept else (text, ())


def cited_sources(text: str, sources: Sequence[Source]) -> tuple[Source, ...]:
    """The sources `text` cites as `[n]`, in number order; all of them when it cites none."""
    cited = {int(number) for number in _CITATION.findall(text)}
    chosen = tuple(source for source in sources if source.number in cited)
    return chosen or tuple(sources)


def system_message(
    system_text: str,
    course: SessionCourse | None,
    topic: str,
    passages: Sequence[Passage],
    sources: Sequence[Source],
    *,
    quiz_in_progress: bool,
) -> str:
    """The system message of a live answer: the prompt, the course and topic, the instructions, the passages fenced."""
    parts = [system_text.strip()]
    if course is not None:
        parts.append(f"Course: {course.code} · {course.title}. Topic of this conversation: {topic}.")
    parts.append(OPTIONS_INSTRUCTION)
    if quiz_in_progress:
        parts.append(QUIZ_IN_PROGRESS_NOTE)
    if passages:
        parts.append(
            fence_untrusted([passage.content for passage in passages], sources=[source.label for source in sources])
        )
    else:
        parts.append("No course material matched this question.")
    return "\n\n".join(parts)


def fallback_text(passages: Sequence[Passage], *, topic: str, greeting: bool, notice: str | None) -> str:
    """The answer with no model: said plainly (`notice`: why, when a model is configured), then the best passages
    with their numbers."""
    if greeting:
        return BUDGET_GREETING.format(topic=topic, notice=notice) if notice else NO_MODEL_GREETING.format(topic=topic)
    lines = [notice or NO_MODEL_NOTICE]
    if not passages:
        lines.append(NOTHING_FOUND)
    for number, passage in enumerate(passages, start=1):
        page = f", p. {passage.page}" if passage.page is not None else ""
        lines.append(f"**[{number}] {passage.title}{page}**\n{_excerpt(passage.content)}")
    return "\n\n".join(lines)


def _excerpt(content: str) -> str:
    """The start of a passage, cut at a line break, code fences kept balanced."""
    if len(content) <= EXCERPT_CHARS:
        return content
    cut = content.rfind("\n", 0, EXCERPT_CHARS)
    excerpt = content[: cut if cut > EXCERPT_CHARS // 2 else EXCERPT_CHARS].rstrip()
    if excerpt.count("```") % 2:
        excerpt += "\n```"
    return excerpt + "\n…"


# The conversation a prompt carries: the latest messages, each cut to a length a model reads without trouble.
HISTORY_MESSAGES = 10
HISTORY_MESSAGE_CHARS = 4000


async def prompt_history(
    session: AsyncSession, session_id: int, *, before: int | None, guard: QuizGuard
) -> list[PromptMessage]:
    """The conversation of tutor session `session_id` before message `before`: the student's messages and the
    completed answers, oldest first, with placeholders for what the quiz guard keeps out."""
    query = (
        select(ChatMessage.role, ChatMessage.content)
        .where(
            ChatMessage.session_id == session_id,
            ChatMessage.role != MessageRole.SYSTEM,
            # The student's messages are recorded COMPLETED; failed and stopped answers stay out.
            ChatMessage.generation_status == GenerationStatus.COMPLETED,
        )
        .order_by(ChatMessage.id.desc())
        .limit(HISTORY_MESSAGES)
    )
    if before is not None:
        query = query.where(ChatMessage.id < before)
    rows = list(await session.execute(query))
    messages: list[PromptMessage] = []
    for role, content in reversed(rows):
        if not content:
            continue
        by_student = role is MessageRole.USER
        # e.g. an earlier answer that explained a quiz question now being taken gives way to a placeholder
        text = guard.shown(content, by_student=by_student)[:HISTORY_MESSAGE_CHARS]
        messages.append({"role": "user" if by_student else "assistant", "content": text})
    return messages
