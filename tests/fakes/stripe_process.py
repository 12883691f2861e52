"""The fake Stripe in a child process of its own, for loads where it must not compete with the
test's own code for the GIL (the capture benchmark, the whole-system fault scenarios)."""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from tests.fakes.fake_stripe import Endpoint, FakeStripe, LedgerEntry


class FakeStripeProcess:
    """Started by `with`; point the service at `url` with `FAKE_API_KEY`, then read `ledger()`."""

    def __init__(self) -> None:
        spawn = multiprocessing.get_context("spawn")
        self._conn, child = spawn.Pipe()
        self._process = spawn.Process(target=_serve, args=(child,), daemon=True)
        self.url = ""

    def __enter__(self) -> FakeStripeProcess:
        self._process.start()
        self.url = self._ask("url")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._conn.send(("stop",))
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()

    def ledger(self) -> list[LedgerEntry]:
        """Every authorization, capture and void the fake applied, in order."""
        entries: list[LedgerEntry] = self._ask("ledger")
        return entries

    def add_payment_intents(self, count: int, *, amount: int) -> list[str]:
        """`count` intents authorized outside the provider, in `requires_capture`."""
        ids: list[str] = self._ask("add", count, amount)
        return ids

    def hang_after_apply_next(self, n: int, *, seconds: float, endpoint: Endpoint) -> None:
        """See `FakeStripe.hang_after_apply_next`: applied, then the answer held back."""
        self._ask("hang_after_apply", n, seconds, endpoint)

    def hanging(self) -> int:
        """Requests applied and holding back their answer right now."""
        count: int = self._ask("hanging")
        return count

    def _ask(self, *command: Any) -> Any:
        self._conn.send(command)
        return self._conn.recv()


def _serve(conn: Connection) -> None:
    with FakeStripe() as fake:
        while True:
            command, *args = conn.recv()
            if command == "stop":
                return
            if command == "url":
                conn.send(fake.url)
            elif command == "ledger":
                conn.send(fake.ledger)
            elif command == "add":
                count, amount = args
                conn.send([fake.add_payment_intent(amount=amount) for _ in range(count)])
            elif command == "hang_after_apply":
                n, seconds, endpoint = args
                fake.hang_after_apply_next(n, seconds, endpoint=endpoint)
                conn.send(None)
            elif command == "hanging":
                conn.send(fake.hanging)
