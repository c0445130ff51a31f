"""Issue 18's "done when" in the console: a student sees what Coursebot keeps about them, exports it and deletes
it, and afterwards Coursebot keeps nothing but a fresh account; the operator's `coursebot privacy` commands."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox.harness import DEFAULT_GUILD_ID, STUDENT_ID
from tests.e2e.conftest import ConsoleSession
from tests.e2e.test_console import coursebot


async def test_a_student_sees_exports_and_deletes_their_data(console: ConsoleSession) -> None:
    await console.run("/course enroll course:PY101")
    await console.run("/lesson next")

    kept = await console.run("/profile data")
    assert "What Coursebot keeps about you" in kept and "**Course enrollments**: 1 · kept until you delete it" in kept

    exported = await console.run("/profile export")
    assert "(file) coursebot-data-" in exported and ".json" in exported

    asked = await console.run("/profile delete")
    assert "Erase your data?" in asked and "course enrollments (1)" in asked
    await console.run(str(console.buttons(asked)["Delete my data"]))

    after = await console.run("/profile data")
    assert "**Account: name, language, time zone, settings**: 1" in after
    assert "Course enrollments" not in after and "Lesson progress" not in after


def test_the_operator_exports_and_erases_anyone_and_purges_a_server_from_the_command_line(tmp_path: Path) -> None:
    studied = coursebot(tmp_path, "console", script="/course enroll course:PY101\n/lesson next\n")
    assert studied.returncode == 0, studied.stderr
    student, guild = str(STUDENT_ID), str(DEFAULT_GUILD_ID)

    exported = coursebot(tmp_path, "privacy", "export", student, "--out", str(tmp_path / "data.json"))
    erased = coursebot(tmp_path, "privacy", "delete", student, "42")
    listed = coursebot(tmp_path, "privacy", "erased")
    purged = coursebot(tmp_path, "privacy", "purge-guild", guild)

    assert exported.returncode == 0, exported.stderr
    document = json.loads((tmp_path / "data.json").read_text())
    assert document["user_id"] == student and [row["course"] for row in document["data"]["enrollments"]] == ["PY101"]
    assert f"{student}: erased (" in erased.stdout and "42: nothing stored." in erased.stdout
    assert listed.stdout.split("\t")[0] == student
    assert f"Purged server {guild}: " in purged.stdout
