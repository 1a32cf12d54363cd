"""Charts of a run, from the DataFrames of :mod:`fundkit.metrics`.

Each function takes DataFrames and returns a matplotlib Figure; the caller saves and closes it
(:func:`save`). The Agg backend is used, so charts draw without a screen (cron, CI, kernels).
Every chart has a title, axis labels and the numbers on it, so that someone who never opens a
notebook can read a run from its PNGs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

STAGE_ORDER = ["extract", "dedupe", "analyze", "filter", "store"]
OUTCOMES = ["stored", "updated", "skipped", "filtered_out", "failed"]


def _figure(title: str, size: tuple[float, float] = (8, 4.2)) -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=size)
    ax.set_title(title)
    return fig, ax


def _bars(ax: Any, labels: list[str], values: list[float], fmt: str = "{:,.0f}") -> None:
    bars = ax.bar(labels, values, color="#4477aa")
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            fmt.format(value),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def stage_times(stages: pd.DataFrame) -> Figure:
    """Total time per pipeline stage (ms), in pipeline order."""
    fig, ax = _figure("Time per stage")
    done = stages[stages["status"] == "completed"] if not stages.empty else stages
    totals = (
        done.groupby("stage")["duration_ms"].sum() if not done.empty else pd.Series(dtype=float)
    )
    labels = [s for s in STAGE_ORDER if s in totals.index]
    _bars(ax, labels, [float(totals[s]) for s in labels], "{:,.1f}")
    ax.set_xlabel("stage")
    ax.set_ylabel("total time (ms)")
    if not labels:
        _empty(ax, "no stage metrics")
    return fig


def tokens_and_cost(stages: pd.DataFrame) -> Figure:
    """Tokens (input, output, cache read, cache write) and cost per stage, with API calls."""
    fig, ax = _figure("Tokens, cost and model calls per stage")
    labels = [s for s in STAGE_ORDER if not stages.empty and s in set(stages["stage"])]
    kinds = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"]
    sums: Any = stages.groupby("stage")[[*kinds, "cost_usd", "api_calls"]].sum() if labels else None
    if sums is None or float(sums[kinds].to_numpy().sum()) == 0:
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylim(0, 1)
        _empty(ax, "no model calls (the rules backend calls none)")
        ax.set_xlabel("stage")
        ax.set_ylabel("tokens")
        return fig
    bottom = [0.0] * len(labels)
    for kind in kinds:
        values = [float(sums.loc[s, kind]) for s in labels]
        ax.bar(labels, values, bottom=bottom, label=kind.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for i, stage in enumerate(labels):
        calls, cost = int(sums.loc[stage, "api_calls"]), float(sums.loc[stage, "cost_usd"])
        if calls:
            ax.annotate(
                f"{calls} calls\n${cost:.4f}", (i, bottom[i]), ha="center", va="bottom", fontsize=8
            )
    ax.set_xlabel("stage")
    ax.set_ylabel("tokens")
    ax.legend(fontsize=8, loc="upper right")
    return fig


def flow_counts(paths: pd.DataFrame) -> pd.DataFrame:
    """Opportunities per dedupe path (rows; FAILED: extraction failures) and outcome (columns)."""
    if paths.empty:
        return pd.DataFrame()
    table = paths.assign(path=paths["path_type"].fillna("FAILED")).pivot_table(
        index="path", columns="final_outcome", values="at", aggfunc="count", fill_value=0
    )
    return table.loc[[p for p in ["NEW", "UPDATE", "SKIP", "FAILED"] if p in table.index]]


def flow(paths: pd.DataFrame) -> Figure:
    """Opportunity flow: NEW / UPDATE / SKIP (and extraction failures) → final outcome."""
    fig, ax = _figure("Opportunity flow: path → outcome")
    if paths.empty:
        _empty(ax, "no flow paths")
        return fig
    table = flow_counts(paths)
    table = table[[o for o in OUTCOMES if o in table.columns]]  # legend in pipeline order
    order = list(table.index)
    left = [0.0] * len(order)
    for outcome in table.columns:
        values = [float(v) for v in table[outcome]]
        ax.barh(order, values, left=left, label=outcome)
        for i, value in enumerate(values):
            if value:
                ax.annotate(
                    f"{int(value)}", (left[i] + value / 2, i), ha="center", va="center", fontsize=8
                )
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("opportunities")
    ax.set_ylabel("dedupe path")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def dedupe(stats: pd.DataFrame) -> Figure:
    """Duplicate detection: new, updates, skips and how matches were found."""
    fig, ax = _figure("Duplicate detection")
    columns = ["new", "updates", "skips", "id_matches", "title_matches", "freshness_skips"]
    values = [float(stats[c].sum()) if not stats.empty else 0.0 for c in columns]
    _bars(ax, [c.replace("_", " ") for c in columns], values)
    ax.set_xlabel("")
    ax.set_ylabel("records")
    ax.tick_params(axis="x", labelrotation=20)
    return fig


def jobs(events: pd.DataFrame) -> Figure:
    """Jobs created, completed, retried and failed."""
    fig, ax = _figure("Jobs")
    names = {
        "created": "created",
        "done": "completed",
        "retry": "retried",
        "failed": "failed",
        "recovered": "recovered",
    }
    counts = events["event"].value_counts() if not events.empty else pd.Series(dtype=int)
    _bars(ax, list(names.values()), [float(counts.get(e, 0)) for e in names])
    ax.set_ylabel("jobs")
    return fig


def chunk_times(events: pd.DataFrame) -> Figure:
    """Distribution of chunk processing times (claim to completion)."""
    fig, ax = _figure("Chunk processing time")
    done = (
        events[events["event"] == "done"]["duration_ms"].dropna()
        if not events.empty
        else pd.Series(dtype=float)
    )
    if done.empty:
        _empty(ax, "no completed jobs")
    else:
        ax.hist(done, bins=min(30, max(5, len(done) // 3)), color="#4477aa")
        p95 = float(done.quantile(0.95))
        ax.axvline(
            float(done.mean()), color="black", linestyle="--", label=f"mean {done.mean():.1f} ms"
        )
        ax.axvline(p95, color="red", linestyle=":", label=f"95th percentile {p95:.1f} ms")
        ax.legend(fontsize=8)
    ax.set_xlabel("time per chunk (ms)")
    ax.set_ylabel("jobs")
    return fig


DEPTH_MOVES = {  # event -> (state left, state entered)
    "created": (None, "pending"),
    "claimed": ("pending", "processing"),
    "done": ("processing", "done"),
    "retry": ("processing", "pending"),
    "released": ("processing", "pending"),
    "recovered": ("processing", "pending"),
    "failed": ("processing", "failed"),
    "requeued": ("failed", "pending"),
}


def depth_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """Exact pending/processing/done/failed counts after each job event (one run's events)."""
    counts = {"pending": 0, "processing": 0, "done": 0, "failed": 0}
    rows = []
    for at, event in events.sort_values("at")[["at", "event"]].itertuples(index=False):
        left, entered = DEPTH_MOVES.get(event, (None, None))
        if left:
            counts[left] -= 1
        if entered:
            counts[entered] += 1
        rows.append({"at": at, **counts})
    return pd.DataFrame(rows, columns=["at", *counts])


def queue_depth(depth: pd.DataFrame) -> Figure:
    """Pending, processing, done and failed jobs over time (see :func:`depth_from_events`)."""
    fig, ax = _figure("Queue depth over time")
    if depth.empty:
        _empty(ax, "no job events")
    else:
        seconds = (depth["at"] - depth["at"].iloc[0]).dt.total_seconds()
        for column in ["pending", "processing", "done", "failed"]:
            ax.plot(seconds, depth[column], label=column, drawstyle="steps-post")
        ax.legend(fontsize=8)
    ax.set_xlabel("seconds since the first job event")
    ax.set_ylabel("jobs")
    return fig


def total_time(run: pd.Series, events: pd.DataFrame) -> Figure:
    """Where a run's time went: fetching, waiting in the queue, processing."""
    fig, ax = _figure("Total pipeline time", size=(8, 2.8))
    fetch_s = float(run.get("fetch_ms") or 0) / 1000
    claimed = (
        events[events["event"] == "claimed"]["at"] if not events.empty else pd.Series(dtype=object)
    )
    done = (
        events[events["event"].isin(["done", "failed"])]["at"]
        if not events.empty
        else pd.Series(dtype=object)
    )
    started = run.get("started_at")
    wait_s = (
        (claimed.min() - started).total_seconds() - fetch_s
        if len(claimed) and started is not None
        else 0.0
    )
    work_s = (done.max() - claimed.min()).total_seconds() if len(done) and len(claimed) else 0.0
    parts = [
        ("fetch", fetch_s),
        ("until the first claim", max(0.0, wait_s)),
        ("processing", work_s),
    ]
    left = 0.0
    for label, value in parts:
        ax.barh(["run"], [value], left=left, label=f"{label}: {value:.2f} s")
        left += value
    ax.set_xlabel(f"seconds (total {left:.2f} s)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3)
    fig.subplots_adjust(bottom=0.45)
    return fig


def chunk_size_advice(
    events: pd.DataFrame, runs: pd.DataFrame, target_s: float = 60.0
) -> tuple[Figure, dict[str, Any]]:
    """From measured per-record times, the largest chunk size whose 95th-percentile job time
    fits ``target_s``; the chart shows the per-record times and the time a chunk would take."""
    fig, ax = _figure(f"Chunk size advice (target {target_s:g} s per job)")
    advice: dict[str, Any] = {
        "target_s": target_s,
        "recommended_chunk_size": None,
        "p95_record_ms": None,
    }
    done = events[events["event"] == "done"] if not events.empty else events
    if done.empty or runs.empty:
        _empty(ax, "no completed jobs to learn from")
        return fig, advice
    size = runs.set_index("run_id")["chunk_size"]
    per_record = (done["duration_ms"] / done["run_id"].map(size)).dropna()
    p95 = float(per_record.quantile(0.95))
    recommended = max(1, min(1000, math.floor(target_s * 1000 / p95))) if p95 > 0 else 1000
    advice.update(
        recommended_chunk_size=recommended, p95_record_ms=round(p95, 3), samples=len(per_record)
    )
    sizes = sorted({1, 5, 10, 20, 50, 100, 200, 500, 1000, recommended})
    ax.plot(sizes, [n * p95 / 1000 for n in sizes], marker="o", label="95th-percentile job time")
    ax.axhline(target_s, color="red", linestyle=":", label=f"target {target_s:g} s")
    ax.axvline(
        recommended, color="green", linestyle="--", label=f"recommended: {recommended} per job"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("opportunities per job (chunk size)")
    ax.set_ylabel("seconds per job")
    ax.legend(fontsize=8)
    ax.text(
        0.99,
        0.03,
        f"per record: p95 {p95:.2f} ms over {len(per_record)} jobs",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=8,
    )
    return fig, advice


def save(fig: Figure, path: Path) -> Path:
    """Write a figure as PNG and close it (pyplot keeps open figures alive)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
