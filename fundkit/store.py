"""The SQLite store of a workspace: schema, migrations and the queries fundkit makes.

For now it holds ``job_events``: one row per job transition (created, claimed, done, retry,
failed, recovered, released, requeued, set_aside) with its timing and the queue depth at that
moment, which is what the "jobs", "chunk time" and "queue depth over time" charts read. Later
issues add the runs, stages and opportunities tables here.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

log = logging.getLogger("fundkit.store")

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
    # version 3: the chunk pipeline's results and metrics
    """
    CREATE TABLE opportunities (
        id INTEGER PRIMARY KEY,
        source_id TEXT NOT NULL,
        external_id TEXT NOT NULL,
        norm_title TEXT NOT NULL,
        opportunity_number TEXT,
        title TEXT NOT NULL,
        description TEXT,
        agency_code TEXT,
        agency_name TEXT,
        status TEXT,
        open_date TEXT,
        close_date TEXT,
        award_floor REAL,
        award_ceiling REAL,
        total_funding REAL,
        expected_awards INTEGER,
        cost_sharing INTEGER,
        applicant_types TEXT,
        funding_instruments TEXT,
        categories TEXT,
        assistance_listings TEXT,
        url TEXT,
        api_updated_at TEXT,
        relevance_score REAL,
        score_breakdown TEXT,
        summary TEXT,
        actionable_summary TEXT,
        tags TEXT,
        concerns TEXT,
        included INTEGER NOT NULL DEFAULT 1,
        filter_reason TEXT,
        run_id TEXT,
        job_id TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (source_id, external_id)
    );
    CREATE INDEX opportunities_title ON opportunities (source_id, norm_title);
    -- dedupe treats one normalised title (10+ characters) in a source as one opportunity;
    -- this keeps two workers from both inserting it
    CREATE UNIQUE INDEX opportunities_one_title ON opportunities (source_id, norm_title)
        WHERE length(norm_title) >= 10;
    CREATE TABLE flow_paths (
        id INTEGER PRIMARY KEY,
        run_id TEXT,
        job_id TEXT NOT NULL,
        source_id TEXT,
        external_id TEXT,
        title TEXT,
        path_type TEXT,
        path_reason TEXT,
        match_method TEXT,
        changed_fields TEXT,
        stages TEXT,
        final_outcome TEXT NOT NULL,
        relevance_score REAL,
        tokens INTEGER,
        cost_usd REAL,
        processing_ms REAL,
        at REAL NOT NULL
    );
    CREATE INDEX flow_paths_run ON flow_paths (run_id);
    CREATE INDEX flow_paths_job ON flow_paths (job_id);
    CREATE TABLE stage_metrics (
        job_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        run_id TEXT,
        stage TEXT NOT NULL,
        stage_order INTEGER,
        status TEXT NOT NULL,
        started_at REAL,
        duration_ms REAL,
        input_count INTEGER,
        output_count INTEGER,
        api_calls INTEGER,
        input_tokens INTEGER,
        output_tokens INTEGER,
        cache_read_tokens INTEGER,
        cache_write_tokens INTEGER,
        cost_usd REAL,
        details TEXT,
        PRIMARY KEY (job_id, attempt, stage)
    );
    CREATE INDEX stage_metrics_run ON stage_metrics (run_id);
    CREATE TABLE llm_calls (
        id INTEGER PRIMARY KEY,
        run_id TEXT,
        job_id TEXT,
        attempt INTEGER,
        stage TEXT,
        model TEXT,
        input_tokens INTEGER,
        output_tokens INTEGER,
        cache_read_tokens INTEGER,
        cache_write_tokens INTEGER,
        cost_usd REAL,
        duration_ms REAL,
        outcome TEXT,
        error TEXT,
        at REAL NOT NULL
    );
    CREATE INDEX llm_calls_run ON llm_calls (run_id);
    CREATE TABLE dedupe_stats (
        job_id TEXT PRIMARY KEY,
        run_id TEXT,
        checked INTEGER,
        new INTEGER,
        updates INTEGER,
        skips INTEGER,
        id_matches INTEGER,
        title_matches INTEGER,
        freshness_skips INTEGER,
        queries INTEGER,
        llm_bypassed INTEGER,
        duration_ms REAL
    );
    CREATE INDEX dedupe_stats_run ON dedupe_stats (run_id);
    CREATE TABLE job_results (
        job_id TEXT PRIMARY KEY,
        run_id TEXT,
        stored_at REAL NOT NULL,
        result TEXT NOT NULL
    );
    CREATE INDEX job_results_run ON job_results (run_id);
    ALTER TABLE runs ADD COLUMN jobs_completed INTEGER;
    ALTER TABLE runs ADD COLUMN jobs_failed INTEGER;
    ALTER TABLE runs ADD COLUMN closed_at REAL;
    ALTER TABLE runs ADD COLUMN totals TEXT;
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


