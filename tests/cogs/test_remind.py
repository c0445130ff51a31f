"""Study reminders through real discord.py parsing: `/remind`, delivery by the scheduled jobs on a moved clock,
the Continue button in a DM, and every way a delivery can go (DMs closed, no fallback, pauses, quiet hours,
Discord errors, a member who left, a double run), and routes prepared ahead of the minute."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from bot import scheduler
from bot.clock import FixedClock
from bot.services import delivery, nudges, reminders
from cogs.remind import DMS_CLOSED
from db.models import ContentItem, Notification, NotificationKind, NotificationStatus, ReminderPreference
from db.session import Database
from sandbox import DiscordSandbox
from sandbox.messages import PostedMessage

# The sandbox's clock starts on Monday 2026-11-23 at 10:00 UTC; the student's zone is UTC until they set one.
TUESDAY_9 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


async def run_jobs(sandbox: DiscordSandbox) -> None:
    """What the scheduler would run once the clock reached its time: plan, then send."""
    await scheduler.run_due_jobs(sandbox.bot)  # type: ignore[arg-type]


async def remind_at_nine_and_wake_up_on_tuesday(sandbox: DiscordSandbox, clock: FixedClock) -> None:
    reply = await sandbox.slash("remind set", time="09:00")
    assert "Reminder set" in reply.text, reply.text
    clock.set(TUESDAY_9)
    await run_jobs(sandbox)


async def statuses(database: Database) -> list[tuple[NotificationStatus, str | None]]:
    async with database.session_scope() as session:
        rows = await session.execute(select(Notification.status, Notification.last_error).order_by(Notification.id))
        return [(status, error) for status, error in rows]


def the_dm(sandbox: DiscordSandbox) -> PostedMessage:
    dms = sandbox.dms_to(sandbox.student)
    assert len(dms) == 1, [dm.text for dm in dms]
    return dms[0]


# -- commands --------------------------------------------------------------------------------------------------


async def test_a_student_sets_sees_and_stops_a_reminder(student: DiscordSandbox) -> None:
    sandbox = student
    set_reply = await sandbox.slash("remind set", time="09:00", days="weekdays")

    assert set_reply.ephemeral
    assert "**PY101** at **09:00** weekdays" in set_reply.text
    # Tuesday 09:00 UTC, as a Discord timestamp (every reader's own clock) and as the student's local text.
    assert f"<t:{int(TUESDAY_9.timestamp())}:F> (Tue 24 Nov, 09:00 UTC)" in set_reply.text
    assert "UTC** is assumed" in set_reply.text and "/profile timezone zone:" in set_reply.text

    shown = await sandbox.slash("remind show")
    assert "**PY101** · 09:00 weekdays · next" in shown.text and "UTC** is assumed" in shown.text

    await sandbox.slash("profile timezone", zone="Europe/Paris")
    moved = await sandbox.slash("remind show")
    # 09:00 in Paris is 08:00 UTC: the reminder moved with the zone, and the UTC hint is gone.
    paris_nine = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert f"<t:{int(paris_nine.timestamp())}:F> (Tue 24 Nov, 09:00 Europe/Paris)" in moved.text
    assert "**Europe/Paris**" in moved.text and "assumed" not in moved.text

    stopped = await sandbox.slash("remind off")
    assert "No more reminders for PY101" in stopped.text
    assert "No reminders yet" in (await sandbox.slash("remind show")).text


async def test_bad_times_days_and_quiet_hours_say_what_to_type(student: DiscordSandbox) -> None:
    sandbox = student
    late = await sandbox.slash("remind set", time="25:00")
    someday = await sandbox.slash("remind set", time="09:00", days="someday")
    quiet = await sandbox.slash("remind set", time="09:00", quiet="late")
    elsewhere = await sandbox.slash("remind set", time="09:00", course="NOPE")

    assert "HH:MM" in late.text
    assert "mon,wed,fri" in someday.text
    assert "22:00-07:00" in quiet.text
    assert "not enrolled in NOPE" in elsewhere.text
    assert "No reminders yet" in (await sandbox.slash("remind show")).text  # nothing half-saved


async def test_days_and_courses_autocomplete(student: DiscordSandbox) -> None:
    days = await student.autocomplete("remind set", "days", "mon,w")
    assert [choice.value for choice in days] == ["mon,wed,fri", "mon,wed"]
    assert "every day" in [choice.value for choice in await student.autocomplete("remind set", "days", "")]
    courses = await student.autocomplete("remind set", "course", "py")
    assert [choice.value for choice in courses] == ["PY101"]


# -- delivery --------------------------------------------------------------------------------------------------


async def test_a_reminder_arrives_as_a_dm_at_its_time_and_says_where_the_student_is(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = student
    await sandbox.slash("remind set", time="09:00")
    clock.set(TUESDAY_9 - timedelta(minutes=1))
    await run_jobs(sandbox)
    assert sandbox.dms_to(sandbox.student) == []  # not yet

    clock.set(TUESDAY_9)
    await run_jobs(sandbox)

    dm = the_dm(sandbox)
    assert "Study time: Python Basics" in dm.text, dm.text
    assert "You left off at **Running code**" in dm.text and "Next up: **" in dm.text
    assert "🔥 1 day — today not counted yet." in dm.text
    assert [component.label for component in dm.components] == ["Continue"]
    assert await statuses(database) == [(NotificationStatus.SENT, None)]


async def test_the_continue_button_opens_the_lesson_from_a_dm(student: DiscordSandbox, clock: FixedClock) -> None:
    sandbox = student
    resumed = await sandbox.slash("lesson resume")
    await remind_at_nine_and_wake_up_on_tuesday(sandbox, clock)

    opened = await sandbox.click(the_dm(sandbox), "Continue", user=sandbox.student)

    assert opened.ephemeral
    assert opened.embeds[0]["title"] == resumed.embeds[0]["title"]


async def test_a_forged_continue_button_finds_nothing(student: DiscordSandbox, clock: FixedClock) -> None:
    sandbox = student
    await remind_at_nine_and_wake_up_on_tuesday(sandbox, clock)
    dm = the_dm(sandbox)

    for forged in ("remind:go:99999999999999999999999:PY101", "remind:go:1:PY101", f"remind:go:1:{'X' * 60}"):
        reply = await sandbox.click(dm, "Continue", user=sandbox.student, forged_custom_id=forged)
        assert reply.ephemeral and ("No course called" in reply.text or "not enrolled" in reply.text), reply.text


async def test_closed_dms_fall_back_to_the_reminder_channel_mentioning_only_that_student(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = student
    await sandbox.slash("admin setup", user=sandbox.owner, reminder_channel=sandbox.channel)
    sandbox.http.fail("POST", "/channels/*/messages", status=403, code=DMS_CLOSED, message="Cannot send to this user")

    await remind_at_nine_and_wake_up_on_tuesday(sandbox, clock)

    posted = sandbox.messages_in(sandbox.channel)[-1]
    student_id = sandbox.student["user"]["id"]
    assert posted.raw["content"] == f"<@{student_id}>" and "Study time: Python Basics" in posted.text
    assert [component.label for component in posted.components] == ["Continue"]
    mentions = sandbox.http.calls_to("POST", f"/channels/{sandbox.channel['id']}/messages")[-1].json["allowed_mentions"]
    assert mentions["users"] == [int(student_id)] and mentions["parse"] == []
    assert await statuses(database) == [(NotificationStatus.SENT, None)]


async def test_closed_dms_without_a_reminder_channel_fail_and_three_in_a_row_pause_the_student(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = student
    sandbox.http.fail("POST", "/channels/*/messages", status=403, code=DMS_CLOSED, times=None)
    await sandbox.slash("remind set", time="09:00")

    for day in range(3):  # Tuesday, Wednesday, Thursday
        clock.set(TUESDAY_9 + timedelta(days=day))
        await run_jobs(sandbox)

    assert [status for status, _ in await statuses(database)] == [NotificationStatus.FAILED] * 3
    assert "DMs closed" in ((await statuses(database))[0][1] or "")
    clock.set(TUESDAY_9 + timedelta(days=3))
    await run_jobs(sandbox)
    assert len(await statuses(database)) == 3  # paused: Friday plans nothing

    # The next command the student uses, whatever it is, is followed by how to fix it (once).
    since = len(sandbox.http.calls)
    await sandbox.slash("streak")
    notice = await sandbox.http.wait_for_call("POST", "/webhooks/*", since=since)
    told = notice.json["embeds"][0]
    assert told["title"] == "Your reminders are paused" and "Allow direct messages" in told["description"]
    since = len(sandbox.http.calls)
    shown = await sandbox.slash("remind show")
    assert "⏸ paused" in shown.text and len(shown.messages) == 1
    assert not sandbox.http.calls_to("POST", "/webhooks/*", since=since)

    admin_view = await sandbox.slash("admin reminders", user=sandbox.owner)
    assert f"<@{sandbox.student['user']['id']}> (PY101)" in admin_view.text
    assert "DMs closed" in admin_view.text

    again = await sandbox.slash("remind set", time="09:00")  # after opening DMs: reminders start again
    assert "Next:" in again.text and "paused" not in (await sandbox.slash("remind show")).text


async def test_a_pause_made_by_another_process_is_told_at_the_next_command_within_a_minute(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = student
    await sandbox.slash("remind set", time="09:00")
    student_id = int(sandbox.student["user"]["id"])
    async with database.session_scope() as session:  # another process failed to reach her three times
        for _ in range(delivery.PAUSE_AFTER_FAILURES):
            await delivery.record_delivery(
                session, user_id=student_id, guild_id=int(sandbox.guild["id"]), delivered=False
            )

    clock.advance(seconds=60)
    since = len(sandbox.http.calls)
    await sandbox.slash("streak")
    notice = await sandbox.http.wait_for_call("POST", "/webhooks/*", since=since)
    assert notice.json["embeds"][0]["title"] == "Your reminders are paused"


async def test_nothing_is_sent_inside_quiet_hours(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = student
    own = await sandbox.slash("remind set", time="09:00", quiet="08:00-10:00")
    assert "09:00 is inside your quiet hours (08:00-10:00)" in own.text

    clock.set(TUESDAY_9)
    await run_jobs(sandbox)

    assert sandbox.dms_to(sandbox.student) == []
    assert await statuses(database) == [(NotificationStatus.SKIPPED, "quiet hours")]


async def test_the_servers_quiet_hours_hold_unless_the_student_chose_their_own(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = student
    configured = await sandbox.slash("admin setup", user=sandbox.owner, quiet_hours="22:00-07:00")
    assert "Quiet hours: 22:00-07:00" in configured.text
    late = await sandbox.slash("remind set", time="23:00")
    assert "inside your quiet hours (22:00-07:00)" in late.text

    clock.set(datetime(2026, 11, 23, 23, 0, tzinfo=UTC))
    await run_jobs(sandbox)
    assert await statuses(database) == [(NotificationStatus.SKIPPED, "quiet hours")]

    mine = await sandbox.slash("remind set", time="23:00", quiet="off")
    assert "Quiet hours: off (your choice)" in mine.text
    clock.set(datetime(2026, 11, 24, 23, 0, tzinfo=UTC))
    await run_jobs(sandbox)
    assert "Study time" in the_dm(sandbox).text


async def test_a_discord_outage_delays_the_reminder_and_it_comes_later(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = student
    sandbox.http.fail("POST", "/channels/*/messages", status=503)

    await remind_at_nine_and_wake_up_on_tuesday(sandbox, clock)

    assert sandbox.dms_to(sandbox.student) == []
    assert [status for status, _ in await statuses(database)] == [NotificationStatus.PENDING]
    clock.advance(seconds=sandbox.bot.settings.reminders.retry_delay_seconds)  # type: ignore[attr-defined]
    await run_jobs(sandbox)
    assert "Study time" in the_dm(sandbox).text
    assert await statuses(database) == [(NotificationStatus.SENT, None)]


async def test_a_student_who_left_the_server_gets_nothing(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = student
    await sandbox.slash("remind set", time="09:00")
    student_id = sandbox.student["user"]["id"]
    sandbox.guild["members"] = [m for m in sandbox.guild["members"] if m["user"]["id"] != student_id]

    clock.set(TUESDAY_9)
    await run_jobs(sandbox)

    assert sandbox.http.messages_in(sandbox.http.dm_channel_id(student_id)) == []
    assert await statuses(database) == [(NotificationStatus.SKIPPED, "left the server")]
    since = len(sandbox.http.calls)
    clock.set(TUESDAY_9 + timedelta(days=1))
    await run_jobs(sandbox)
    assert calls_since(sandbox, since) == [] and len(await statuses(database)) == 1  # paused: not asked again


async def test_later_reminders_cost_discord_one_request_each(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    """The DM channel is opened when the reminder is set and membership confirmed every few days, not before
    every message: at Discord's 50 requests a second that is what lets a minute's reminders leave within it."""
    sandbox = student
    await sandbox.slash("remind set", time="09:00")  # opens the DM channel, and shows she is a member
    student_id = sandbox.student["user"]["id"]
    dm_channel = sandbox.http.dm_channel_id(student_id)
    since = len(sandbox.http.calls)
    clock.set(TUESDAY_9)
    await run_jobs(sandbox)
    assert len(sandbox.dms_to(sandbox.student)) == 1
    assert [(call.method, call.path) for call in sandbox.http.calls[since:]] == [
        ("POST", f"/channels/{dm_channel}/messages")
    ]

    since = len(sandbox.http.calls)
    clock.set(TUESDAY_9 + timedelta(days=1))
    await run_jobs(sandbox)

    assert len(sandbox.dms_to(sandbox.student)) == 2
    assert [(call.method, call.path) for call in sandbox.http.calls[since:]] == [
        ("POST", f"/channels/{dm_channel}/messages")
    ]

    since = len(sandbox.http.calls)
    check_every = sandbox.bot.settings.reminders.member_check_days  # type: ignore[attr-defined]
    clock.set(TUESDAY_9 + timedelta(days=1 + check_every))
    await run_jobs(sandbox)
    assert len(sandbox.http.calls_to("GET", f"/guilds/*/members/{student_id}", since=since)) == 1
    assert [status for status, _ in await statuses(database)] == [NotificationStatus.SENT] * 3


async def test_a_student_who_left_after_the_last_check_is_found_out_when_the_dm_fails(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = student
    await remind_at_nine_and_wake_up_on_tuesday(sandbox, clock)
    student_id = sandbox.student["user"]["id"]
    sandbox.guild["members"] = [m for m in sandbox.guild["members"] if m["user"]["id"] != student_id]
    # Sharing no server with the bot any more, the student cannot be sent a DM.
    sandbox.http.fail("POST", "/channels/*/messages", status=403, code=DMS_CLOSED, message="Cannot send to this user")

    clock.set(TUESDAY_9 + timedelta(days=1))
    await run_jobs(sandbox)

    assert len(sandbox.http.messages_in(sandbox.http.dm_channel_id(student_id))) == 1
    assert (await statuses(database))[-1] == (NotificationStatus.SKIPPED, "left the server")


async def test_planner_and_sender_running_twice_send_one_dm(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = student
    await sandbox.slash("remind set", time="09:00")
    clock.set(TUESDAY_9)

    await asyncio.gather(run_jobs(sandbox), run_jobs(sandbox))
    await run_jobs(sandbox)

    assert len(sandbox.dms_to(sandbox.student)) == 1
    assert await statuses(database) == [(NotificationStatus.SENT, None)]


async def test_a_day_already_studied_gets_no_reminder(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = student
    await sandbox.slash("remind set", time="18:00")
    clock.set(TUESDAY_9)
    await sandbox.slash("lesson next")  # studies on Tuesday morning

    clock.set(TUESDAY_9 + timedelta(hours=9))
    await run_jobs(sandbox)

    assert sandbox.dms_to(sandbox.student) == []
    assert await statuses(database) == [(NotificationStatus.SKIPPED, "already studied that day")]


async def test_an_announcement_is_posted_in_its_channel_and_pings_nobody(
    student: DiscordSandbox, database: Database
) -> None:
    sandbox = student
    await sandbox.slash("admin setup", user=sandbox.owner, announcement_channel=sandbox.channel)
    async with database.session_scope() as session:
        course_id, item_id = (
            await session.execute(select(ContentItem.course_id, ContentItem.id).order_by(ContentItem.id).limit(1))
        ).one()
        await nudges.plan_announcement(
            session,
            guild_id=int(sandbox.guild["id"]),
            course_id=course_id,
            item_ids=[item_id],
            actor_id=int(sandbox.instructor["user"]["id"]),
            now=sandbox.bot.clock.now(),  # type: ignore[attr-defined]
        )

    await run_jobs(sandbox)

    posted = sandbox.messages_in(sandbox.channel)[-1]
    assert posted.text.startswith("New lesson in PY101") and not posted.raw["content"]
    assert [component.label for component in posted.components] == ["Continue"]
    call = sandbox.http.calls_to("POST", f"/channels/{sandbox.channel['id']}/messages")[-1]
    assert call.json["allowed_mentions"] == {"parse": []}


def test_the_reminder_commands_fit_discords_limits(discord_sandbox: DiscordSandbox) -> None:
    tree = discord_sandbox.bot.tree  # type: ignore[attr-defined]
    mine = [
        command
        for command in tree.walk_commands()
        if command.qualified_name.startswith("remind") or command.qualified_name in ("admin setup", "admin reminders")
    ]
    assert len(mine) >= 5
    for command in mine:
        assert len(command.description) <= 100, command.qualified_name
        for parameter in getattr(command, "parameters", []):
            assert len(parameter.description) <= 100, f"{command.qualified_name} {parameter.name}"


async def test_a_streak_at_risk_is_a_dm_with_a_continue_button(
    student: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = student
    await sandbox.slash("remind set", time="09:00")
    for day in (1, 2):  # studies on Tuesday and Wednesday too: a 3-day streak
        clock.set(TUESDAY_9 + timedelta(days=day - 1, hours=1))
        await sandbox.slash("lesson next")

    clock.set(datetime(2026, 11, 26, 20, 0, tzinfo=UTC))  # Thursday evening, nothing studied yet
    await run_jobs(sandbox)

    dm = the_dm(sandbox)
    assert "Keep your 3-day streak going" in dm.text, dm.text
    assert [component.label for component in dm.components] == ["Continue"]
    opened = await sandbox.click(dm, "Continue", user=sandbox.student)
    assert opened.ephemeral and opened.embeds[0]["footer"]["text"].startswith("Item ")


def test_the_bot_plans_and_sends_on_a_schedule_and_every_kind_has_a_sender(discord_sandbox: DiscordSandbox) -> None:
    bot = discord_sandbox.bot
    jobs = {job.id: job for job in bot.scheduler.get_jobs()}  # type: ignore[attr-defined]
    assert {"reminders.plan", "nudges.plan", "outbox.send", "reminders.prepare_routes"} <= set(jobs)
    assert set(bot.notification_senders) == set(NotificationKind)  # type: ignore[attr-defined]


# -- routes prepared ahead -------------------------------------------------------------------------------------


async def a_reminder_with_no_route(sandbox: DiscordSandbox, database: Database) -> int:
    """A daily 09:00 reminder set before routes were stored: no DM channel, membership never confirmed."""
    await sandbox.slash("course enroll", course="PY101")
    # The course import goes on indexing for the tutor and then edits its answer: a request these tests must not count.
    assert await sandbox.finish_handlers()
    student_id = int(sandbox.student["user"]["id"])
    async with database.session_scope() as session:
        await reminders.set_reminder(
            session,
            guild_id=int(sandbox.guild["id"]),
            user_id=student_id,
            course_code=None,
            at=time(9),
            days=reminders.parse_days(None),
            now=sandbox.bot.clock.now(),  # type: ignore[attr-defined]
        )
    return student_id


async def route_of(database: Database, sandbox: DiscordSandbox, student_id: int) -> delivery.Route:
    async with database.session_scope() as session:
        return await delivery.route(session, user_id=student_id, guild_id=int(sandbox.guild["id"]))


def minutes_ahead(sandbox: DiscordSandbox) -> timedelta:
    return timedelta(minutes=sandbox.bot.settings.reminders.prepare_routes_minutes)  # type: ignore[attr-defined]


def calls_since(sandbox: DiscordSandbox, since: int) -> list[tuple[str, str]]:
    return [(call.method, call.path) for call in sandbox.http.calls[since:]]


async def test_a_first_reminder_costs_one_request_at_its_minute_once_its_route_is_prepared_ahead(
    classroom: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = classroom
    student_id = await a_reminder_with_no_route(sandbox, database)
    clock.set(TUESDAY_9 - minutes_ahead(sandbox))
    since = len(sandbox.http.calls)

    await scheduler.prepare_reminder_routes(sandbox.bot)  # type: ignore[arg-type]

    dm_channel = sandbox.http.dm_channel_id(student_id)
    assert calls_since(sandbox, since) == [
        ("GET", f"/guilds/{sandbox.guild['id']}/members/{student_id}"),
        ("POST", "/users/@me/channels"),
    ]
    assert sandbox.dms_to(sandbox.student) == []  # nothing is sent ahead
    assert await route_of(database, sandbox, student_id) == delivery.Route(dm_channel, clock.now())
    since = len(sandbox.http.calls)
    await scheduler.prepare_reminder_routes(sandbox.bot)  # type: ignore[arg-type]
    assert calls_since(sandbox, since) == []  # prepared once

    clock.set(TUESDAY_9)
    await run_jobs(sandbox)

    assert calls_since(sandbox, since) == [("POST", f"/channels/{dm_channel}/messages")]
    assert "Study time" in the_dm(sandbox).text


async def test_a_student_found_gone_ahead_has_their_reminder_skipped_with_no_request(
    classroom: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = classroom
    student_id = await a_reminder_with_no_route(sandbox, database)
    sandbox.guild["members"] = [m for m in sandbox.guild["members"] if int(m["user"]["id"]) != student_id]
    clock.set(TUESDAY_9 - minutes_ahead(sandbox))
    since = len(sandbox.http.calls)

    await scheduler.prepare_reminder_routes(sandbox.bot)  # type: ignore[arg-type]
    assert calls_since(sandbox, since) == [("GET", f"/guilds/{sandbox.guild['id']}/members/{student_id}")]

    since = len(sandbox.http.calls)
    clock.set(TUESDAY_9)
    await run_jobs(sandbox)

    assert calls_since(sandbox, since) == [] and await statuses(database) == []
    async with database.session_scope() as session:
        paused = (
            await session.execute(select(ReminderPreference.next_fire_at, ReminderPreference.paused_reason))
        ).one()
    assert paused == (None, delivery.LEFT_REASON)


async def test_a_dm_refused_ahead_breaks_nothing_and_the_send_opens_it_as_before(
    classroom: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = classroom
    student_id = await a_reminder_with_no_route(sandbox, database)
    sandbox.http.fail("POST", "/users/@me/channels", status=403, code=DMS_CLOSED, message="Cannot send to this user")
    clock.set(TUESDAY_9 - minutes_ahead(sandbox))

    await scheduler.prepare_reminder_routes(sandbox.bot)  # type: ignore[arg-type]

    # The membership was confirmed all the same; the DM channel stays unknown.
    assert await route_of(database, sandbox, student_id) == delivery.Route(None, clock.now())
    since = len(sandbox.http.calls)
    clock.set(TUESDAY_9)
    await run_jobs(sandbox)
    dm_channel = sandbox.http.dm_channel_id(student_id)
    assert calls_since(sandbox, since) == [
        ("POST", "/users/@me/channels"),
        ("POST", f"/channels/{dm_channel}/messages"),
    ]
    assert await statuses(database) == [(NotificationStatus.SENT, None)]


async def test_a_reminder_further_ahead_than_the_window_is_not_prepared_yet(
    classroom: DiscordSandbox, clock: FixedClock, database: Database
) -> None:
    sandbox = classroom
    student_id = await a_reminder_with_no_route(sandbox, database)
    clock.set(TUESDAY_9 - minutes_ahead(sandbox) - timedelta(seconds=1))
    since = len(sandbox.http.calls)

    await scheduler.prepare_reminder_routes(sandbox.bot)  # type: ignore[arg-type]

    assert calls_since(sandbox, since) == []
    assert await route_of(database, sandbox, student_id) == delivery.Route(None, None)
