from datetime import UTC, datetime, timedelta

import pytest

from surecapture.jobs.fallback_capture import Action, Candidate, decide, decide_failed, due_time
from surecapture.lib.payment_capture_queue import JobState

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def order(
    status: str = "authorized", *, flagged: bool = True, retries: int = 0, due_in: int = 60
) -> Candidate:
    return Candidate(
        id="order_1",
        payment_status=status,
        reference="ref",
        capture_due_at=NOW + timedelta(seconds=due_in),
        created_at=NOW - timedelta(minutes=10),
        flagged=flagged,
        reason="redis_failure",
        retries=retries,
    )


@pytest.mark.parametrize(
    ("status", "flagged", "state", "action"),
    [
        ("authorized", True, JobState.MISSING, Action.ADD),
        (
            "authorized",
            True,
            JobState.DELAYED,
            Action.CHANGE_DELAY,
        ),  # the add got through after all
        ("authorized", True, JobState.WAITING, Action.CLEAR),
        ("authorized", True, JobState.ACTIVE, Action.CLEAR),
        ("authorized", True, JobState.COMPLETED, Action.READD),  # BullMQ would ignore a re-add
        ("authorized", True, JobState.FAILED, Action.READD),
        ("captured", True, JobState.COMPLETED, Action.CLEAR),
        ("captured", True, JobState.MISSING, Action.CLEAR),
        ("canceled", True, JobState.MISSING, Action.CLEAR),
        ("authorized", False, JobState.MISSING, Action.ADD),  # stale: lost its job
        ("authorized", False, JobState.DELAYED, Action.SKIP),  # healthy: leave it alone
        ("authorized", False, JobState.WAITING, Action.SKIP),
        ("authorized", False, JobState.COMPLETED, Action.READD),
        ("captured", False, JobState.MISSING, Action.SKIP),
    ],
)
def test_decide(status: str, flagged: bool, state: JobState, action: Action) -> None:
    assert decide(order(status, flagged=flagged), state) is action


@pytest.mark.parametrize(
    ("retries", "state", "action"),
    [
        (0, JobState.FAILED, Action.READD),
        (0, JobState.MISSING, Action.ADD),
        (2, JobState.FAILED, Action.READD),
        (3, JobState.FAILED, Action.GIVE_UP),
        (1, JobState.DELAYED, Action.SKIP),  # a retry is under way
        (1, JobState.ACTIVE, Action.SKIP),
    ],
)
def test_decide_failed(retries: int, state: JobState, action: Action) -> None:
    assert (
        decide_failed(order("capture_failed", flagged=False, retries=retries), state, 3) is action
    )


def test_due_time_never_cuts_the_window_short() -> None:
    assert due_time(order(due_in=600), NOW) == NOW + timedelta(seconds=600)
    assert due_time(order(due_in=-600), NOW) == NOW
