import pytest

from surecapture.config import SettingsError, load_settings


def test_postgres_urls_get_the_async_driver() -> None:
    settings = load_settings(database_url="postgres://u@h:5432/db")
    assert settings.database_url == "postgresql+asyncpg://u@h:5432/db"


def test_libpq_sslmode_becomes_asyncpgs_ssl() -> None:
    settings = load_settings(database_url="postgres://u:p@h:5432/db?sslmode=require&x=1")
    assert settings.database_url == "postgresql+asyncpg://u:p@h:5432/db?ssl=require&x=1"


def test_bad_setting_fails_with_one_line_naming_it() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(capture_window_seconds=0)
    message = str(caught.value)
    assert message.startswith("Invalid setting CAPTURE_WINDOW_SECONDS:")
    assert "\n" not in message


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPTURE_WINDOW_SECONDS", "120")
    monkeypatch.setenv("CAPTURE_BUFFER_SECONDS", "20")
    monkeypatch.setenv("STORE_CORS", "http://a.test, http://b.test")
    settings = load_settings()
    assert settings.capture_delay_seconds == 100
    assert settings.store_cors == ["http://a.test", "http://b.test"]


def test_malformed_number_in_environment_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPTURE_WINDOW_SECONDS", "soon")
    with pytest.raises(SettingsError, match="CAPTURE_WINDOW_SECONDS"):
        load_settings()


def test_derived_values_follow_a_copy() -> None:
    """Derived settings are computed, never cached: a copy with new values must not keep old ones."""
    base = load_settings(capture_window_seconds=3600, redis_url="redis://a:1/0")
    assert (base.capture_delay_seconds, base.redis.url) == (3570, "redis://a:1/0")
    copy = base.model_copy(
        update={
            "capture_window_seconds": 2,
            "capture_buffer_seconds": 0,
            "redis_url": "redis://b:2/0",
        }
    )
    assert (copy.capture_delay_seconds, copy.redis.url) == (2, "redis://b:2/0")
