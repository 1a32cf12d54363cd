"""The store's metrics as pandas DataFrames, for notebooks and charts.

Every table the pipeline writes, one function each, plus two derived views: the queue depth
over time (from job events) and per-run job counts. Times are pandas timestamps (UTC).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from fundkit.workspace import Workspace

TIME_COLUMNS = (
    "at",
    "started_at",
    "finished_at",
    "closed_at",
    "stored_at",
    "created_at",
    "updated_at",
)


def _frame(home: str | Path | None, sql: str) -> pd.DataFrame:
    path = Workspace.resolve(home).db_path
    if not path.exists():
        return pd.DataFrame()
    with sqlite3.connect(path) as conn:
        frame = pd.read_sql_query(sql, conn)
    for column in TIME_COLUMNS:
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    return frame


def runs(home: str | Path | None = None) -> pd.DataFrame:
    """One row per run: fetch figures, status, job counts and totals (JSON)."""
    return _frame(home, "SELECT * FROM runs ORDER BY started_at")


def stages(home: str | Path | None = None) -> pd.DataFrame:
    """One row per stage per job attempt: time, counts, model calls, tokens, cost."""
    return _frame(home, "SELECT * FROM stage_metrics ORDER BY started_at")


def llm_calls(home: str | Path | None = None) -> pd.DataFrame:
    """One row per model call, with the tokens its response reported and its outcome."""
    return _frame(home, "SELECT * FROM llm_calls ORDER BY at")


def flow_paths(home: str | Path | None = None) -> pd.DataFrame:
    """One row per opportunity per job: NEW/UPDATE/SKIP, stages visited, final outcome."""
    return _frame(home, "SELECT * FROM flow_paths ORDER BY id")


def dedupe_stats(home: str | Path | None = None) -> pd.DataFrame:
    return _frame(home, "SELECT * FROM dedupe_stats")


def job_events(home: str | Path | None = None) -> pd.DataFrame:
    """Every job transition (created, claimed, done, retry, failed, ...) with the queue depth."""
    return _frame(home, "SELECT * FROM job_events ORDER BY id")


def queue_depth(home: str | Path | None = None) -> pd.DataFrame:
    """Pending/processing/done/failed counts over time, as sampled at job events."""
    events = job_events(home)
    if events.empty:
        return events
    columns = ["at", "pending", "processing", "done", "failed"]
    return events.dropna(subset=["pending"])[columns].reset_index(drop=True)


def jobs(home: str | Path | None = None) -> pd.DataFrame:
    """Per run: jobs created, completed and failed, and the average chunk time (ms)."""
    events = job_events(home)
    if events.empty:
        return events
    counts = events.pivot_table(
        index="run_id", columns="event", values="job_id", aggfunc="count", fill_value=0
    )
    done = (
        events[events["event"] == "done"]
        .groupby("run_id")["duration_ms"]
        .mean()
        .rename("avg_chunk_ms")
    )
    return counts.join(done).reset_index()


def opportunities(home: str | Path | None = None) -> pd.DataFrame:
    return _frame(home, "SELECT * FROM opportunities ORDER BY relevance_score DESC")
