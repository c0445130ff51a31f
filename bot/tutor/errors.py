"""Errors raised by the tutor. Like every `CourseError`, `str(error)` is the message a user is shown."""

from __future__ import annotations

from bot.errors import CourseError


class LLMError(CourseError):
    """The language model could not give an answer. Subclasses say why; the message is safe to show."""


class LLMUnavailable(LLMError):
    """The model server timed out, refused the connection, or kept failing after the retries."""

    message = "The tutor's model is not answering right now. Your message is saved; press Retry in a minute."


class LLMTooSlow(LLMError):
    """The model did not finish an answer within the turn's deadline (`[tutor] answer_deadline_seconds`)."""

    def __init__(self, deadline_seconds: float) -> None:
        super().__init__(
            f"The tutor's model took longer than {deadline_seconds:g} seconds to answer, so it was stopped. "
            "Your message is saved; press Retry in a minute."
        )


class LLMRateLimited(LLMError):
    """The model server said "too many requests" (HTTP 429) on every attempt.

    `retry_after` is the server's suggested wait in seconds, when it sent one.
    """

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__(
            "The tutor's model is busy with other requests. Your message is saved; press Retry in a minute."
        )
        self.retry_after = retry_after


class LLMBadResponse(LLMError):
    """The model server answered, but with something that is not a readable completion (malformed JSON or stream)."""

    message = "The tutor's model sent back a reply that could not be read. Your message is saved; press Retry."


class EmbeddingsNotConfigured(CourseError):
    """`embed` was called on a client that has no embedding model."""

    message = (
        "No embedding model is configured, so course material can only be searched by keywords. "
        "An admin can add one with `/admin llm`."
    )


class MessageTooLong(CourseError):
    """A message to the tutor is longer than the input cap."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(
            f"Your message is {length:,} characters long; the tutor reads at most {limit:,}. "
            "Shorten it or split it into two messages."
        )
        self.length = length
        self.limit = limit


class AlreadyAnsweredAgain(CourseError):
    message = "The tutor has answered since then, so there is nothing to retry. Ask again in the thread."


class NotALesson(CourseError):
    def __init__(self, slug: str) -> None:
        super().__init__(
            f"`{slug}` is a quiz, and the tutor does not take quizzes with you. Pick a lesson, or leave `lesson` "
            "out to talk about the lesson you are reading."
        )
