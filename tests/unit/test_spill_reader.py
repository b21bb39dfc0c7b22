"""The store writer's side of the spill journal: complete lines only, finished segments, commit,
and the lines themselves."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from mlship.serving.prediction_record import PredictionRecord, decode, encode
from mlship.serving.spill import Position, segment_path
from mlship.serving.spill_reader import JournalReader


def test_a_line_still_being_copied_is_not_read(tmp_path: Path) -> None:
    """A copy into the mapped segment may fill a line's end before its middle: a line holding a
    NUL byte is not complete yet, whatever follows it."""
    path = segment_path(tmp_path, 0)
    path.write_bytes(b'["a"]\n["b' + b"\0\0" + b'"]\n' + b"\0" * 64)
    reader = JournalReader(tmp_path, first_active=0, window=10)
    lines, after = reader.read(Position(0, 0, 0), 10)
    assert lines == [b'["a"]']
    assert after == Position(0, 1, 6)
    path.write_bytes(b'["a"]\n["bc"]\n' + b"\0" * 64)  # the copy finished
    lines, after = reader.read(after, 10)
    assert lines == [b'["bc"]']
    assert after.offset == 13


def test_the_active_segment_is_left_only_once_a_later_one_exists(tmp_path: Path) -> None:
    segment_path(tmp_path, 3).write_bytes(b'["a"]\n')
    reader = JournalReader(tmp_path, first_active=3, window=10)
    lines, after = reader.read(Position(3, 0, 0), 10)
    assert (lines, after) == ([b'["a"]'], Position(3, 1, 6))
    assert reader.read(after, 10) == ([], after)  # more may come: stay
    segment_path(tmp_path, 4).write_bytes(b'["b"]\n')
    assert reader.read(after, 10) == ([], Position(4, 0, 0))
    reader.commit(Position(4, 0, 0))
    assert not segment_path(tmp_path, 3).exists()
    assert (tmp_path / "checkpoint.json").exists()


def test_a_line_longer_than_a_read_chunk_is_read_whole(tmp_path: Path) -> None:
    long = b'["' + b"x" * (3 << 20) + b'"]'
    segment_path(tmp_path, 0).write_bytes(long + b"\n" + b'["y"]\n')
    reader = JournalReader(tmp_path, first_active=0, window=10)
    lines, after = reader.read(Position(0, 0, 0), 10)
    assert lines == [long, b'["y"]']
    assert after == Position(0, 2, len(long) + 7)


def test_segments_of_an_earlier_process_are_finished_once_read(tmp_path: Path) -> None:
    """A crashed process's segment ends in a torn line and NUL padding; the new process has not
    created its first segment yet."""
    segment_path(tmp_path, 1).write_bytes(b'["a"]\n["tor' + b"\0" * 32)
    reader = JournalReader(tmp_path, first_active=2, window=10)
    lines, after = reader.read(Position(1, 0, 0), 10)
    assert lines == [b'["a"]']
    assert reader.read(after, 10) == ([], Position(2, 0, 0))
    assert reader.read(Position(2, 0, 0), 10) == ([], Position(2, 0, 0))


def test_a_line_of_an_earlier_version_still_decodes() -> None:
    """Spill folders outlive upgrades: a line written as one JSON object (before 0.4) is read."""
    old = (
        b'{"request_id":"r-1","at":"2024-05-01T12:00:00+00:00","model":"fraud","version":4,'
        b'"role":"stable","inputs":[{"amount":12.5}],"outputs":[0],"latency_ms":1.5,'
        b'"error":null}\n'
    )
    row = decode(old)
    assert row["at"] == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert (row["inputs"], row["outputs"], row["scores"]) == ('[{"amount":12.5}]', "[0]", None)


def test_a_line_written_before_the_routing_key_still_decodes() -> None:
    """A tab-separated line of 0.4-0.6 has a 7-field head: no routing key or model time."""
    head = b'["r-1","2024-05-01T12:00:00+00:00","fraud",4,"stable",1.5,null]'
    row = decode(head + b'\t[{"amount":12.5}]\t[0]\tnull\n')
    assert (row["version"], row["latency_ms"], row["outputs"]) == (4, 1.5, "[0]")
    assert (row["routing_key"], row["model_ms"], row["batch_wait_ms"]) == (None, None, None)


def test_the_routing_key_and_model_time_round_trip_and_a_long_key_is_clipped() -> None:
    rec = PredictionRecord(
        "r-1", datetime(2024, 5, 1, tzinfo=UTC), "fraud", 2, "candidate", [{"a": 1}], [1], 3.0
    )
    rec.routing_key, rec.model_ms, rec.batch_wait_ms = "card-7", 0.75, 2.25
    row = decode(encode(rec))
    assert (row["routing_key"], row["model_ms"], row["batch_wait_ms"]) == ("card-7", 0.75, 2.25)
    rec.routing_key = "k" * 500
    assert decode(encode(rec))["routing_key"] == "k" * 200


def test_a_record_round_trips_with_nul_and_tab_characters_made_safe() -> None:
    """Tabs separate a line's parts and cannot occur inside them; PostgreSQL refuses NUL in
    JSONB, so NUL becomes U+FFFD in every part."""
    rec = PredictionRecord(
        "r-\t1",
        datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        "fraud",
        2,
        "candidate",
        [{"name\x00": "a\tb\x00"}],
        np.array([1]),
        2.5,
        "ValueError: bad\x00input",
        np.array([[0.25, 0.75]]),
    )
    row = decode(encode(rec))
    assert row["request_id"] == "r-\t1"
    assert row["at"] == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert json.loads(row["inputs"]) == [{"name\ufffd": "a\tb\ufffd"}]
    assert (row["outputs"], row["scores"]) == ("[1]", "[[0.25,0.75]]")
    assert row["error"] == "ValueError: bad\ufffdinput"


def test_the_writer_fsyncs_the_journal_while_it_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that always finds a full batch never goes idle; it must fsync all the same.
    fsync is observed, not replaced by a fake disk: there is no other way to see it."""
    from mlship.serving import log_writer
    from mlship.serving.log_writer import STOP, LogWriter, QueueChannel, WriterSettings
    from mlship.store import open_store

    line = encode(PredictionRecord("r", datetime.now(UTC), "m", 1, "stable", [{"a": 1}], [0], 1.0))
    segment_path(tmp_path, 0).write_bytes(line * 50)
    synced: list[int] = []
    monkeypatch.setattr(log_writer.os, "fsync", lambda fd: synced.append(fd))
    settings = WriterSettings(tmp_path, Position(0, 0, 0), 1, 5, 0.2, 0.0, None)
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    channel = QueueChannel(lambda message: None)
    channel.commands.put(STOP)
    LogWriter(store, settings).run(channel)
    assert len(synced) >= 10  # ten full batches of five, an fsync before each


