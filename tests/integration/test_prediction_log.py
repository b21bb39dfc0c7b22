"""The prediction log on every store backend: batches, spills, crashes, feedback, export."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from mlship.errors import ConfigError, InvalidInput
from mlship.serving.log_export import export, joined, parse_since, record_feedback
from mlship.serving.prediction_log import PredictionLog, PredictionRecord
from mlship.store import Store, open_store
from mlship.store.schema import predictions
from tests.conftest import free_port

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

StoreFactory = Callable[..., Store]


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    yield
    alive = [t.name for t in threading.enumerate() if t.name.startswith("mlship-plog")]
    assert alive == [], f"prediction log threads still running: {alive}"


@pytest.fixture
def stores(db_url: str) -> Iterator[StoreFactory]:
    """Open stores on the test's database (migrated unless told otherwise); closed afterwards."""
    opened: list[Store] = []

    def make(*, migrate: bool = True) -> Store:
        store = open_store(db_url, migrate=migrate)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def unreachable(db_url: str, tmp_path: Path) -> Iterator[Store]:
    """A store of the test's backend that cannot be connected to."""
    if db_url.startswith("sqlite"):
        store = Store(sa.create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}"))
    else:
        url = sa.engine.make_url(db_url).set(port=free_port())
        store = open_store(url.render_as_string(hide_password=False), migrate=False)
    yield store
    store.close()


def rec(i: int, *, model: str = "fraud", at: datetime | None = None, **kw: Any) -> PredictionRecord:
    fields: dict[str, Any] = {
        "request_id": f"r-{i}",
        "at": at or T0 + timedelta(milliseconds=i),
        "model": model,
        "version": 1 + i % 2,
        "role": "stable",
        "inputs": [{"amount": float(i), "country": "DE"}],
        "outputs": [i % 2],
        "latency_ms": 1.5,
        "error": None,
    }
    fields.update(kw)
    return PredictionRecord(**fields)


def stored(store: Store, model: str = "fraud") -> list[Any]:
    """Rows of ``model`` in insertion order."""
    with store.read() as conn:
        query = sa.select(predictions).where(predictions.c.model == model)
        return list(conn.execute(query.order_by(predictions.c.id)))


def segments(spill: Path) -> list[Path]:
    return sorted(spill.glob("slot-*/*.jsonl"))


# ----------------------------------------------------------------------------------- writing


def test_records_land_in_the_table_with_their_fields(stores: StoreFactory, tmp_path: Path) -> None:
    store = stores()
    frame = pd.DataFrame({"amount": [12.5, 3.0], "country": ["DE", "FR"], "n": [1, 2]})
    with PredictionLog(store, tmp_path / "spill") as plog:
        plog.record(
            rec(
                0,
                inputs=frame,
                outputs=[1, 0],
                role="candidate",
                latency_ms=2.25,
                scores=np.array([[0.25, 0.75], [0.5, 0.5]]),
            )
        )
        plog.record(rec(1, outputs=None, error="ValueError: bad\x00input"))
    rows = stored(store)
    assert [r.request_id for r in rows] == ["r-0", "r-1"]
    first, second = rows
    assert first.at.replace(tzinfo=UTC) == T0
    assert (first.model, first.version, first.role) == ("fraud", 1, "candidate")
    assert first.inputs == [
        {"amount": 12.5, "country": "DE", "n": 1},
        {"amount": 3.0, "country": "FR", "n": 2},
    ]
    assert first.outputs == [1, 0]
    assert first.scores == [[0.25, 0.75], [0.5, 0.5]]
    assert first.latency_ms == 2.25
    assert first.error is None
    assert (second.version, second.outputs, second.error) == (2, None, "ValueError: bad\ufffdinput")
    assert second.scores is None
    assert (plog.queued, plog.written, plog.lost, plog.spilled, plog.queue_depth) == (2, 2, 0, 0, 0)


