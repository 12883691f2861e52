"""Event subscribers, registered on the bus when the service is wired."""

from __future__ import annotations

from typing import TYPE_CHECKING

from surecapture.events import ORDER_PLACED
from surecapture.subscribers.order_placed import OrderPlacedSubscriber

if TYPE_CHECKING:
    from surecapture.context import Context


def register_subscribers(context: Context) -> None:
    context.bus.subscribe(ORDER_PLACED, OrderPlacedSubscriber(context.queue, context.orders))
