from datetime import UTC, datetime, timedelta

from tests.faults.system.invariants import LedgerRow, OrderRow, check

DUE = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def order(oid: str, status: str = "captured") -> OrderRow:
    return OrderRow(oid, f"ref_{oid}", 4798, status, DUE, flagged=False)


def capture(oid: str, amount: int = 4798, at: datetime = DUE + timedelta(seconds=1)) -> LedgerRow:
    return LedgerRow(f"ref_{oid}", "capture", amount, at)


def void(oid: str) -> LedgerRow:
    return LedgerRow(f"ref_{oid}", "cancel", 4798, DUE - timedelta(seconds=1))


def test_a_clean_run_passes() -> None:
    report = check(
        3,
        ["a", "b", "c"],
        [order("a"), order("b"), order("c", "canceled")],
        [capture("a"), capture("b"), void("c")],
    )
    assert report.ok
    assert (report.captured, report.canceled, report.lost, report.doubled) == (2, 1, [], [])


def test_a_double_capture_and_a_lost_order_are_caught() -> None:
    report = check(
        3,
        ["a", "b", "c"],
        [order("a"), order("b", "authorized")],
        [capture("a"), capture("a")],
    )
    assert not report.ok
    assert report.doubled == ["a"]
    assert sorted(report.lost) == ["b", "c"]


def test_early_wrong_amount_charged_cancel_and_stuck_flag_are_caught() -> None:
    flagged = OrderRow("d", "ref_d", 4798, "captured", DUE, flagged=True)
    report = check(
        4,
        ["a", "b", "c", "d"],
        [order("a"), order("b"), order("c", "canceled"), flagged],
        [
            capture("a", at=DUE - timedelta(seconds=1)),
            capture("b", amount=1),
            capture("c"),
            void("c"),
            capture("d"),
        ],
    )
    assert (report.early, report.wrong_amount, report.doubled, report.still_flagged) == (
        ["a"],
        ["b"],
        ["c"],
        ["d"],
    )


def test_a_half_written_order_and_two_orders_for_one_cart_are_caught() -> None:
    bare = OrderRow("a", "ref_a", 4798, "captured", DUE, flagged=False, cart_id="c1", whole=False)
    twin = OrderRow("b", "ref_b", 4798, "captured", DUE, flagged=False, cart_id="c1")
    report = check(2, ["a", "b"], [bare, twin], [capture("a"), capture("b")])
    assert not report.ok
    assert report.half_written == ["a"]
    assert report.doubled == ["a", "b"]


def test_flags_left_in_the_metrics_or_unheard_recoveries_fail_the_run() -> None:
    report = check(1, ["a"], [order("a")], [capture("a")])
    assert report.ok
    report.flagged, report.recovered = 3, 2
    assert not report.ok
    report.recovered, report.outage_impact = 3, 1
    assert not report.ok


def test_a_cancel_that_left_the_card_held_and_an_authorization_without_order_are_caught() -> None:
    stray = LedgerRow("ref_x", "authorize", 4798, DUE)
    report = check(1, ["a"], [order("a", "canceled")], [stray])
    assert not report.ok
    assert (report.unvoided, report.orphaned) == (["a"], ["ref_x"])
