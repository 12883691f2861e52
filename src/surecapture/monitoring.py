"""What the service tells its operators about Redis outages, in its own logs.

`OutageLog` keeps an outage to one error line: the first failure logs at error level with the
full message, each further failure one warning line, and the first success afterwards says that
Redis is back. `FlagRateAlert` logs a CRITICAL alert when more than `threshold` orders were
flagged within `window` seconds, for users who have no Prometheus alerting.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from surecapture.errors import RedisUnavailable

log = logging.getLogger("surecapture.redis_outage")


class OutageLog:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since: float | None = None
        self._flagged = 0

    @property
    def in_outage(self) -> bool:
        return self._since is not None

    def failed(self, order_id: str, failure: RedisUnavailable) -> None:
        cause = failure.__cause__ or failure
        detail = f"{type(cause).__name__}, errno={failure.errno or 'none'}, kind={failure.kind}"
        self._flagged += 1
        if self._since is None:
            self._since = self._clock()
            log.error(
                "[CRITICAL][DLQ] Redis unavailable: capture of order %s not scheduled, order "
                "flagged needs_recovery (%s): %s",
                order_id,
                detail,
                cause,
            )
        else:
            log.warning(
                "[CRITICAL][DLQ] Redis still unavailable: order %s flagged needs_recovery "
                "(%s; %d orders flagged in this outage)",
                order_id,
                detail,
                self._flagged,
            )

    def succeeded(self) -> None:
        if self._since is None:
            return
        lasted = self._clock() - self._since
        log.warning(
            "Redis is back after %.1f s; %d orders flagged during the outage will be recovered "
            "by the fallback capture job",
            lasted,
            self._flagged,
        )
        self._since = None
        self._flagged = 0


class FlagRateAlert:
    def __init__(
        self,
        *,
        threshold: int = 10,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self._clock = clock
        self._times: deque[float] = deque()
        self._firing = False

    def record(self) -> None:
        now = self._clock()
        self._times.append(now)
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) > self.threshold:
            if not self._firing:
                self._firing = True
                log.critical(
                    "[ALERT] %d orders flagged needs_recovery within %d minutes: Redis outage "
                    "is affecting checkouts",
                    len(self._times),
                    round(self.window / 60),
                )
        else:
            self._firing = False
