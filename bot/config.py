"""Typed settings: `config.toml` first, then environment variables for secrets and overrides.

Precedence (highest first): environment (`COURSEBOT_<SECTION>__<KEY>`, plus `DISCORD_TOKEN`,
`OPENAI_API_KEY`, `COURSEBOT_SECRET_KEY`), then the TOML file, then the defaults below.
"""

from __future__ import annotations

import logging
import os
import tomllib
from contextlib import suppress
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("config.toml")


class Section(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///data/coursebot.db"
    pool_size: int = Field(5, ge=1)
    max_overflow: int = Field(10, ge=0)
    auto_migrate: bool = False
    echo: bool = False
    # Every wait on the database is bounded; config.toml says what each bound covers.
    connect_timeout_seconds: float = Field(5.0, gt=0)
    statement_timeout_seconds: float = Field(2.0, gt=0)
    pool_timeout_seconds: float = Field(10.0, gt=0)
    interaction_timeout_seconds: float = Field(10.0, gt=0)


class DiscordSettings(Section):
    dev_guild_ids: list[int] = []
    sync_globally: bool = False


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"
    # At DEBUG, also what goes over the wire: Discord gateway frames and REST bodies, SQL calls, LLM requests.
    wire_debug: bool = False


class LLMSettings(Section):
    base_url: str = "https://api.openai.com/v1"
    chat_model: str = ""
    embedding_model: str = ""
    embedding_dimensions: int = Field(1536, ge=1, le=16000)
    timeout_seconds: float = Field(30.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)


class TutorSettings(Section):
    max_input_chars: int = Field(1500, ge=1)
    rate_limit_per_minute: int = Field(6, ge=1)
    daily_token_budget: int = Field(200_000, ge=0)
    inactivity_minutes: int = Field(60, ge=1)
    max_open_threads: int = Field(200, ge=1, le=1000)
    # One tutor answer from the model, the SDK's retries included, ends within this many seconds.
    answer_deadline_seconds: float = Field(60.0, gt=0, le=600)


class XPSettings(Section):
    lesson_completed: int = Field(10, ge=0)
    correct_first_try: int = Field(5, ge=0)
    quiz_passed: int = Field(50, ge=0)
    streak_milestones: dict[int, int] = {7: 25, 30: 100, 100: 500}


class StreakSettings(Section):
    freeze_every_days: int = Field(7, ge=1)
    max_freezes: int = Field(2, ge=0)


class LeaderboardSettings(Section):
    page_size: int = Field(10, ge=1, le=25)


class SchedulerSettings(Section):
    reminders_every_minutes: int = Field(1, ge=1)
    send_every_seconds: int = Field(30, ge=1)
    quiz_sweep_every_minutes: int = Field(60, ge=1)
    tutor_inactivity_every_minutes: int = Field(10, ge=1)
    privacy_every_minutes: int = Field(60, ge=1)


# "HH:MM-HH:MM" (may wrap past midnight), or empty for none; parsed by `bot.services.reminders.parse_quiet_hours`.
QUIET_HOURS_PATTERN = r"^$|^([01]?\d|2[0-3]):[0-5]\d-([01]?\d|2[0-3]):[0-5]\d$"


class ReminderSettings(Section):
    send_concurrency: int = Field(5, ge=1, le=50)
    claim_batch_size: int = Field(200, ge=1, le=5000)
    retry_delay_seconds: int = Field(60, ge=1)
    streak_nudge_hour: int = Field(20, ge=0, le=23)
    default_quiet_hours: str = Field("", pattern=QUIET_HOURS_PATTERN)


class PrivacySettings(Section):
    """How long what is no longer needed is kept; docs/privacy.md explains each."""

    # The streak calendar reads the last 28 days of activity: a shorter window would blank it.
    activity_days: int = Field(365, ge=30)
    tutor_conversation_days: int = Field(180, ge=1)
    notification_days: int = Field(30, ge=1)
    guild_grace_days: int = Field(30, ge=0)
    tombstone_days: int = Field(35, ge=1)
    export_every_hours: int = Field(24, ge=0)
    batch_size: int = Field(500, ge=1, le=10_000)


class Settings(BaseSettings):
    """Every setting of the bot. Build it with `load_settings()`."""

    model_config = SettingsConfigDict(env_prefix="COURSEBOT_", env_nested_delimiter="__", extra="forbid")

    database: DatabaseSettings = DatabaseSettings()
    discord: DiscordSettings = DiscordSettings()
    logging: LoggingSettings = LoggingSettings()
    llm: LLMSettings = LLMSettings()
    tutor: TutorSettings = TutorSettings()
    xp: XPSettings = XPSettings()
    streaks: StreakSettings = StreakSettings()
    leaderboard: LeaderboardSettings = LeaderboardSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    reminders: ReminderSettings = ReminderSettings()
    privacy: PrivacySettings = PrivacySettings()

    discord_token: SecretStr | None = Field(None, validation_alias=AliasChoices("DISCORD_TOKEN"))
    openai_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    # Fernet key that encrypts stored secrets (LLM API keys) at rest.
    secret_key: SecretStr | None = Field(None, validation_alias=AliasChoices("COURSEBOT_SECRET_KEY"))

    def secret_values(self) -> list[str]:
        """The plain values of the secrets set here (tokens, keys, the database password): never to be logged."""
        secrets = [self.discord_token, self.openai_api_key, self.secret_key]
        values = [secret.get_secret_value() for secret in secrets if secret is not None]
        with suppress(ArgumentError, ValueError):
            if password := make_url(self.database.url).password:
                values.append(str(password))
        return [value for value in values if value]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file is chosen per load: `load_settings` puts its path in `model_config["toml_file"]`.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


class ConfigError(Exception):
    """The configuration cannot be used; the message names each key and the expected form."""


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from `path` (default: $COURSEBOT_CONFIG or ./config.toml) and the environment.

    A missing file falls back to the defaults with a log line; a bad value raises `ConfigError`.
    """
    config_path = path or Path(os.environ.get("COURSEBOT_CONFIG", str(DEFAULT_CONFIG_PATH)))
    if not config_path.exists():
        log.warning("No configuration file at %s; using the defaults and the environment", config_path)
    settings_cls = type("Settings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": config_path}})
    try:
        return settings_cls(**overrides)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, config_path)) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{config_path}: not valid TOML ({error})") from None


def describe_validation_error(error: ValidationError, config_path: Path) -> str:
    lines = [f"Invalid configuration ({config_path} and COURSEBOT_* environment variables):"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        given = problem.get("input")
        shown = "" if isinstance(given, dict) else f" (got {given!r})"
        lines.append(f"  {key}: {problem['msg']}{shown}")
    return "\n".join(lines)