def test_records_are_written_in_batches_of_one_insert_each(
    stores: StoreFactory, tmp_path: Path
) -> None:
    """Check that 2,500 records waiting at start become three INSERT statements, each one
    statement of many rows (one step of the database, not one per row). The writer runs in a
    thread here, so that the test sees its statements."""
    store = stores()
    inserts: list[int] = []

    def count(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if statement.startswith("INSERT INTO predictions"):
            assert not many
            inserts.append(statement.count("), (") + 1)  # rows in the VALUES list

    sa.event.listen(store.engine, "before_cursor_execute", count)
    plog = PredictionLog(store, tmp_path / "spill", batch_size=1000, writer_process=False)
    for i in range(2500):
        plog.record(rec(i))
    with plog:
        pass
    assert inserts == [1000, 1000, 500]
    assert [r.request_id for r in stored(store)] == [f"r-{i}" for i in range(2500)]


def test_close_flushes_memory_and_leaves_no_segment(stores: StoreFactory, tmp_path: Path) -> None:
    store = stores()
    plog = PredictionLog(store, tmp_path / "spill", flush_interval_s=1.0).start()
    for i in range(300):
        plog.record(rec(i))
    assert plog.close() is True
    assert len(stored(store)) == 300
    assert segments(tmp_path / "spill") == []
    plog.record(rec(300))
    assert plog.lost == 1  # after close: counted, not silently dropped


def test_flush_waits_until_records_are_in_the_store(stores: StoreFactory, tmp_path: Path) -> None:
    store = stores()
    with PredictionLog(store, tmp_path / "spill") as plog:
        for i in range(50):
            plog.record(rec(i))
        assert plog.flush(timeout=10) is True
        assert len(stored(store)) == 50
        assert plog.queue_depth == 0


def test_a_writer_behind_reads_back_from_disk_in_order(
    stores: StoreFactory, tmp_path: Path
) -> None:
    """Check that small batches and a tiny memory hand-off mix both paths without loss."""
    store = stores()
    # Memory hands at most five batches (15 rows) to the writer; the rest it reads from disk.
    with PredictionLog(store, tmp_path / "spill", batch_size=3, segment_bytes=8192) as plog:
        for start in range(0, 1200, 30):
            for i in range(start, start + 30):
                plog.record(rec(i))
            time.sleep(0.001)
        assert plog.flush(timeout=60) is True
    assert [r.request_id for r in stored(store)] == [f"r-{i}" for i in range(1200)]
    assert (plog.written, plog.lost) == (1200, 0)
    assert plog.spilled > 0


def test_a_full_queue_counts_records_lost(stores: StoreFactory, tmp_path: Path) -> None:
    store = stores()
    plog = PredictionLog(store, tmp_path / "spill", max_queue=10)
    for i in range(15):
        plog.record(rec(i))
    assert (plog.queued, plog.lost) == (10, 5)
    with plog:
        pass
    assert [r.request_id for r in stored(store)] == [f"r-{i}" for i in range(10)]


def test_logs_sharing_a_spill_folder_take_their_own_slots(
    stores: StoreFactory, tmp_path: Path
) -> None:
    store = stores()
    with (
        PredictionLog(store, tmp_path / "spill") as one,
        PredictionLog(store, tmp_path / "spill") as two,
    ):
        assert {one.spill_folder.name, two.spill_folder.name} == {"slot-0", "slot-1"}
        one.record(rec(0))
        two.record(rec(1))
    assert sorted(r.request_id for r in stored(store)) == ["r-0", "r-1"]


def test_invalid_options_are_refused(stores: StoreFactory, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"The 'batch_size' option must be >= 1\. Got 0 instead\."
    ):
        PredictionLog(stores(), tmp_path, batch_size=0)


# ----------------------------------------------------------------------------------- store down


def test_unreachable_store_spills_and_a_new_log_writes_it_all(
    stores: StoreFactory, unreachable: Store, tmp_path: Path
) -> None:
    spill = tmp_path / "spill"
    plog = PredictionLog(unreachable, spill, batch_size=200)
    for i in range(5000):
        plog.record(rec(i))
    plog.start()
    assert plog.close(timeout=0.5) is False
    assert (plog.written, plog.lost, plog.queue_depth) == (0, 0, 5000)
    # Every record waits on disk, in the spill segments, for the next start.
    assert sum(segment.read_bytes().count(b"\n") for segment in segments(spill)) == 5000

    store = stores()
    with PredictionLog(store, spill, segment_bytes=4096) as again:
        assert again.recovered == 5000
    assert (again.written, again.lost, again.queue_depth) == (5000, 0, 0)
    assert [r.request_id for r in stored(store)] == [f"r-{i}" for i in range(5000)]
    assert segments(spill) == []


def test_writes_resume_in_order_when_the_store_comes_back(
    stores: StoreFactory, tmp_path: Path
) -> None:
    """Check that records queued while the tables are missing are written once they exist."""
    early = stores(migrate=False)
    with PredictionLog(early, tmp_path / "spill", segment_bytes=2048) as plog:
        for i in range(200):
            plog.record(rec(i))
        assert plog.flush(timeout=0.6) is False
        assert plog.written == 0
        stores()  # migrates: the store is "back"
        for i in range(200, 400):
            plog.record(rec(i))
        assert plog.flush(timeout=20) is True
    assert [r.request_id for r in stored(early)] == [f"r-{i}" for i in range(400)]
    assert (plog.written, plog.lost) == (400, 0)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite refuses no integer
def test_a_row_the_store_refuses_is_lost_without_stalling_the_rest(
    db_url: str, stores: StoreFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = stores()
    with PredictionLog(store, tmp_path / "spill") as plog:
        for i in range(3):
            plog.record(rec(i, version=2**40 if i == 1 else 1))
    assert [r.request_id for r in stored(store)] == ["r-0", "r-2"]
    assert (plog.written, plog.lost) == (2, 1)
    assert "the store refused 1 record(s), lost (first: request 'r-1'" in caplog.text


# ----------------------------------------------------------------------------------- crash

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import sqlalchemy as sa
    from datetime import datetime, UTC
    from mlship.serving.prediction_log import PredictionLog, PredictionRecord
    from mlship.store import Store, open_store

    url, spill, mode = sys.argv[1:4]
    store = open_store(url) if mode == "up" else Store(sa.create_engine(url))
    plog = PredictionLog(store, Path(spill), segment_bytes=32_768).start()
    count = 0
    last = 0.0
    while True:
        plog.record(PredictionRecord(f"r-{count}", datetime.now(UTC), "fraud", 1, "stable",
                                     [{"amount": count}], [0], 1.0))
        count += 1
        now = time.monotonic()
        if now - last >= 0.05:
            print(f"{now} {count}", flush=True)
            last = now
        time.sleep(0.001)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["up", "down"])
def test_a_killed_process_loses_no_record_it_accepted(
    mode: str,
    db_url: str,
    stores: StoreFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = stores()  # migrated before the child starts
    spill = tmp_path / "spill"
    url = db_url
    if mode == "down":
        url = (
            f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}"
            if db_url.startswith("sqlite")
            else sa.engine.make_url(db_url)
            .set(port=free_port())
            .render_as_string(hide_password=False)
        )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(spill), mode],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    reports: list[tuple[float, int]] = []
    try:
        for line in child.stdout:
            stamp, count = line.split()
            reports.append((float(stamp), int(count)))
            if reports[-1][0] - reports[0][0] >= 2.5:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
    reports += [(float(s), int(c)) for s, c in (line.split() for line in rest.splitlines())]
    assert len(reports) > 20, "the child did not run"
    # record() writes ahead: every record it returned from is on disk when the process dies.
    safe = max(c for _, c in reports)
    # A write torn by the crash: the restart must count it as lost, not choke on it.
    with open(segments(spill)[-1], "ab") as file:
        file.write(b'{"request_id":"torn')

    caplog.set_level(logging.WARNING, logger="mlship.serving.prediction_log")
    with PredictionLog(store, spill) as plog:
        pass
    assert plog.lost == 1
    assert "1 record(s) lost in a crash" in caplog.text
    ids = [r.request_id for r in stored(store)]
    assert len(ids) == len(set(ids)), "a record was written twice"
    assert {f"r-{i}" for i in range(safe)} <= set(ids)
    assert ids == sorted(ids, key=lambda r: int(r.removeprefix("r-")))
    assert segments(spill) == []


