"""Domain errors. Each one carries the message a user is shown, as is.

Services raise these; the one error handler in `cogs/errors.py` turns them into an ephemeral embed.
Anything that is not a `CourseError` is a bug and is reported with an error id instead.

The errors shared across services live here. An error only one module raises lives beside it, and is
listed here so that this is the one place to see them all (`tests/test_errors.py` keeps the list whole):

- here: NotFound, NotEnrolled, LessonInAnotherCourse, InvalidInput, InvalidOption, AlreadyEnrolled,
  EnrollmentClosed, PrerequisitesMissing, PrerequisiteCycle, NothingToRead, QuizUnavailable, NotYourQuiz,
  AttemptFinished, AlreadyAnswered, NotAnOption, RoleNotGrantable, RoleMappedTwice, DatabaseUnavailable
- `bot.services.courses`: DuplicateCourse
- `bot.services.profiles`: UnknownTimeZone
- `bot.services.reminders`: BadReminderTime, BadReminderDays, BadQuietHours
- `bot.services.privacy.export`: ExportTooSoon
- `bot.services.reviews`: NotYourReview, QuestionGone
- `bot.services.practice`: PracticeLocked, NothingToPractise
- `bot.services.coursepack`: PackageInvalid (every problem of a package, with file and line)
- `bot.tutor.errors`: LLMError, LLMUnavailable, LLMTooSlow, LLMRateLimited, LLMBadResponse,
  EmbeddingsNotConfigured, MessageTooLong, AlreadyAnsweredAgain, NotALesson
- `bot.tutor.sessions`: NotATutorThread, NotYourThread, TooManyOpenSessions, ThreadHasSession, SessionEnded,
  TutorRateLimited, TokenBudgetExhausted, NotTheAsker
- `bot.tutor.secrets`: SecretKeyMissing, SecretKeyInvalid, SecretUnreadable
- `bot.tutor.prompts`: PromptNotFound, PromptCompositionError
- `bot.tutor.materials`: MaterialUnreadable
- `cogs.tutor`: AnswerInProgress
- `bot.tutor.escalations`: TutorPaused, EscalationTaken, EscalationClosed, NotTheHolder, NoAnswerToSave,
  NotOnGuidedPath
- `bot.services.submissions`: SubmissionLimit, AlreadyDecided
- `bot.services.feedback`: FeedbackRateLimited
"""

from __future__ import annotations

from typing import ClassVar


class CourseError(Exception):
    """A problem the user can act on. `str(error)` is shown to them as is: the message it was raised with, or, for
    an error that always says the same, its class's `message`."""

    message: ClassVar[str] = ""

    def __init__(self, *args: object) -> None:
        if not args and self.message:
            args = (self.message,)
        super().__init__(*args)


class NotFound(CourseError):
    def __init__(self, what: str, name: str) -> None:
        super().__init__(f"No {what} called `{name}` here. Check the spelling or pick one from the list.")


class NotEnrolled(CourseError):
    def __init__(self, course_code: str | None = None) -> None:
        where = f" in {course_code}" if course_code else " in any course"
        super().__init__(f"You are not enrolled{where}. Try `/course list`, then `/course enroll`.")


class LessonInAnotherCourse(CourseError):
    def __init__(self, lesson: str, course_code: str, *, enrolled: bool) -> None:
        if enrolled:
            super().__init__(
                f"`{lesson}` is a lesson of {course_code}: open it with `/lesson open course:{course_code}`."
            )
        else:
            super().__init__(
                f"`{lesson}` is a lesson of {course_code}, which you are not enrolled in. "
                f"Join with `/course enroll course:{course_code}` first."
            )


class InvalidInput(CourseError):
    """Input that was read but does not make sense; the message says what form is expected."""


class AlreadyEnrolled(CourseError):
    def __init__(self, course_code: str, waitlisted: bool = False) -> None:
        where = "on the waitlist of" if waitlisted else "enrolled in"
        super().__init__(f"You are already {where} {course_code}. See `/course progress course:{course_code}`.")


class EnrollmentClosed(CourseError):
    """No cohort of the course takes enrollments right now (window, closed cohort, or invite needed)."""


class PrerequisitesMissing(CourseError):
    def __init__(self, course_code: str, missing: list[str]) -> None:
        names = ", ".join(f"`{code}`" for code in missing)
        super().__init__(f"{course_code} needs you to complete {names} first.")


class NothingToRead(CourseError):
    """The course has no published item in the direction asked for (end, start, or none yet)."""


class QuizUnavailable(CourseError):
    """The quiz can't be taken now (no attempts left, not published, nothing to answer)."""


class NotYourQuiz(CourseError):
    message = "This quiz belongs to someone else. Start your own with `/quiz start`."


class AttemptFinished(CourseError):
    message = "That attempt is already finished. See `/quiz results`, or `/quiz start` to try again."


class AlreadyAnswered(CourseError):
    message = "You already answered this question; your first answer counts."


class RoleNotGrantable(CourseError):
    """A Discord role Coursebot refuses to give students: it would hand them power, or it isn't the bot's to give."""

    def __init__(self, role_name: str, reason: str) -> None:
        name = role_name.replace("`", "'")
        super().__init__(
            f"I can't use the role `{name}` for a cohort: {reason}. Pick a plain role with no moderation "
            "permissions, not used in `/admin setup`, and below my highest role."
        )


class RoleMappedTwice(CourseError):
    def __init__(self, role_id: int, levels: list[str]) -> None:
        named = " and the ".join(levels)
        super().__init__(
            f"<@&{role_id}> can't be both the {named} role: one role stands for one level. "
            "Give each level its own role in `/admin setup`."
        )


class DatabaseUnavailable(CourseError):
    """The database is down, locked by another process or too slow to answer in time: the work was rolled back."""

    message = "The database isn't answering right now, so this wasn't done. Nothing was lost: try again in a minute."


class PrerequisiteCycle(CourseError):
    """Importing a course whose prerequisites lead back to it: nobody could ever enroll in those courses."""

    def __init__(self, cycle: list[str]) -> None:
        course, first, last = cycle[0], cycle[1], cycle[-2]
        loop = f"{course} needs " + ", which needs ".join(cycle[1:])
        super().__init__(
            f"Importing {course} would make its prerequisites a loop: {loop}, so nobody could enroll in them. "
            f"Remove `{first}` from `prerequisites` in course.toml (or `{course}` from {last}'s prerequisites), "
            "then import again."
        )


class InvalidOption(InvalidInput):
    """An option outside what its command accepts (Discord's client checks limits, but anyone can send past it)."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"`{option}` {problem}")
        self.option = option


class NotAnOption(CourseError):
    """An answer naming an option the question does not have (a forged button): nothing is recorded."""

    message = "That isn't one of this question's options, so nothing was recorded. Answer with the buttons under it."
