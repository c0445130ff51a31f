"""Settings come from config.toml and the environment; a bad value stops start-up and names the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def test_the_shipped_config_file_matches_the_defaults() -> None:
    shipped = load_settings(Path(__file__).parent.parent / "config.toml")
    assert shipped.model_dump(exclude={"discord_token", "openai_api_key", "secret_key"}) == load_settings(
        Path("/nonexistent.toml")
    ).model_dump(exclude={"discord_token", "openai_api_key", "secret_key"})


def test_environment_overrides_the_file_and_secrets_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "sqlite+aiosqlite:///file.db"\npool_size = 3\n')
    monkeypatch.setenv("COURSEBOT_DATABASE__POOL_SIZE", "9")
    monkeypatch.setenv("DISCORD_TOKEN", "token-value")
    settings = load_settings(config)
    assert settings.database.url == "sqlite+aiosqlite:///file.db"
    assert settings.database.pool_size == 9
    assert settings.discord_token is not None and settings.discord_token.get_secret_value() == "token-value"
    assert "token-value" not in repr(settings)


def test_a_bad_value_names_the_key_and_the_expected_form(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[tutor]\nmax_open_threads = 5000\n[logging]\nlevel = "LOUD"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert "tutor.max_open_threads" in message and "1000" in message
    assert "logging.level" in message and "'DEBUG'" in message


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[database]\nurll = 'typo'\n")
    with pytest.raises(ConfigError, match=r"database\.urll"):
        load_settings(config)


def test_the_cli_exits_non_zero_on_an_invalid_value(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[database]\npool_size = 'many'\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "db", "check"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "database.pool_size" in result.stderr


def test_db_upgrade_creates_the_schema_and_check_reports_it_clean(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "new" / "bot.db"}"\n')

    def coursebot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(config), *args], capture_output=True, text=True
        )

    before = coursebot("db", "check")
    assert before.returncode == 1 and "Pending migrations" in before.stdout
    assert coursebot("db", "upgrade").returncode == 0
    after = coursebot("db", "check")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "clean" in after.stdout
