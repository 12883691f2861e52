"""Settings, read from the environment and `.env`.

Bad configuration fails at start-up with one line naming the setting (`SettingsError`).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from croniter import croniter
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from surecapture.lib.redis import RedisSettings, check_redis_url


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_connect_timeout: float = Field(0.2, gt=0, le=30)
    redis_read_timeout: float = Field(0.3, gt=0, le=30)
    redis_retries: int = Field(1, ge=0, le=5)
    redis_breaker_cooldown_seconds: float = Field(5.0, gt=0, le=600)
    queue_prefix: str = Field("bull", pattern=r"^[A-Za-z0-9_.-]+$")
    capture_attempts: int = Field(3, ge=1, le=25)
    capture_backoff_ms: int = Field(1000, ge=0)
    worker_concurrency: int = Field(10, ge=1, le=1000)
    worker_lock_seconds: int = Field(60, ge=2, le=3600)
    posthog_api_key: str | None = None
    posthog_host: str | None = None
    fallback_stale_after_seconds: int = Field(120, ge=0)
    fallback_batch_size: int = Field(1000, ge=1, le=10_000)
    fallback_failed_retries: int = Field(3, ge=0, le=100)
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    stripe_timeout_seconds: float = Field(10.0, gt=0, le=120)
    capture_window_seconds: int = Field(3600, ge=1)
    capture_buffer_seconds: int = Field(30, ge=0)
    fallback_cron: str = "*/5 * * * *"
    admin_api_token: str | None = None
    publishable_api_key: str | None = Field(None, pattern=r"^pk_[0-9a-f]{64}$")
    store_cors: Annotated[list[str], NoDecode] = ["http://localhost:8000", "http://localhost:3000"]
    host: str = "127.0.0.1"
    port: int = Field(9000, ge=1, le=65535)
    metrics_port: int | None = Field(None, ge=1, le=65535)
    log_level: str = "INFO"
    data_dir: str = ".surecapture"

    @field_validator("store_cors", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """Accept the usual `postgres://`/`postgresql://` forms and pin the asyncpg driver."""
        if value is None or value == "":
            return None
        for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
            if value.startswith(prefix):
                return _asyncpg_query("postgresql+asyncpg://" + value[len(prefix) :])
        raise ValueError("must be a postgresql:// URL")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        check_redis_url(value)
        return value

    @field_validator("fallback_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError("not a valid cron expression")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper

    @property
    def redis(self) -> RedisSettings:
        return RedisSettings(
            url=self.redis_url,
            connect_timeout=self.redis_connect_timeout,
            read_timeout=self.redis_read_timeout,
            retries=self.redis_retries,
        )

    @property
    def capture_delay_seconds(self) -> int:
        """Seconds from order placement until capture is due (window minus safety buffer)."""
        return max(self.capture_window_seconds - self.capture_buffer_seconds, 0)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's multi-line report into one line per bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise SettingsError(f"Invalid setting {name}: {first['msg']}") from None


def _asyncpg_query(url: str) -> str:
    """libpq's `sslmode=` (as managed Postgres services hand it out) is asyncpg's `ssl=`, which
    takes the same modes; asyncpg refuses `sslmode` as an unknown argument."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name == "sslmode" for name, _ in query):
        return url
    renamed = [("ssl" if name == "sslmode" else name, v) for name, v in query]
    return urlunsplit(parts._replace(query=urlencode(renamed)))
