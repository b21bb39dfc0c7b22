"""The prediction log on a real file system that fills up: records kept in memory, an exact
lost count, no empty segment files, one warning, and a restart that is not held up by what a
full disk left behind."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlship.serving.log_status import read_status
from mlship.serving.prediction_log import PredictionLog, PredictionRecord
from mlship.serving.prediction_record import encode
from mlship.store import Store, open_store
from mlship.store.schema import predictions
from tests.integration.conftest import provided
from tests.integration.faults import fill, small_disk

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SEGMENT = 64 << 10


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs for the spill folder (root mounts it; CI must be able to)."""
    with provided(small_disk(tmp_path / "disk", 4)) as path:
        yield path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The store on the roomy disk: only the spill folder fills up."""
    opened = open_store(f"sqlite:///{tmp_path / 'mlship.db'}")
    yield opened
    opened.close()


def rec(i: int, model: str = "fraud") -> PredictionRecord:
    return PredictionRecord(
        f"r-{i}",
        T0 + timedelta(milliseconds=i),
        model,
        1,
        "stable",
        [{"amount": float(i)}],
        [0],
        1.0,
    )


def stored_ids(store: Store) -> list[str]:
    with store.read() as conn:
        query = sa.select(predictions.c.request_id).order_by(predictions.c.id)
        return [r[0] for r in conn.execute(query)]


def segment_files(spill: Path) -> list[Path]:
    return sorted(spill.glob("slot-*/*.jsonl"))


def fill_until_held(plog: PredictionLog, start: int) -> int:
    """Record from ``start`` until the log holds a record in memory; the next index."""
    i = start
    while plog.held == 0:
        plog.record(rec(i))
        i += 1
        assert i - start < 100_000, "the journal never ran out of space"
    return i


def test_a_short_full_disk_loses_nothing_and_leaves_no_empty_file(
    disk: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mlship.serving.prediction_log")
    spill = disk / "spill"
    with PredictionLog(store, spill, segment_bytes=SEGMENT, max_queue=5_000) as plog:
        for i in range(100):
            plog.record(rec(i))
        assert plog.flush(timeout=20)
        filler = fill(disk)
        i = fill_until_held(plog, 100)
        for j in range(i, i + 1_000):
            assert plog.record(rec(j)) is True  # kept in memory
        total = i + 1_000
        assert plog.lost == 0 and plog.held > 1_000
        assert [p for p in segment_files(spill) if p.stat().st_size == 0] == []
        status = plog.status()
        assert status.disk_full_since is not None and status.held == plog.held
        time.sleep(1.1)  # the status file is rewritten at most once a second
        plog.record(rec(total))
        total += 1
        written = read_status(plog.spill_folder)  # what `mlship status` reads
        assert written is not None and written.held == plog.held
        filler.unlink()
        deadline = time.monotonic() + 5
        while plog.held and time.monotonic() < deadline:  # no request needed to journal them
            time.sleep(0.05)
        assert plog.held == 0
        assert plog.flush(timeout=30)
    assert plog.lost == 0
    assert stored_ids(store) == [f"r-{n}" for n in range(total)]
    warnings = [r for r in caplog.records if "disk is full" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    assert "cannot reserve" in warnings[0].getMessage() and str(spill) in warnings[0].getMessage()
    assert any("has room again" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


def test_beyond_the_memory_bound_the_lost_count_is_exact_and_told_at_restart(
    disk: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    spill = disk / "spill"
    plog = PredictionLog(store, spill, segment_bytes=SEGMENT, max_queue=300).start()
    filler = fill(disk)
    i = fill_until_held(plog, 0)
    for j in range(i, i + 1_000):
        plog.record(rec(j, model="fraud" if j % 2 else "churn"))
    total = i + 1_000
    assert plog.held == 300
    lost = plog.lost
    assert lost == 1_000 - 299  # the first held record came from fill_until_held
    assert sum(plog.status().lost.values()) == lost
    assert set(plog.status().lost) == {"fraud", "churn"}
    filler.unlink()
    assert plog.close(timeout=30)
    # Everything answered is either in the store or counted lost: never both, never neither.
    ids = stored_ids(store)
    assert len(ids) + plog.lost == total and len(set(ids)) == len(ids)
    assert [p for p in segment_files(spill) if p.stat().st_size == 0] == []

    caplog.set_level(logging.WARNING, logger="mlship.serving.prediction_log")
    with PredictionLog(store, spill):
        pass
    assert f"lost {lost:,} record(s)" in caplog.text


def test_closing_while_the_disk_is_full_counts_what_memory_held(disk: Path, store: Store) -> None:
    spill = disk / "spill"
    plog = PredictionLog(store, spill, segment_bytes=SEGMENT, max_queue=1_000).start()
    fill(disk)
    i = fill_until_held(plog, 0)
    held = plog.held
    began = time.monotonic()
    plog.close(timeout=5)
    assert time.monotonic() - began < 15  # the timeout, plus the writer's abort
    ids = stored_ids(store)
    assert plog.lost == held and len(ids) + plog.lost == i


def test_refuse_mode_refuses_instead_of_losing(disk: Path, store: Store) -> None:
    spill = disk / "spill"
    plog = PredictionLog(
        store, spill, segment_bytes=SEGMENT, max_queue=100, on_full="refuse"
    ).start()
    try:
        filler = fill(disk)
        i = fill_until_held(plog, 0)
        kept = [plog.record(rec(j)) for j in range(i, i + 200)]
        assert kept.count(True) == 99 and kept.count(False) == 101
        assert plog.refusing and plog.lost == 0 and plog.refused == 101
        filler.unlink()
        deadline = time.monotonic() + 5
        while plog.refusing and time.monotonic() < deadline:  # the retrier makes room
            time.sleep(0.05)
        assert plog.record(rec(10**6)) is True and not plog.refusing
    finally:
        plog.close(timeout=30)
    assert plog.lost == 0
    assert len(stored_ids(store)) == plog.written


def test_start_up_removes_empty_and_torn_segments_in_one_pass(store: Store, tmp_path: Path) -> None:
    """What an old full disk left (thousands of empty files): gone before the writer starts."""
    slot = tmp_path / "spill" / "slot-0"
    slot.mkdir(parents=True)
    with PredictionLog(store, tmp_path / "spill", segment_bytes=SEGMENT) as first:
        for i in range(10):
            first.record(rec(i))
    for number in range(1, 20_001):
        (slot / f"{number:020d}.jsonl").touch()
    (slot / f"{20_001:020d}.jsonl").write_bytes(b'{"request_id":"torn' + b"\0" * 100)
    real = slot / f"{20_002:020d}.jsonl"
    real.write_bytes(b"".join(encode(rec(i)) for i in range(10, 20)))
    began = time.monotonic()
    plog = PredictionLog(store, tmp_path / "spill", segment_bytes=SEGMENT).start()
    try:
        opened_in = time.monotonic() - began
        left = [p.name for p in segment_files(tmp_path / "spill")]
        assert left == [real.name]  # one pass removed the rest
        assert plog.lost == 1  # the torn line
        plog.record(rec(20))
        assert plog.flush(timeout=30)
    finally:
        plog.close()
    assert stored_ids(store) == [f"r-{n}" for n in range(21)]
    print(f"start-up over 20,002 left segments: {opened_in:.2f} s")


def test_new_records_do_not_wait_behind_what_an_earlier_process_left(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A restart after a long store outage: the new records are written alongside the backlog,
    a batch of each in turn, not after all of it."""
    spill = tmp_path / "spill"
    down = Store(sa.create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}"))
    left = PredictionLog(down, spill).start()
    backlog = 100_000
    for i in range(backlog):
        left.record(rec(i))
    assert left.close(timeout=0.5) is False  # the store is down: it all stays on disk
    down.close()

    caplog.set_level(logging.INFO, logger="mlship.serving.prediction_log")
    plog = PredictionLog(store, spill).start()
    try:
        assert plog.recovered == backlog
        plog.record(rec(backlog))
        assert plog.flush(timeout=30)
        written_then = plog.written
    finally:
        plog.close(timeout=60)
    assert f"r-{backlog}" in stored_ids(store)[:written_then]
    assert written_then < backlog / 2, f"the new record waited for {written_then:,} old ones"
    ids = stored_ids(store)
    assert len(ids) == backlog + 1 and len(set(ids)) == len(ids)
    assert plog.queue_depth == 0
    assert segment_files(spill) == []
    assert "alongside the new records" in caplog.text


def test_a_torn_line_is_counted_once_however_often_the_backlog_restarts(
    store: Store, tmp_path: Path
) -> None:
    spill = tmp_path / "spill"
    slot = spill / "slot-0"
    slot.mkdir(parents=True)
    (slot / f"{1:020d}.jsonl").write_bytes(
        b"".join(encode(rec(i)) for i in range(5)) + b'{"request_id":"torn'
    )
    down = Store(sa.create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}"))
    losses = []
    for _ in range(2):  # the store is down: the backlog stays, the server restarts
        plog = PredictionLog(down, spill).start()
        losses.append(plog.lost)
        plog.close(timeout=0.5)
    down.close()
    assert losses == [1, 0]
    with PredictionLog(store, spill) as plog:
        pass
    assert plog.lost == 0
    assert stored_ids(store) == [f"r-{n}" for n in range(5)]
