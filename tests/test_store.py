from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

from fundkit.store import SCHEMA, Store


def _write_events(path: str, n: int) -> None:
    with Store(path) as store:
        for i in range(n):
            store.add_job_events(
                [{"at": float(i), "event": "done", "kind": "k", "duration_ms": 10.0 * i}]
            )


def test_schema_is_created_once_and_reopened(tmp_path: Path):
    path = tmp_path / "f.db"
    with Store(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(SCHEMA)
    with Store(path) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_several_processes_write_events_at_once(tmp_path: Path):
    path = str(tmp_path / "f.db")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_events, args=(path, 100)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    with Store(path) as store:
        assert store.event_counts() == {"done": 400}
        assert sorted(e["duration_ms"] for e in store.job_events()) == sorted(
            10.0 * i for i in range(100) for _ in range(4)
        )


def test_recent_durations_are_newest_first_per_kind(tmp_path: Path):
    _write_events(str(tmp_path / "f.db"), 5)
    with Store(tmp_path / "f.db") as store:
        assert store.recent_durations("k", limit=3) == [0.04, 0.03, 0.02]
        assert store.recent_durations("other") == []


def test_events_wait_while_another_process_holds_the_store(tmp_path: Path):
    from fundkit.jobs import Job
    from fundkit.store import EventRecorder

    path = tmp_path / "f.db"
    Store(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # like a worker paused (SIGSTOP) in mid-write
    recorder = EventRecorder(Store(path, timeout=0.05))
    recorder("claimed", Job(kind="noop"), {})  # no error: the row waits
    assert recorder.flush() is False
    holder.execute("COMMIT")
    recorder("done", Job(kind="noop"), {"duration_ms": 1.0})  # writes both
    with Store(path) as store:
        assert store.event_counts() == {"claimed": 1, "done": 1}
    recorder.store.close()
    holder.close()
