"""The SQLite store of a workspace: schema, migrations and the queries fundkit makes.

For now it holds ``job_events``: one row per job transition (created, claimed, done, retry,
failed, recovered, released, requeued, set_aside) with its timing and the queue depth at that
moment, which is what the "jobs", "chunk time" and "queue depth over time" charts read. Later
issues add the runs, stages and opportunities tables here.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SCHEMA = [
    # version 1
    """
    CREATE TABLE job_events (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        event TEXT NOT NULL,
        job_id TEXT,
        run_id TEXT,
        source_id TEXT,
        kind TEXT,
        worker TEXT,
        retry_count INTEGER,
        duration_ms REAL,
        error_type TEXT,
        error_message TEXT,
        pending INTEGER,
        processing INTEGER,
        done INTEGER,
        failed INTEGER
    );
    CREATE INDEX job_events_at ON job_events (at);
    CREATE INDEX job_events_run ON job_events (run_id, event);
    """,
    # version 2: the master run of each fetch (the original's pipeline_runs)
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        source_id TEXT NOT NULL,
        source_type TEXT,
        status TEXT NOT NULL,
        started_at REAL,
        finished_at REAL,
        total_opportunities INTEGER,
        total_reported INTEGER,
        chunk_size INTEGER,
        chunk_count INTEGER,
        jobs_created INTEGER,
        pages INTEGER,
        api_calls INTEGER,
        bytes INTEGER,
        retries INTEGER,
        duplicates_dropped INTEGER,
        detail_failures INTEGER,
        fetch_ms REAL,
        stop_reason TEXT,
        error TEXT,
        config TEXT
    );
    CREATE INDEX runs_started ON runs (started_at);
    """,
]

RUN_COLUMNS = (
    "run_id",
    "source_id",
    "source_type",
    "status",
    "started_at",
    "finished_at",
    "total_opportunities",
    "total_reported",
    "chunk_size",
    "chunk_count",
    "jobs_created",
    "pages",
    "api_calls",
    "bytes",
    "retries",
    "duplicates_dropped",
    "detail_failures",
    "fetch_ms",
    "stop_reason",
    "error",
)

EVENT_COLUMNS = (
    "at",
    "event",
    "job_id",
    "run_id",
    "source_id",
    "kind",
    "worker",
    "retry_count",
    "duration_ms",
    "error_type",
    "error_message",
    "pending",
    "processing",
    "done",
    "failed",
)


class Store:
    """One connection to the workspace's SQLite file (WAL, so several processes can write)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(SCHEMA[version:], start=version + 1):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while we waited for the write lock.
                if self.conn.execute("PRAGMA user_version").fetchone()[0] >= number:
                    self.conn.execute("COMMIT")
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={number}")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_job_events(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert job events in one transaction; return how many."""
        values = [tuple(row.get(c) for c in EVENT_COLUMNS) for row in rows]
        if not values:
            return 0
        marks = ", ".join("?" for _ in EVENT_COLUMNS)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany(
                f"INSERT INTO job_events ({', '.join(EVENT_COLUMNS)}) VALUES ({marks})", values
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return len(values)

    def save_run(self, run: dict[str, Any], config: dict[str, Any]) -> None:
        """Insert or update a run record (``config`` is the source, which holds no secret)."""
        columns = (*RUN_COLUMNS, "config")
        values = [run.get(c) for c in RUN_COLUMNS] + [json.dumps(config)]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        self.conn.execute(
            f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
            f"ON CONFLICT (run_id) DO UPDATE SET {updates}",
            values,
        )

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest runs first."""
        cur = self.conn.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM runs ORDER BY started_at DESC LIMIT ?", (limit,)
        )
        return [dict(zip(RUN_COLUMNS, row, strict=True)) for row in cur]

    def job_events(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Job events at or after ``since`` (epoch seconds), oldest first."""
        cur = self.conn.execute(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM job_events WHERE at >= ? ORDER BY id",
            (since,),
        )
        return [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in cur]

    def recent_durations(self, kind: str, limit: int = 50) -> list[float]:
        """Seconds taken by the last ``limit`` finished jobs of a kind, newest first."""
        cur = self.conn.execute(
            "SELECT duration_ms FROM job_events WHERE kind = ? AND event = 'done' "
            "AND duration_ms IS NOT NULL ORDER BY id DESC LIMIT ?",
            (kind, limit),
        )
        return [row[0] / 1000 for row in cur]

    def event_counts(self, events: Sequence[str] | None = None) -> dict[str, int]:
        cur = self.conn.execute("SELECT event, COUNT(*) FROM job_events GROUP BY event")
        counts = {event: n for event, n in cur}
        return {e: counts.get(e, 0) for e in events} if events else counts


class EventRecorder:
    """The queue's event hook: writes each transition to the store with the queue depth.

    The depth comes from ``Queue.stats(max_age=...)`` so that a busy worker counts files at
    most every ``depth_every`` seconds instead of at every event.
    """

    def __init__(self, store: Store, depth_every: float = 1.0):
        self.store = store
        self.depth_every = depth_every
        self.queue: Any = None  # set by the caller once the queue exists

    def __call__(self, event: str, job: Any, info: dict[str, Any]) -> None:
        if "jobs" in info:  # a batch: one row per job, a transaction per thousand
            jobs = info["jobs"]
            for start in range(0, len(jobs), 1000):
                self.store.add_job_events(
                    [self._row(event, j, {}) for j in jobs[start : start + 1000]]
                )
            return
        self.store.add_job_events([self._row(event, job, info)])

    def _row(self, event: str, job: Any, info: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"at": time.time(), "event": event}
        if job is not None:
            row.update(
                job_id=job.id,
                run_id=job.run_id,
                source_id=job.source_id,
                kind=job.kind,
                worker=job.worker or (self.queue.worker_id if self.queue else None),
                retry_count=job.retry_count,
            )
        else:
            row["error_message"] = f"{info.get('file')}: {info.get('reason')}"
        if info.get("duration_ms") is not None:
            row["duration_ms"] = info["duration_ms"]
        error = info.get("error")
        if error:
            row["error_type"] = error.get("type")
            row["error_message"] = error.get("message")
        if self.queue is not None:
            stats = self.queue.stats(max_age=self.depth_every)
            row.update(
                pending=stats.pending,
                processing=stats.processing,
                done=stats.done,
                failed=stats.failed,
            )
        return row
