"""Domain errors. Each one carries the message a user is shown, as is.

Services raise these; the one error handler in `cogs/errors.py` turns them into an ephemeral embed.
Anything that is not a `CourseError` is a bug and is reported with an error id instead.
"""

from __future__ import annotations


class CourseError(Exception):
    """A problem the user can act on. `str(error)` is shown to them as is."""


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


class PermissionDenied(CourseError):
    def __init__(self, needed: str) -> None:
        super().__init__(f"This needs the {needed.lower()} role. Ask a server admin if you think you should have it.")


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
    def __init__(self) -> None:
        super().__init__("This quiz belongs to someone else. Start your own with `/quiz start`.")


class AttemptFinished(CourseError):
    def __init__(self) -> None:
        super().__init__("That attempt is already finished. See `/quiz results`, or `/quiz start` to try again.")


class AlreadyAnswered(CourseError):
    def __init__(self) -> None:
        super().__init__("You already answered this question; your first answer counts.")