@pytest.mark.parametrize("populate", ["kernel", "refused"])
def test_appends_across_faulted_in_chunks_read_back_whole(
    tmp_path: Path, populate: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal faults pages in ahead of the appends (MADV_POPULATE_WRITE, 256 KiB at a
    time); on a kernel that refuses the advice (here: an advice number no kernel knows) the
    pages fault in one at a time instead. Either way every line reads back, across chunk and
    segment boundaries."""
    import mlship.serving.spill as spill

    if populate == "refused":
        monkeypatch.setattr(spill, "_MADV_POPULATE_WRITE", 9999)
    journal = spill.SpillJournal(tmp_path, segment_bytes=600 << 10)
    journal.open()
    lines = [json.dumps([i, "x" * (i % 700)]).encode() + b"\n" for i in range(3000)]
    for line in lines:
        journal.append((line,))
    assert journal._populate is (populate == "kernel")
    journal.seal()
    reader = JournalReader(journal.folder, first_active=journal.first_active + 99, window=10)
    got: list[bytes] = []
    cursor = Position(0, 0, 0)
    for _ in range(100):  # a reader that stopped moving fails the assertion, not the run
        batch, cursor = reader.read(cursor, 1000)
        if not batch and cursor.segment > journal.end.segment:
            break
        got += batch
    assert got == [line.rstrip(b"\n") for line in lines]
