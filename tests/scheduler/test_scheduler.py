"""The scheduler: jobs run when due, one failing job does not stop the rest, one leader per installation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leitstand.clock import clock
from leitstand.scheduler.loop import Job, Scheduler


def test_jobs_run_when_due_and_not_before(session_factory):
    clock.freeze(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    runs: list[str] = []
    jobs = (
        Job("often", timedelta(seconds=5), lambda db, publish: runs.append("often")),
        Job("rarely", timedelta(hours=1), lambda db, publish: runs.append("rarely")),
    )
    scheduler = Scheduler(session_factory, publish=lambda *_: None, jobs=jobs)

    scheduler.run_due()
    clock.advance(timedelta(seconds=6))
    scheduler.run_due()
    scheduler.run_due()

    assert runs == ["often", "rarely", "often"]


def test_a_failing_job_does_not_stop_the_others(session_factory):
    def broken(db, publish):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    scheduler = Scheduler(session_factory, publish=lambda *_: None,
                          jobs=(Job("broken", timedelta(seconds=1), broken),
                                Job("fine", timedelta(seconds=1), lambda db, publish: "ok")))

    assert scheduler.run_due() == {"fine": "ok"}


def test_the_shipped_jobs_all_run_on_this_backend(session_factory, world):
    scheduler = Scheduler(session_factory, publish=lambda *_: None)

    results = scheduler.run_due()

    assert set(results) == {job.name for job in scheduler.jobs}


def test_only_one_scheduler_leads_on_postgresql(session_factory, backend):
    first = Scheduler(session_factory, publish=lambda *_: None)
    second = Scheduler(session_factory, publish=lambda *_: None)
    try:
        assert first._acquire_leadership()
        assert second._acquire_leadership() is (backend == "sqlite")
    finally:
        for scheduler in (first, second):
            if scheduler._lock_connection is not None:
                scheduler._lock_connection.close()
