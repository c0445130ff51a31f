"""Periodic sweeps. Each job is a thin call into a service in its own unit of work; the state lives in our
tables, so a rerun (or a restart mid-run) does the same thing once, not twice."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.services import quizzes
from bot.tutor import tutor

if TYPE_CHECKING:
    from bot.app import CourseBot

log = logging.getLogger(__name__)


async def abandon_stale_quiz_attempts(bot: CourseBot) -> None:
    async with bot.db.session_scope() as session:
        count = await quizzes.abandon_stale_attempts(session, now=bot.clock.now())
    if count:
        log.info("Abandoned %d stale quiz attempt(s)", count)


async def end_idle_tutor_sessions(bot: CourseBot) -> None:
    """End tutor sessions idle for `tutor.inactivity_minutes`; the tutor cog archives their threads."""
    idle_for = timedelta(minutes=bot.settings.tutor.inactivity_minutes)
    ended = await tutor.end_idle_sessions(bot.db, idle_for=idle_for, now=bot.clock.now())
    if ended:
        log.info("Ended %d idle tutor session(s)", len(ended))
        bot.dispatch("tutor_sessions_ended", ended)


def install_jobs(bot: CourseBot) -> None:
    """Register every periodic job on the bot's scheduler (started by `setup_hook`)."""
    bot.scheduler.add_job(
        abandon_stale_quiz_attempts, "interval", minutes=60, args=[bot], id="quiz.abandon_stale",
        replace_existing=True, coalesce=True, max_instances=1,
    )  # fmt: skip
    bot.scheduler.add_job(
        end_idle_tutor_sessions, "interval", minutes=bot.settings.scheduler.tutor_inactivity_every_minutes,
        args=[bot], id="tutor.end_idle", replace_existing=True, coalesce=True, max_instances=1,
    )  # fmt: skip
