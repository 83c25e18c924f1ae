"""The command status machine: every step it allows, every step it refuses, and what each records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from leitstand.commands.states import (
    FINAL_STATUSES, CommandStatus, advance, apply_device_answer, may_follow, note_send_failure, preceding,
)
from leitstand.ingest.message import CommandOutcome

AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
S = CommandStatus

# Written out by hand, not derived from the machine's table: this is the behaviour users rely on.
ALLOWED = {
    (S.requested, S.queued), (S.requested, S.sent), (S.requested, S.delivered),
    (S.requested, S.confirmed), (S.requested, S.failed), (S.requested, S.expired),
    (S.queued, S.sent), (S.queued, S.delivered), (S.queued, S.confirmed), (S.queued, S.failed), (S.queued, S.expired),
    (S.sent, S.delivered), (S.sent, S.confirmed), (S.sent, S.failed), (S.sent, S.expired),
    (S.delivered, S.confirmed), (S.delivered, S.failed), (S.delivered, S.expired),
}
EVERY_STEP = list(product(CommandStatus, CommandStatus))


@dataclass
class FakeCommand:
    """Only the fields the machine touches; the machine needs no database."""

    status: str
    queued_at: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    finished_at: datetime | None = None
    detail: str = ""


def test_the_seven_states_every_transport_maps_onto() -> None:
    assert [status.value for status in CommandStatus] == [
        "requested", "queued", "sent", "delivered", "confirmed", "failed", "expired"]
    assert FINAL_STATUSES == {S.confirmed, S.failed, S.expired}


@pytest.mark.parametrize(("current", "new"), EVERY_STEP, ids=[f"{a}->{b}" for a, b in EVERY_STEP])
def test_each_step_is_allowed_or_refused(current: CommandStatus, new: CommandStatus) -> None:
    command = FakeCommand(status=current, detail="before")
    allowed = (current, new) in ALLOWED

    assert may_follow(current, new) is allowed
    assert advance(command, new, AT, detail="after") is allowed
    if allowed:
        assert command.status == new and command.detail == "after"
    else:  # a refused step changes nothing at all
        assert command == FakeCommand(status=current, detail="before")


def test_a_final_status_is_never_left_and_nothing_goes_backwards() -> None:
    for final in FINAL_STATUSES:
        assert not any(may_follow(final, new) for new in CommandStatus)
    assert not may_follow(S.sent, S.queued) and not may_follow(S.delivered, S.sent)
    assert not any(may_follow(status, status) for status in CommandStatus)  # a repeat is no step


@pytest.mark.parametrize(("new", "stamp"), [
    (S.queued, "queued_at"), (S.sent, "sent_at"), (S.delivered, "delivered_at"),
    (S.confirmed, "finished_at"), (S.failed, "finished_at"), (S.expired, "finished_at"),
])
def test_each_step_stamps_its_own_time_only(new: CommandStatus, stamp: str) -> None:
    command = FakeCommand(status=S.requested)

    advance(command, new, AT)

    stamps = {name: getattr(command, name) for name in ("queued_at", "sent_at", "delivered_at", "finished_at")}
    assert stamps == {name: AT if name == stamp else None for name in stamps}
    assert command.detail == ""  # no detail given, none changed


def test_a_long_detail_is_cut_to_the_column() -> None:
    command = FakeCommand(status=S.sent)
    advance(command, S.failed, AT, detail="x" * 400)
    assert len(command.detail) == 300


def test_preceding_names_where_a_step_may_come_from() -> None:
    assert preceding(S.sent) == {S.requested, S.queued}
    assert preceding(S.queued) == {S.requested}
    assert preceding(S.expired) == {S.requested, S.queued, S.sent, S.delivered}
    assert preceding(S.requested) == set()


def test_the_device_says_succeeded_and_the_command_is_confirmed() -> None:
    command = FakeCommand(status=S.sent, sent_at=AT)

    assert apply_device_answer(command, CommandOutcome.delivered, AT + timedelta(seconds=1), "ignored")
    assert (command.status, command.delivered_at, command.detail) == (S.delivered, AT + timedelta(seconds=1), "")
    assert apply_device_answer(command, CommandOutcome.succeeded, AT + timedelta(seconds=4), "opened in 3.8 s")
    assert (command.status, command.finished_at, command.detail) == (S.confirmed, AT + timedelta(seconds=4), "opened in 3.8 s")
    assert command.delivered_at == AT + timedelta(seconds=1)  # the receipt's time stays

    # A late duplicate of either answer changes nothing.
    assert not apply_device_answer(command, CommandOutcome.delivered, AT + timedelta(seconds=5))
    assert not apply_device_answer(command, CommandOutcome.failed, AT + timedelta(seconds=5), "late")
    assert (command.status, command.detail) == (S.confirmed, "opened in 3.8 s")


def test_a_result_without_a_receipt_first_counts_as_delivered_then() -> None:
    command = FakeCommand(status=S.queued, queued_at=AT)

    assert apply_device_answer(command, CommandOutcome.failed, AT + timedelta(seconds=2), "motor blocked")

    assert (command.status, command.delivered_at, command.finished_at) == (S.failed, AT + timedelta(seconds=2),
                                                                           AT + timedelta(seconds=2))


def test_an_answer_after_expiry_is_too_late() -> None:
    command = FakeCommand(status=S.expired, finished_at=AT, detail="no answer from the device in time")

    assert not apply_device_answer(command, CommandOutcome.succeeded, AT + timedelta(seconds=1), "opened")
    assert command.status == S.expired and command.delivered_at is None


def test_a_send_failure_keeps_the_command_requested_with_the_reason() -> None:
    command = FakeCommand(status=S.requested)

    note_send_failure(command, "broker unreachable")

    assert (command.status, command.detail) == (S.requested, "not sent: broker unreachable")