def test_a_killed_store_writer_is_replaced_and_loses_nothing(
    stores: StoreFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The store writer is a process of its own: when it dies, the log starts a new one, which
    writes the rest from the checkpoint without writing any record twice."""
    store = stores()
    with PredictionLog(store, tmp_path / "spill", batch_size=50) as plog:
        for i in range(200):
            plog.record(rec(i))
        assert plog.flush(timeout=20) is True
        writer = plog.writer_pid
        assert writer is not None and writer != os.getpid()
        os.kill(writer, signal.SIGKILL)
        for i in range(200, 400):
            plog.record(rec(i))
        assert plog.flush(timeout=30) is True
    ids = [r.request_id for r in stored(store)]
    assert ids == [f"r-{i}" for i in range(400)]
    assert (plog.written, plog.lost) == (400, 0)
    assert "the store writer process exited" in caplog.text


FULL_DISK = textwrap.dedent(
    """
    import logging, resource, signal, sys
    from datetime import datetime, UTC
    from pathlib import Path
    import sqlalchemy as sa
    from mlship.serving.prediction_log import PredictionLog, PredictionRecord
    from mlship.store import Store

    logging.basicConfig(level=logging.WARNING)
    # No file of this process may grow past 16 KiB: the disk is "full" for a 64 KiB segment.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, 16_384))
    store = Store(sa.create_engine(f"sqlite:///{sys.argv[1]}/no-such-folder/x.db"))
    plog = PredictionLog(store, Path(sys.argv[1]) / "spill", segment_bytes=65_536).start()
    for i in range(10):
        plog.record(PredictionRecord(f"r-{i}", datetime.now(UTC), "fraud", 1, "stable",
                                     [{"amount": i}], [0], 1.0))
    print("held", plog.held, "lost", plog.lost, flush=True)
    plog.close(timeout=0.5)
    print("closed: lost", plog.lost, flush=True)
    """
)


def test_a_full_disk_keeps_records_in_memory_and_loses_them_counted_at_close(
    tmp_path: Path,
) -> None:
    """The spill segment is reserved when it opens: no room is an error then, never a crash of
    the server while it writes. Records wait in memory; closing on a still-full disk loses
    them, counted; one warning, no traceback, no empty segment file."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert "held 10 lost 0" in child.stdout
    assert "closed: lost 10" in child.stdout
    assert child.stderr.count("disk is full: cannot reserve") == 1, child.stderr
    assert "Traceback" not in child.stderr
    assert segments(tmp_path / "spill") == []


def test_records_already_in_the_store_are_not_written_twice(
    stores: StoreFactory, unreachable: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Check a restart whose checkpoint is unreadable: every spilled record is checked."""
    spill, copy = tmp_path / "spill", tmp_path / "copy" / "slot-0"
    down = PredictionLog(unreachable, spill, batch_size=50, segment_bytes=4096).start()
    for i in range(300):
        down.record(rec(i))
    assert down.close(timeout=0.5) is False
    assert len(segments(spill)) > 2
    copy.mkdir(parents=True)
    for segment in segments(spill):
        (copy / segment.name).write_bytes(segment.read_bytes())
    (copy / "checkpoint.json").write_text("{not json")
    store = stores()
    with PredictionLog(store, spill, batch_size=50) as first:
        pass
    assert first.written == 300

    with PredictionLog(store, copy.parent, batch_size=50) as again:
        assert again.recovered == 300
    assert (again.written, again.lost, again.queue_depth) == (0, 0, 0)
    assert len(stored(store)) == 300
    assert "unreadable checkpoint" in caplog.text


# ----------------------------------------------------------------------------------- feedback


def test_feedback_joins_predictions_by_request_id(stores: StoreFactory, tmp_path: Path) -> None:
    store = stores()
    multi = pd.DataFrame({"amount": [1.0, 2.0], "hour": [3, 4]})
    with PredictionLog(store, tmp_path / "spill") as plog:
        plog.record(rec(0, inputs=[{"amount": 5.0, "hour": 1}], outputs=[1]))
        plog.record(rec(1, inputs=multi, outputs=[0, 1], role="candidate"))
        plog.record(rec(2, outputs=None, error="boom"))
        plog.record(rec(3))  # never labelled
        plog.record(rec(4, model="other"))
    assert record_feedback(store, "fraud", [("r-0", 0), ("r-1", [0, 0]), ("r-2", 1)]) == 3
    assert record_feedback(store, "fraud", [("r-0", 1)]) == 1  # a correction: latest wins
    assert record_feedback(store, "other", []) == 0

    frame = joined(store, "fraud")
    expected = pd.DataFrame(
        {
            "request_id": ["r-0", "r-1", "r-1"],
            "at": pd.to_datetime(
                [T0, T0 + timedelta(milliseconds=1), T0 + timedelta(milliseconds=1)], utc=True
            ),
            "version": [1, 2, 2],
            "role": ["stable", "candidate", "candidate"],
            "amount": [5.0, 1.0, 2.0],
            "hour": [1, 3, 4],
            "prediction": [1, 0, 1],
            "label": [1, 0, 0],
        }
    )
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    later = joined(store, "fraud", since=T0 + timedelta(milliseconds=1))
    assert later["request_id"].tolist() == ["r-1", "r-1"]
    assert joined(store, "nothing").columns.tolist() == [
        "request_id",
        "at",
        "version",
        "role",
        "prediction",
        "label",
    ]


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([("r-1",)], None),
        ([("", 1)], "request_id"),
        ([("x" * 65, 1)], "request_id"),
        ([("r-1", None)], "label"),
    ],
)
def test_bad_feedback_is_refused_whole(
    stores: StoreFactory, items: list[Any], field: str | None
) -> None:
    store = stores()
    with pytest.raises(InvalidInput) as info:
        record_feedback(store, "fraud", [("ok", 1), *items])
    assert info.value.field == field
    assert info.value.row == 1
    assert joined(store, "fraud").empty


# ----------------------------------------------------------------------------------- export


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_round_trips(stores: StoreFactory, tmp_path: Path, suffix: str) -> None:
    store = stores()
    with PredictionLog(store, tmp_path / "spill") as plog:
        for i in range(5):
            timing = {"routing_key": f"user-{i}", "model_ms": 0.5 + i, "batch_wait_ms": 0.25}
            plog.record(rec(i, at=T0 + timedelta(hours=i), **timing))
        plog.record(rec(5, outputs=None, error="KeyError: 'amount'"))
        plog.record(rec(6, model="other"))
    path = tmp_path / "out" / f"log{suffix}"
    assert export(store, "fraud", T0 + timedelta(hours=2), path) == 3
    back = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert back.columns.tolist() == [
        "request_id",
        "at",
        "model",
        "version",
        "role",
        "inputs",
        "outputs",
        "latency_ms",
        "error",
        "scores",
        "routing_key",
        "model_ms",
        "batch_wait_ms",
    ]
    assert back["request_id"].tolist() == ["r-2", "r-3", "r-4"]
    assert back["routing_key"].tolist() == ["user-2", "user-3", "user-4"]
    assert back["model_ms"].tolist() == [2.5, 3.5, 4.5]
    assert back["batch_wait_ms"].tolist() == [0.25] * 3
    assert pd.to_datetime(back["at"], utc=True).tolist() == [
        pd.Timestamp(T0 + timedelta(hours=h)) for h in (2, 3, 4)
    ]
    assert back["version"].tolist() == [1, 2, 1]
    assert [json.loads(v) for v in back["inputs"]] == [
        [{"amount": float(i), "country": "DE"}] for i in (2, 3, 4)
    ]
    assert [json.loads(v) for v in back["outputs"]] == [[0], [1], [0]]
    assert back["latency_ms"].tolist() == [1.5] * 3
    assert back["error"].isna().all()

    everything = tmp_path / f"all{suffix}"
    assert export(store, "fraud", None, everything) == 6
    full = pd.read_csv(everything) if suffix == ".csv" else pd.read_parquet(everything)
    failed = full[full["request_id"] == "r-5"].iloc[0]
    assert (failed["error"], pd.isna(failed["outputs"])) == ("KeyError: 'amount'", True)
    assert pd.isna(failed["routing_key"]) and pd.isna(failed["model_ms"])
    empty = tmp_path / f"none{suffix}"
    assert export(store, "nothing", None, empty) == 0
    assert (pd.read_csv(empty) if suffix == ".csv" else pd.read_parquet(empty)).empty


def test_export_refuses_an_unknown_suffix(stores: StoreFactory, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"must end in \.csv, \.parquet or \.pq"):
        export(stores(), "fraud", None, tmp_path / "log.xlsx")


# ----------------------------------------------------------------------------------- since

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("1h", NOW - timedelta(hours=1)),
        (" 2d ", NOW - timedelta(days=2)),
        ("1w", NOW - timedelta(weeks=1)),
        ("45s", NOW - timedelta(seconds=45)),
        ("1.5h", NOW - timedelta(minutes=90)),
        ("2024-05-01T08:30:00Z", datetime(2024, 5, 1, 8, 30, tzinfo=UTC)),
        ("2024-05-01T08:30", datetime(2024, 5, 1, 8, 30, tzinfo=UTC)),
        ("2024-05-01T10:30+02:00", datetime(2024, 5, 1, 8, 30, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
    ],
)
def test_parse_since_reads_durations_and_times(text: str, expected: datetime) -> None:
    parsed = parse_since(text, now=NOW)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["", "abc", "1x", "-1h", "h", "1.5.2h", "99999999999d"])
def test_parse_since_refuses_bad_text(text: str) -> None:
    with pytest.raises(InvalidInput, match="The 'since' option must be a duration") as info:
        parse_since(text, now=NOW)
    assert info.value.field == "since"
    assert repr(text) in info.value.message
