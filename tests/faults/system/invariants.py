"""The invariants of design.md, checked against what Postgres and the payment ledger say.

Pure: it reads rows, so the checker itself is tested on a made-up ledger (one double capture,
one lost order) as well as used on the real system.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class OrderRow:
    id: str
    reference: str
    total: int
    payment_status: str
    capture_due_at: datetime
    flagged: bool
    cart_id: str = ""
    whole: bool = True  # has its line items and its payment: not half-written


@dataclass(frozen=True)
class LedgerRow:
    reference: str
    kind: str  # authorize, capture, cancel (the authorization voided)
    amount: int
    at: datetime


@dataclass
class Report:
    checkouts: int = 0
    orders: int = 0
    captured: int = 0
    canceled: int = 0
    flagged: int = 0  # orders the API flagged during the run (its metrics)
    recovered: int = 0  # recoveries PostHog heard of (redis_recovery_triggered)
    outage_impact: int = 0  # redis_outage_impact at the end
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    early: list[str] = field(default_factory=list)
    wrong_amount: list[str] = field(default_factory=list)
    still_flagged: list[str] = field(default_factory=list)
    half_written: list[str] = field(default_factory=list)
    unvoided: list[str] = field(default_factory=list)  # canceled, the card still held
    orphaned: list[str] = field(default_factory=list)  # authorizations no order points to

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.doubled
            or self.early
            or self.wrong_amount
            or self.still_flagged
            or self.half_written
            or self.unvoided
            or self.orphaned
            or self.outage_impact
            or self.recovered != self.flagged
        )

    def line(self, name: str, p99_ms: float, p99_outside_ms: float) -> str:
        return (
            f"[{name}] checkouts {self.checkouts}, orders {self.orders}, captured "
            f"{self.captured}, canceled {self.canceled}, flagged {self.flagged}, recovered "
            f"{self.recovered}, lost {len(self.lost)}, doubled {len(self.doubled)}, "
            f"p99 complete during the fault {p99_ms:.0f} ms (outside it {p99_outside_ms:.0f} ms)"
        )


def check(
    checkouts: int, placed: list[str], orders: list[OrderRow], ledger: list[LedgerRow]
) -> Report:
    """`placed`: the order ids `complete` answered. Every one must exist whole, end captured
    exactly once with its total and not before its due time, or canceled with its authorization
    voided and no capture; none may stay flagged; no cart may have two orders, and no card may
    be authorized for an order that does not exist."""
    report = Report(checkouts=checkouts, orders=len(orders))
    by_id = {o.id: o for o in orders}
    captures: dict[str, list[LedgerRow]] = {}
    voided = {row.reference for row in ledger if row.kind == "cancel"}
    for row in ledger:
        if row.kind == "capture":
            captures.setdefault(row.reference, []).append(row)
    report.lost += [oid for oid in placed if oid not in by_id]
    for order in orders:
        taken = captures.get(order.reference, [])
        if len(taken) > 1:
            report.doubled.append(order.id)
        if order.payment_status == "captured":
            report.captured += 1
            if not taken:
                report.lost.append(order.id)
            elif any(c.amount != order.total for c in taken):
                report.wrong_amount.append(order.id)
            if any(c.at < order.capture_due_at for c in taken):
                report.early.append(order.id)
        elif order.payment_status == "canceled":
            report.canceled += 1
            if taken:
                report.doubled.append(order.id)  # charged although canceled
            if order.reference not in voided:
                report.unvoided.append(order.id)
        else:
            report.lost.append(order.id)  # neither captured nor canceled at quiescence
        if order.flagged:
            report.still_flagged.append(order.id)
        if not order.whole:
            report.half_written.append(order.id)
    report.doubled += [oid for oid, n in Counter(placed).items() if n > 1]
    per_cart = Counter(o.cart_id for o in orders if o.cart_id)
    report.doubled += [o.id for o in orders if o.cart_id and per_cart[o.cart_id] > 1]
    references = {o.reference for o in orders}
    report.orphaned += [
        r.reference for r in ledger if r.kind == "authorize" and r.reference not in references
    ]
    return report
