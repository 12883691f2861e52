"""A test's own subscriber on the app's event bus, for the length of a `with` block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from surecapture.context import Context
from surecapture.events import ORDER_PLACED, Handler


@contextmanager
def on_order_placed(context: Context, handler: Handler) -> Iterator[None]:
    context.bus.subscribe(ORDER_PLACED, handler)
    try:
        yield
    finally:
        context.bus.unsubscribe(ORDER_PLACED, handler)
