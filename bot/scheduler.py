"""Periodic sweeps. Each job is a thin call into a service in its own unit of work; the state lives in our
tables, so a rerun (or a restart mid-run) does the same thing once, not twice."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.services import quizzes

if TYPE_CHECKING:
    from bot.app import CourseBot

log = logging.getLogger(__name__)


async def abandon_stale_quiz_attempts(bot: CourseBot) -> None:
    async with bot.db.session_scope() as session:
        count = await quizzes.abandon_stale_attempts(session, now=bot.clock.now())
    if count:
        log.info("Abandoned %d stale quiz attempt(s)", count)


def install_jobs(bot: CourseBot) -> None:
    """Register every periodic job on the bot's scheduler (started by `setup_hook`)."""
    bot.scheduler.add_job(
        abandon_stale_quiz_attempts, "interval", minutes=60, args=[bot], id="quiz.abandon_stale",
        replace_existing=True, coalesce=True, max_instances=1,
    )  # fmt: skip
