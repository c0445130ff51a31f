"""The quick start as a newcomer meets it: `coursebot console` driven by a piped script, and the course CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE = ROOT / "content" / "python-basics"


def coursebot(tmp_path: Path, *args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.toml"
    if not config.exists():
        config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "bot.db"}"\n')
    environment = {**os.environ, "COURSEBOT_CONFIG": str(config)}
    environment.pop("DISCORD_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=script,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One scripted console session: a student sets a time zone, tries an admin command, takes the course."""
    script = "\n".join(
        [
            "/profile timezone zone:Europe/Paris",
            "/admin setup",
            "/course enroll course:PY101",
            "/lesson next",
            "/lesson next",
            "/lesson next",
            "/course progress",
            "/quiz start quiz:first-steps-check",
            "as instructor",
            "/teach course export course:PY101",
        ]
    )
    result = coursebot(tmp_path_factory.mktemp("console"), "console", script=script)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_console_imports_the_sample_course_on_first_start(demo: str) -> None:
    assert "imported the sample course" in demo


def test_the_console_answers_a_student_and_refuses_an_admin_command(demo: str) -> None:
    assert "Your days now follow **Europe/Paris**" in demo
    assert "Only members with the admin level can use this" in demo


def test_a_newcomer_enrolls_reads_three_lessons_and_sees_progress(demo: str) -> None:
    assert "Welcome to PY101" in demo
    for title in ("What is Python?", "Running code", "Variables"):
        assert title in demo
    assert "Overall: ▰" in demo and "2/11" in demo
    assert "question 1/5" in demo and "[1: A]" in demo
    assert "(file) py101.zip" in demo


def test_run_without_a_token_points_at_the_console(tmp_path: Path) -> None:
    result = coursebot(tmp_path, "run")
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr and "coursebot console" in result.stderr


def test_course_validate_import_export_round_trip(tmp_path: Path) -> None:
    assert coursebot(tmp_path, "course", "validate", str(SAMPLE)).returncode == 0
    imported = coursebot(tmp_path, "course", "import", str(SAMPLE), "--guild", "42", "--publish")
    assert imported.returncode == 0 and "Created PY101" in imported.stdout
    again = coursebot(tmp_path, "course", "import", str(SAMPLE), "--guild", "42")
    assert "0 new revision(s), 11 unchanged" in again.stdout
    exported = coursebot(tmp_path, "course", "export", "PY101", str(tmp_path / "out"), "--guild", "42")
    assert exported.returncode == 0
    assert coursebot(tmp_path, "course", "validate", str(tmp_path / "out")).returncode == 0


def test_course_validate_lists_every_problem_with_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "course.toml").write_text('code = "PY1"\ntitle = "x"\npassing_score = 300\n')
    result = coursebot(tmp_path, "course", "validate", str(broken))
    assert result.returncode == 1
    assert "course.toml:3" in result.stderr and "modules" in result.stderr