JSON_FIELDS = (
    "applicant_types",
    "funding_instruments",
    "categories",
    "assistance_listings",
    "tags",
    "concerns",
    "score_breakdown",
)


def encode_opportunity(record: BaseModel) -> dict[str, Any]:
    """An Opportunity as column values: lists and the breakdown as JSON, booleans as 0/1."""
    data = record.model_dump(mode="json")
    for key in JSON_FIELDS:
        data[key] = json.dumps(data[key], ensure_ascii=False)
    if data["cost_sharing"] is not None:
        data["cost_sharing"] = int(data["cost_sharing"])
    return data


def decode_opportunity(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the canonical fields plus ``included`` and ``filter_reason``."""
    out = {k: v for k, v in row.items() if k not in ("id", "norm_title", "job_id")}
    for key in JSON_FIELDS:
        out[key] = (
            json.loads(row[key]) if row.get(key) else ({} if key == "score_breakdown" else [])
        )
    out["included"] = bool(row["included"])
    out["cost_sharing"] = None if row["cost_sharing"] is None else bool(row["cost_sharing"])
    return out


@dataclass
class ChunkWrite:
    """Everything one chunk job writes, in one transaction."""

    job_id: str
    run_id: str | None
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    flow_paths: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    dedupe: dict[str, Any] | None = None
    result: dict[str, Any] = field(default_factory=dict)
    store_stage: dict[str, Any] | None = None  # its duration_ms is measured by save_chunk


class Store:
    """One connection to the workspace's SQLite file (WAL, so several processes can write)."""

    def __init__(self, path: str | Path, timeout: float = 30.0):
        self.path = Path(path)
        self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        self._use_wal()
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _use_wal(self) -> None:
        """Switch a new database to WAL. SQLite answers "locked" at once, without its busy
        wait, while another process does the same on a database being created: wait here."""
        deadline = time.monotonic() + 30.0
        while True:
            try:
                if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

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

    # -- the chunk pipeline ------------------------------------------------------------------

    def lookup_opportunities(
        self, source_id: str, external_ids: Sequence[str], norm_titles: Sequence[str]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """Stored rows of a source by external id and by normalised title (two indexed queries)."""
        by_id: dict[str, dict[str, Any]] = {}
        by_title: dict[str, dict[str, Any]] = {}
        if external_ids:
            marks = ", ".join("?" for _ in external_ids)
            for row in self._rows(
                f"SELECT * FROM opportunities WHERE source_id = ? AND external_id IN ({marks})",
                (source_id, *external_ids),
            ):
                by_id[row["external_id"]] = row
        if norm_titles:
            marks = ", ".join("?" for _ in norm_titles)
            for row in self._rows(
                f"SELECT * FROM opportunities WHERE source_id = ? AND norm_title IN ({marks}) ORDER BY id",
                (source_id, *norm_titles),
            ):
                by_title.setdefault(row["norm_title"], row)
        return by_id, by_title

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def job_result(self, job_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT result FROM job_results WHERE job_id = ?", (job_id,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def save_chunk(self, chunk: ChunkWrite) -> bool:
        """Write a chunk's results and metrics in one transaction; False if the job was already
        stored (a retry after a crash between storing and completing): then nothing changes."""
        started = time.perf_counter()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if self.conn.execute(
                "SELECT 1 FROM job_results WHERE job_id = ?", (chunk.job_id,)
            ).fetchone():
                self.conn.execute("ROLLBACK")
                return False
            for row in chunk.inserts:
                cols = list(row)
                cur = self.conn.execute(
                    f"INSERT INTO opportunities ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
                    "ON CONFLICT DO NOTHING",
                    [row[c] for c in cols],
                )
                if cur.rowcount == 0:  # another job stored it since our dedupe looked
                    for path in chunk.flow_paths:
                        if path["external_id"] == row["external_id"] and path["path_type"] == "NEW":
                            path.update(
                                path_type="SKIP",
                                path_reason="stored_meanwhile_by_another_job",
                                final_outcome="skipped",
                            )
            for row_id, changes in chunk.updates:
                sets = ", ".join(f"{c} = ?" for c in changes)
                self.conn.execute(
                    f"UPDATE opportunities SET {sets}, updated_at = ? WHERE id = ?",
                    [*changes.values(), time.time(), row_id],
                )
            for path in chunk.flow_paths:
                outcome = path["final_outcome"]
                chunk.result[outcome] = chunk.result.get(outcome, 0) + 1
            self._insert_many("flow_paths", chunk.flow_paths)
            if chunk.store_stage is not None:
                chunk.store_stage["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            self._write_attempt(chunk.stages, chunk.calls)
            self._insert_many("dedupe_stats", [chunk.dedupe] if chunk.dedupe else [], replace=True)
            self.conn.execute(
                "INSERT INTO job_results (job_id, run_id, stored_at, result) VALUES (?, ?, ?, ?)",
                (chunk.job_id, chunk.run_id, time.time(), json.dumps(chunk.result)),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return True

    def save_failed_attempt(
        self, stages: list[dict[str, Any]], calls: list[dict[str, Any]]
    ) -> None:
        """A failed attempt's stage metrics and model calls: the tokens were paid for."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self._write_attempt(stages, calls)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _write_attempt(self, stages: list[dict[str, Any]], calls: list[dict[str, Any]]) -> None:
        self._insert_many("stage_metrics", stages, replace=True)
        self._insert_many("llm_calls", calls)

    def _insert_many(self, table: str, rows: list[dict[str, Any]], replace: bool = False) -> None:
        if not rows:
            return
        cols = list(rows[0])
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        self.conn.executemany(
            f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [[r.get(c) for c in cols] for r in rows],
        )

    def close_run_if_done(self, run_id: str) -> str | None:
        """Close a run once each of its jobs is stored or has failed for good; return its status."""
        row = self.conn.execute(
            "SELECT jobs_created FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        stored = self.conn.execute(
            "SELECT COUNT(*) FROM job_results WHERE run_id = ?", (run_id,)
        ).fetchone()[0]
        failed = self.conn.execute(
            "SELECT COUNT(DISTINCT job_id) FROM job_events WHERE run_id = ? AND event = 'failed' "
            "AND job_id NOT IN (SELECT job_id FROM job_results WHERE run_id = ?)",
            (run_id, run_id),
        ).fetchone()[0]
        if stored + failed < row[0]:
            return None
        status = "completed" if not failed else "failed" if not stored else "completed_with_errors"
        totals = self.run_totals(run_id)
        self.conn.execute(
            "UPDATE runs SET status = ?, jobs_completed = ?, jobs_failed = ?, closed_at = ?, totals = ? "
            "WHERE run_id = ?",
            (status, stored, failed, time.time(), json.dumps(totals), run_id),
        )
        return status

    def run_totals(self, run_id: str) -> dict[str, Any]:
        """Stage times and counts, tokens, cost and flow outcomes of a run, from its rows."""
        stages = {
            r["stage"]: r
            for r in self._rows(
                "SELECT stage, COUNT(*) AS attempts, SUM(duration_ms) AS duration_ms, "
                "SUM(input_count) AS input_count, SUM(output_count) AS output_count, "
                "SUM(api_calls) AS api_calls FROM stage_metrics WHERE run_id = ? AND status = 'completed' "
                "GROUP BY stage ORDER BY MIN(stage_order)",
                (run_id,),
            )
        }
        tokens = self._rows(
            "SELECT COUNT(*) AS calls, COALESCE(SUM(input_tokens), 0) AS input_tokens, "
            "COALESCE(SUM(output_tokens), 0) AS output_tokens, COALESCE(SUM(cache_read_tokens), 0) "
            "AS cache_read_tokens, COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens, "
            "COALESCE(SUM(cost_usd), 0) AS cost_usd FROM llm_calls WHERE run_id = ?",
            (run_id,),
        )[0]
        flows = {
            r["final_outcome"]: r["n"]
            for r in self._rows(
                "SELECT final_outcome, COUNT(*) AS n FROM flow_paths WHERE run_id = ? GROUP BY final_outcome",
                (run_id,),
            )
        }
        paths = {
            r["path_type"]: r["n"]
            for r in self._rows(
                "SELECT path_type, COUNT(*) AS n FROM flow_paths WHERE run_id = ? GROUP BY path_type",
                (run_id,),
            )
        }
        return {"stages": stages, "llm": tokens, "outcomes": flows, "paths": paths}

    def run(self, run_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            return None
        run = rows[0]
        for key in ("config", "totals"):
            if run.get(key):
                run[key] = json.loads(run[key])
        return run

    def opportunities(
        self, source_id: str | None = None, include_filtered: bool = False
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM opportunities WHERE 1 = 1"
        params: list[Any] = []
        if source_id:
            sql += " AND source_id = ?"
            params.append(source_id)
        if not include_filtered:
            sql += " AND included = 1"
        return [
            decode_opportunity(r)
            for r in self._rows(sql + " ORDER BY relevance_score DESC, id", params)
        ]

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

    Events are metrics, never a reason to stop a worker: when the store stays locked past the
    connection's timeout (another process paused in mid-write holds it), the rows wait in a
    backlog, written with the next event or by :meth:`flush`.
    """

    BACKLOG_LIMIT = 10_000

    def __init__(self, store: Store, depth_every: float | None = None):
        self.store = store
        self.depth_every = depth_every  # None: 10x what a count costs, at least 0.1 s
        self.queue: Any = None  # set by the caller once the queue exists
        self._count_cost = 0.0
        self._backlog: list[dict[str, Any]] = []

    def __call__(self, event: str, job: Any, info: dict[str, Any]) -> None:
        batch = "jobs" in info  # a batch: one row per job
        jobs = info.get("jobs", [job])
        for start in range(0, len(jobs), 1000):  # a transaction per thousand
            chunk = jobs[start : start + 1000]
            self._backlog += [self._row(event, j, {} if batch else info) for j in chunk]
            if not self.flush():
                break

    def flush(self) -> bool:
        """Write the waiting rows; False (and they keep waiting) while the store is locked."""
        if not self._backlog:
            return True
        try:
            self.store.add_job_events(self._backlog)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            if len(self._backlog) > self.BACKLOG_LIMIT:
                del self._backlog[: len(self._backlog) - self.BACKLOG_LIMIT]
            log.warning(
                "job events wait: the store is locked (%d rows waiting)", len(self._backlog)
            )
            return False
        self._backlog.clear()
        return True

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
            every = (
                self.depth_every
                if self.depth_every is not None
                else max(0.1, 10 * self._count_cost)
            )
            started = time.perf_counter()
            stats = self.queue.stats(max_age=every)
            if stats.at >= time.time() - 0.001:  # a fresh count: learn what it costs
                self._count_cost = time.perf_counter() - started
            row.update(
                pending=stats.pending,
                processing=stats.processing,
                done=stats.done,
                failed=stats.failed,
            )
        return row
