"""The human loop through real discord.py parsing, on SQLite and PostgreSQL: Ask a TA (staff post, one claim out of
twenty presses, the tutor paused and resumed, the TA's answer saved for the next student), student submissions
(approve once under concurrent presses, undo twice, reject with a reason) and /feedback (+1 once, status told)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot import scheduler
from bot.clock import FixedClock
from bot.services import xp
from bot.tutor.cache import TA_APPROVED_MARK
from db.models import (
    AuditLog,
    ChatMessage,
    Escalation,
    EscalationStatus,
    FeatureRequest,
    Material,
    MaterialSubmission,
    MessageRole,
    RequestStatus,
    SubmissionStatus,
)
from db.session import Database
from sandbox import DiscordSandbox
from sandbox.messages import PostedMessage
from tests.cogs.course_fixtures import enrolled_member
from tests.cogs.tutor_fixtures import (  # noqa: F401 (the fixtures are taken by name)
    GREETING,
    chat_requests,
    fake_openai_server,
    open_tutor,
    tutor_classroom,
    tutor_settings,
)
from tests.fakes.openai_server import FakeOpenAIServer

EXAMPLE = "Here is an example: `x = 1` names the value 1 [1]."
TA_ANSWER = "Think of a variable as a label you stick on a box: `x = 1` puts the label x on the box holding 1."


def last_with(sandbox: DiscordSandbox, channel: Any, text: str) -> PostedMessage:
    return next(message for message in reversed(sandbox.messages_in(channel)) if text in message.text)


def thumbs_down(message: PostedMessage) -> str:
    return next(c.custom_id for c in message.components if (c.custom_id or "").endswith(":-1"))


async def staff(sandbox: DiscordSandbox, count: int) -> list[Any]:
    """`count` TAs, the TA role and the staff channel mapped in /admin setup."""
    role = await sandbox.add_role("TA")
    await sandbox.slash("admin setup", user=sandbox.owner, ta_role=role, staff_channel=sandbox.channel)
    return [await sandbox.add_member(f"ta{number}", roles=[role]) for number in range(count)]


async def test_a_ta_takes_over_a_tutor_thread_and_their_answer_serves_the_next_student(
    classroom: DiscordSandbox, openai_server: FakeOpenAIServer, database: Database, clock: FixedClock
) -> None:
    tas = await staff(classroom, 20)
    openai_server.reply(GREETING)
    _, thread_id = await open_tutor(classroom)
    openai_server.reply(EXAMPLE)
    await classroom.click(classroom.messages_in(thread_id)[-1], "Show an example", user=classroom.student)
    answer = last_with(classroom, thread_id, "Here is an example")

    unhappy = await classroom.click(answer, thumbs_down(answer), user=classroom.student)
    assert unhappy.ephemeral and "ask a TA" in unhappy.text
    asked = await classroom.click(unhappy, "Ask a TA", user=classroom.student)
    assert "A TA has been asked" in asked.text
    again = await classroom.slash("tutor escalate", channel=thread_id, note="still lost")
    assert again.ephemeral and "Already asked" in again.text
    post = last_with(classroom, classroom.channel, "A student asks for a TA")
    assert "Here is an example" in post.text and f"<#{thread_id}>" in post.text
    assert [component.label for component in post.components] == ["Claim"]
    inbox = await classroom.slash("teach inbox", user=tas[0])
    assert "**open**" in inbox.text and next(component.label for component in inbox.components).startswith("Claim #")

    # Nobody claimed it in time: posted again once, however often the sender runs.
    clock.advance(minutes=31)
    for _ in range(2):
        await scheduler.send_notifications(classroom.bot)  # type: ignore[arg-type]
    assert len([m for m in classroom.messages_in(classroom.channel) if "Still waiting for a TA" in m.text]) == 1

    # Discord refuses to add the winner to the thread: they answer through the bot instead.
    classroom.http.fail("PUT", f"/channels/{thread_id}/thread-members/*", status=403)
    replies = await classroom.click_many([(post, "Claim", ta) for ta in tas])
    winners = [reply for reply in replies if "You have it" in reply.text]
    assert len(winners) == 1
    assert all("already took this one" in reply.text for reply in replies if reply not in winners)
    winner = tas[replies.index(winners[0])]
    winner_id = int(winner["user"]["id"])
    assert classroom.http.calls_to("PUT", f"/channels/{thread_id}/thread-members/{winner_id}")
    assert "couldn't add you" in winners[0].text
    form = await classroom.click(winners[0], "Reply through the bot", user=winner)
    sent = await classroom.submit_modal(form, {"Your answer to the student": "Let me look at your example."})
    assert "Sent" in sent.text
    assert "(TA): Let me look at your example." in last_with(classroom, thread_id, "(TA)").content
    notice = last_with(classroom, thread_id, "A TA is coming")
    assert [component.label for component in notice.components] == ["Release", "Save as the answer"]

    asked_model = len(chat_requests(openai_server))
    assert not await classroom.send_message(thread_id, "I still don't get it", user=classroom.student)
    assert not await classroom.send_message(thread_id, TA_ANSWER, user=winner)
    assert len(chat_requests(openai_server)) == asked_model  # the tutor is paused
    saved = await classroom.click(notice, "Save as the answer", user=winner)
    assert "Saved as the answer" in saved.text
    stranger = await classroom.click(notice, "Release", user=classroom.student)
    assert stranger.ephemeral and "ta level" in stranger.text.lower()
    released = await classroom.click(notice, "Release", user=winner)
    assert released.ephemeral and "Handed back" in released.text
    assert last_with(classroom, thread_id, "The tutor is back")
    openai_server.reply("Glad it makes sense now.")
    [resumed] = await classroom.send_message(thread_id, "Thanks, got it", user=classroom.student)
    assert resumed.content.startswith("Glad it makes sense now.")

    async with database.session_scope() as session:
        escalation = await session.scalar(select(Escalation))
        assert escalation is not None and escalation.status is EscalationStatus.RELEASED
        assert escalation.claimed_by == winner_id and escalation.saved_at is not None
        kept = [row for row in await session.scalars(select(ChatMessage)) if row.meta.get("ta_id") == winner_id]
        assert [(row.role, row.content) for row in kept] == [
            (MessageRole.ASSISTANT, "Let me look at your example."),
            (MessageRole.ASSISTANT, TA_ANSWER),
        ]
        actions = list(await session.scalars(select(AuditLog.action).where(AuditLog.action.like("escalation.%"))))
        assert sorted(actions) == ["escalation.claim", "escalation.release", "escalation.save_answer"]

    # The next student on the same guided path gets the TA's answer from the cache, marked as such.
    kim = await enrolled_member(classroom, "kim")
    asked_model = len(chat_requests(openai_server))
    _, kims_thread = await open_tutor(classroom, user=kim)
    await classroom.click(classroom.messages_in(kims_thread)[-1], "Show an example", user=kim)
    assert len(chat_requests(openai_server)) == asked_model  # greeting and branch both replayed
    replayed = last_with(classroom, kims_thread, "Answer approved by a TA")
    assert replayed.content.startswith(TA_APPROVED_MARK.strip()) and "label you stick on a box" in replayed.content


async def submission_review(sandbox: DiscordSandbox, ta: Any) -> Any:
    return await sandbox.slash("teach submissions", user=ta, course="PY101")


async def test_a_submission_is_approved_once_undone_once_or_rejected_with_a_reason(
    classroom: DiscordSandbox, database: Database
) -> None:
    [ta, other_ta] = await staff(classroom, 2)
    notes = classroom.attachment("loops.md", b"# Loops\n\nA `for` loop repeats its body for each item.")
    sent = await classroom.slash("course submit", course="PY101", file=notes, title="Loop notes")
    assert sent.ephemeral and "Submitted #" in sent.text
    bad = await classroom.slash("course submit", course="PY101", file=classroom.attachment("x.exe", b"MZ"))
    assert bad.ephemeral and "not a file the tutor can read" in bad.text

    # Each TA has their own (ephemeral) review; both press Approve at once.
    review, others = await submission_review(classroom, ta), await submission_review(classroom, other_ta)
    assert "Loop notes" in review.text
    approve = next(component.label for component in review.components if component.label.startswith("Approve"))
    replies = await classroom.click_many([(review, approve, ta), (others, approve, other_ta)])
    assert sum("Approved #" in reply.text for reply in replies) == 1
    assert sum("already approved" in reply.text for reply in replies) == 1
    student_id = int(classroom.student["user"]["id"])
    async with database.session_scope() as session:
        assert await xp.total(session, guild_id=int(classroom.guild["id"]), user_id=student_id) == 25
        material = await session.scalar(select(Material).where(Material.uploader_id == student_id))
        assert material is not None and material.title == "Loop notes (by Sam)"
    await scheduler.send_notifications(classroom.bot)  # type: ignore[arg-type]
    assert "is now part of PY101" in classroom.dms_to(classroom.student)[-1].text

    review, others = await submission_review(classroom, ta), await submission_review(classroom, other_ta)
    undo = next(component.label for component in review.components if component.label.startswith("Undo"))
    replies = await classroom.click_many([(review, undo, ta), (others, undo, other_ta)])
    assert sorted("Undid #" in reply.text for reply in replies) == [False, True]
    async with database.session_scope() as session:
        assert await xp.total(session, guild_id=int(classroom.guild["id"]), user_id=student_id) == 0
        assert (await session.get_one(Material, material.id)).deleted_at is not None

    await classroom.slash("course submit", course="PY101", file=classroom.attachment("copy.txt", b"copied text"))
    review = await submission_review(classroom, ta)
    reject = next(component.label for component in review.components if component.label.startswith("Reject"))
    form = await classroom.click(review, reject, user=ta)
    rejected = await classroom.submit_modal(form, {"Why (the student is told)": "It is copied from a book."})
    assert "Rejected #" in rejected.text
    await scheduler.send_notifications(classroom.bot)  # type: ignore[arg-type]
    assert "It is copied from a book." in classroom.dms_to(classroom.student)[-1].text
    async with database.session_scope() as session:
        statuses = sorted(status for status in await session.scalars(select(MaterialSubmission.status)))
        assert statuses == sorted([SubmissionStatus.UNDONE, SubmissionStatus.REJECTED])
        decided = await session.scalar(select(func.count()).where(AuditLog.action.like("submission.%")))
        assert decided == 3


async def test_feedback_gets_a_reference_one_vote_per_member_and_a_status_the_requester_hears_of(
    classroom: DiscordSandbox, database: Database
) -> None:
    await classroom.slash("admin setup", user=classroom.owner, feedback_channel=classroom.channel)
    form = await classroom.slash("feedback", kind="content", course="PY101", lesson="variables")
    sent = await classroom.submit_modal(form, {"Title": "Typo in Variables", "Details": "It says pyhton."})
    assert sent.ephemeral and "Your reference is #" in sent.text
    post = last_with(classroom, classroom.channel, "Typo in Variables")
    assert "/lesson open course:PY101 lesson:variables" in post.text
    kim = await classroom.add_member("kim")
    votes = await classroom.click_many([(post, "+1", kim), (post, "+1", kim), (post, "+1", classroom.instructor)])
    assert sum("Counted" in vote.text for vote in votes) == 2

    listing = await classroom.slash("admin requests", user=classroom.owner)
    assert "Typo in Variables" in listing.text
    request_id = next(
        option["value"] for component in listing.components if component.options for option in component.options
    )
    await classroom.select(listing, "Pick a request", [request_id], user=classroom.owner)
    moved = await classroom.select(listing, "Move it to…", [RequestStatus.PLANNED.value], user=classroom.owner)
    assert "is planned" in moved.text and "requester will get a DM" in moved.text
    note_form = await classroom.click(listing, "Add a note…", user=classroom.owner)
    noted = await classroom.submit_modal(note_form, {"Note for the requester": "Fixed next week."})
    assert "is planned" in noted.text
    await scheduler.send_notifications(classroom.bot)  # type: ignore[arg-type]
    status_dm, note_dm = (dm.text for dm in classroom.dms_to(classroom.student)[-2:])
    assert "is planned" in status_dm and "Fixed next week." in note_dm
    async with database.session_scope() as session:
        request = await session.get_one(FeatureRequest, int(request_id))
        assert request.votes == 2 and request.status is RequestStatus.PLANNED
