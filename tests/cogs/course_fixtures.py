"""The sample course (content/python-basics) as the cog tests upload it, and how an instructor imports it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from sandbox import DiscordSandbox, Reply

SAMPLE = Path(__file__).resolve().parent.parent.parent / "content" / "python-basics"


def zip_folder(folder: Path, *, extra_course_toml: str = "") -> bytes:
    """The folder as a .zip, with `extra_course_toml` appended to its top-level course.toml."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                if path.name == "course.toml" and path.parent == folder:
                    data += extra_course_toml.encode()
                archive.writestr(path.relative_to(folder).as_posix(), data)
    return buffer.getvalue()


async def import_sample(sandbox: DiscordSandbox, *, publish: bool = True) -> Reply:
    return await sandbox.slash(
        "teach course import",
        user=sandbox.instructor,
        package=sandbox.attachment("python-basics.zip", zip_folder(SAMPLE)),
        publish=publish,
    )


async def enrolled_member(sandbox: DiscordSandbox, username: str, *, nick: str | None = None) -> dict[str, Any]:
    """A new member of the guild, enrolled in the sample course (PY101, imported by the `classroom` fixture)."""
    member = await sandbox.add_member(username, nick=nick)
    await sandbox.slash("course enroll", course="PY101", user=member)
    return member
