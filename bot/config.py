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

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
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
    # With no embedding model configured, embed with the small model inside the bot (`bot.tutor.embeddings`).
    offline_embeddings: bool = True
    # Re-embedding a course for a new embedding model: chunks per batch, and minutes between batches.
    reembed_batch_size: int = Field(64, ge=1, le=2048)
    reembed_every_minutes: int = Field(1, ge=1)


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
    reminders_plan_batch_size: int = Field(250, ge=1, le=5000)
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
    member_check_days: int = Field(7, ge=1, le=90)
    prepare_routes_minutes: int = Field(5, ge=1, le=60)


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


class ReviewSettings(Section):
    """Spaced repetition (docs/reviews.md): the FSRS scheduler's knobs and what a review session may earn."""

    session_cards: int = Field(20, ge=1, le=200)
    desired_retention: float = Field(0.9, gt=0.5, lt=1.0)
    maximum_interval_days: int = Field(365, ge=1, le=36500)
    fuzz: bool = True
    xp_per_review: int = Field(2, ge=0)
    daily_xp_cap: int = Field(20, ge=0)
    practice_session_questions: int = Field(10, ge=1, le=100)


class HumanLoopSettings(Section):
    reannounce_after_minutes: int = Field(30, ge=1, le=1440)
    max_pending_submissions: int = Field(3, ge=1, le=50)
    submissions_per_day: int = Field(5, ge=1, le=100)
    max_submission_bytes: int = Field(5_000_000, ge=1, le=25_000_000)
    submission_xp: int = Field(25, ge=0, le=10_000)
    feedback_per_hour: int = Field(5, ge=1, le=100)


class ClusterSettings(Section):
    """Which of the bot's shards this process runs, and where it sends REST calls (docs/deploy.md).

    Unset, the process runs every shard Discord recommends. Either `shards` (explicit ids) or `cluster` of
    `clusters` (the shards `range(cluster, shard_count, clusters)`) runs part of them, beside other processes.
    """

    shard_count: int | None = Field(None, ge=1)
    shards: list[int] = []
    cluster: int | None = Field(None, ge=0)
    clusters: int | None = Field(None, ge=1)
    # A shared rate-limit proxy (nirn-proxy) in front of Discord's API, e.g. "http://127.0.0.1:8080/api/v10";
    # empty for Discord's own.
    discord_api_base_url: str = Field("", pattern=r"^$|^https?://\S+$")

    @model_validator(mode="after")
    def _one_consistent_plan(self) -> ClusterSettings:
        if (self.cluster is None) != (self.clusters is None):
            raise ValueError("set both cluster and clusters, or neither")
        if self.cluster is not None and self.shards:
            raise ValueError("set either shards or cluster/clusters, not both")
        if (self.shards or self.cluster is not None) and self.shard_count is None:
            raise ValueError("shards and cluster/clusters need shard_count (the same in every process)")
        if self.cluster is not None and self.clusters is not None and self.cluster >= self.clusters:
            raise ValueError(f"cluster must be below clusters ({self.clusters})")
        if self.shard_count is not None and any(not 0 <= shard < self.shard_count for shard in self.shards):
            raise ValueError(f"every shard must be between 0 and shard_count - 1 ({self.shard_count - 1})")
        return self

    def shard_ids(self) -> list[int] | None:
        """This process's shards, or None for all of them."""
        if self.cluster is not None and self.clusters is not None and self.shard_count is not None:
            return list(range(self.cluster, self.shard_count, self.clusters))
        return sorted(set(self.shards)) or None

    def one_of_several(self) -> bool:
        """Whether other processes run the remaining shards."""
        shard_ids = self.shard_ids()
        return shard_ids is not None and self.shard_count is not None and len(shard_ids) < self.shard_count


class MetricsSettings(Section):
    """The Prometheus endpoint (`/metrics`) and the health check (`/health`) of `coursebot run`."""

    enabled: bool = False
    host: str = "127.0.0.1"
    # A process running `cluster` K of several listens on port + K.
    port: int = Field(9464, ge=1, le=65535)


class AnalyticsSettings(Section):
    """Class analytics for staff; docs/analytics.md defines every figure."""

    # How often the job looks for a course day to write and a Monday digest to plan (each is done once).
    every_minutes: int = Field(60, ge=1, le=1440)
    # Students at risk: no activity in the course for this many days.
    inactive_days: int = Field(7, ge=1, le=365)
    # Students at risk: this many percentage points behind their cohort's pace (progress vs. its time used).
    behind_pace_points: int = Field(20, ge=0, le=100)
    # Local hour (guild time zone) on Mondays from which the weekly digest goes to each course's staff.
    digest_hour: int = Field(8, ge=0, le=23)


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
    analytics: AnalyticsSettings = AnalyticsSettings()
    cluster: ClusterSettings = ClusterSettings()
    metrics: MetricsSettings = MetricsSettings()
    reviews: ReviewSettings = ReviewSettings()
    human: HumanLoopSettings = HumanLoopSettings()

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
