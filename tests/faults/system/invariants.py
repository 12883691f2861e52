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


@dataclass(frozen=True)
class LedgerRow:
    reference: str
    kind: str  # authorize, capture, cancel
    amount: int
    at: datetime


@dataclass
class Report:
    checkouts: int = 0
    orders: int = 0
    captured: int = 0
    canceled: int = 0
    flagged: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    early: list[str] = field(default_factory=list)
    wrong_amount: list[str] = field(default_factory=list)
    still_flagged: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.doubled or self.early or self.wrong_amount or self.still_flagged
        )


def check(
    checkouts: int, placed: list[str], orders: list[OrderRow], ledger: list[LedgerRow]
) -> Report:
    """`placed`: the order ids `complete` answered. Every one must exist, end captured exactly
    once with its total and not before its due time, or canceled without a capture; none may
    stay flagged."""
    report = Report(checkouts=checkouts, orders=len(orders))
    by_id = {o.id: o for o in orders}
    captures: dict[str, list[LedgerRow]] = {}
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
        else:
            report.lost.append(order.id)  # neither captured nor canceled at quiescence
        if order.flagged:
            report.still_flagged.append(order.id)
    report.flagged = len(report.still_flagged)
    duplicates = [oid for oid, n in Counter(placed).items() if n > 1]
    report.doubled += duplicates
    return report
