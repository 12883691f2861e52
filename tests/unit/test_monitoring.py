import errno
import logging

import pytest

from surecapture.errors import RedisUnavailable
from surecapture.monitoring import FlagRateAlert, OutageLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def failure() -> RedisUnavailable:
    failure = RedisUnavailable("Redis unavailable (refused)", kind="refused", errno="ECONNREFUSED")
    failure.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    return failure


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


def test_an_outage_logs_one_error_then_warnings_then_back(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = OutageLog(clock)
    for n in range(100):
        outage.failed(f"order_{n}", failure())
    clock.now = 42.0
    outage.succeeded()
    outage.succeeded()
    dlq = lines(caplog, "[CRITICAL][DLQ]")
    assert [r.levelno for r in dlq] == [logging.ERROR] + [logging.WARNING] * 99
    assert "order_0" in dlq[0].getMessage()
    assert "ConnectionRefusedError" in dlq[0].getMessage()
    assert "ECONNREFUSED" in dlq[0].getMessage()
    back = lines(caplog, "Redis is back")
    assert len(back) == 1
    assert "42.0 s" in back[0].getMessage() and "100 orders" in back[0].getMessage()


@pytest.mark.parametrize(("flagged", "alerts"), [(10, 0), (11, 1), (30, 1)])
def test_alert_when_more_than_ten_flagged_within_five_minutes(
    caplog: pytest.LogCaptureFixture, flagged: int, alerts: int
) -> None:
    clock = Clock()
    alert = FlagRateAlert(clock=clock)
    for _ in range(flagged):
        alert.record()
        clock.now += 1
    found = lines(caplog, "[ALERT]")
    assert len(found) == alerts
    assert all(r.levelno == logging.CRITICAL for r in found)


def test_flags_spread_beyond_the_window_do_not_alert(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    alert = FlagRateAlert(clock=clock)
    for _ in range(30):
        alert.record()
        clock.now += 31  # ten flags span 279 s; the eleventh lands after the first left
    assert lines(caplog, "[ALERT]") == []


def test_alert_rearms_after_the_window_drains(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    alert = FlagRateAlert(clock=clock)
    for _ in range(11):
        alert.record()
    clock.now += 301
    alert.record()
    for _ in range(10):
        alert.record()
    assert len(lines(caplog, "[ALERT]")) == 2
