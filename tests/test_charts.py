"""Charts hold what the data says: bars, labels and lines checked against the DataFrames."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from fundkit import charts


def heights(ax) -> list[float]:
    return [p.get_height() for p in ax.patches if isinstance(p, Rectangle) and p.get_width() > 0]


@pytest.fixture
def stages() -> pd.DataFrame:
    rows = []
    for job in range(3):
        for i, stage in enumerate(charts.STAGE_ORDER):
            rows.append(
                {
                    "job_id": f"j{job}",
                    "stage": stage,
                    "status": "completed",
                    "duration_ms": 10.0 * (i + 1),
                    "input_tokens": 100 * (stage == "extract"),
                    "output_tokens": 20 * (stage == "extract"),
                    "cache_read_tokens": 0,
                    "cache_write_tokens": 0,
                    "cost_usd": 0.001 * (stage == "extract"),
                    "api_calls": int(stage == "extract"),
                }
            )
    rows.append(
        {
            "job_id": "j9",
            "stage": "extract",
            "status": "failed",
            "duration_ms": 999.0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "cost_usd": 0.0,
            "api_calls": 0,
        }
    )
    return pd.DataFrame(rows)


def test_stage_times_sums_completed_stages_in_pipeline_order(stages):
    fig = charts.stage_times(stages)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == charts.STAGE_ORDER
    assert heights(ax) == [30.0, 60.0, 90.0, 120.0, 150.0]  # the failed attempt is left out
    assert ax.get_ylabel() == "total time (ms)" and ax.get_title() == "Time per stage"
    charts.plt.close(fig)


def test_tokens_are_stacked_per_stage_with_calls_and_cost(stages):
    fig = charts.tokens_and_cost(stages)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["3 calls\n$0.0030"]  # stages without model calls are not labelled
    extract_bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_x() < 0.5]
    assert sum(p.get_height() for p in extract_bars) == 360  # 3 × (100 + 20)
    charts.plt.close(fig)


def test_flow_counts_each_path_and_outcome():
    paths = pd.DataFrame(
        {
            "path_type": ["NEW"] * 5 + ["UPDATE"] * 2 + ["SKIP"] * 3 + [None],
            "final_outcome": ["stored"] * 4
            + ["filtered_out"]
            + ["updated"] * 2
            + ["skipped"] * 3
            + ["failed"],
            "at": range(11),
        }
    )
    fig = charts.flow(paths)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["NEW", "UPDATE", "SKIP", "FAILED"]
    widths = sorted(
        p.get_width() for p in ax.patches if isinstance(p, Rectangle) and p.get_width() > 0
    )
    assert widths == [1, 1, 2, 3, 4]
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {
        "stored",
        "updated",
        "skipped",
        "filtered_out",
        "failed",
    }
    charts.plt.close(fig)


def test_jobs_and_chunk_times_follow_the_events():
    events = pd.DataFrame(
        {
            "event": ["created"] * 4 + ["claimed"] * 4 + ["done"] * 3 + ["retry", "failed"],
            "duration_ms": [None] * 8 + [10.0, 20.0, 30.0, 5.0, 5.0],
            "at": pd.date_range("2026-01-01", periods=13, freq="s", tz="UTC"),
            "run_id": "r",
        }
    )
    fig = charts.jobs(events)
    assert heights(fig.axes[0]) == [4, 3, 1, 1, 0]
    charts.plt.close(fig)
    fig = charts.chunk_times(events)
    ax = fig.axes[0]
    assert sum(heights(ax)) == 3  # one per completed job
    assert any("mean 20.0 ms" in t.get_text() for t in ax.get_legend().get_texts())
    charts.plt.close(fig)


def test_queue_depth_is_derived_exactly_from_events():
    events = pd.DataFrame(
        {
            "event": [
                "created",
                "created",
                "claimed",
                "done",
                "claimed",
                "retry",
                "claimed",
                "failed",
                "requeued",
            ],
            "at": pd.date_range("2026-01-01", periods=9, freq="s", tz="UTC"),
        }
    )
    depth = charts.depth_from_events(events)
    assert depth.iloc[-1][["pending", "processing", "done", "failed"]].tolist() == [1, 0, 1, 0]
    assert (
        depth["processing"].max() == 1
        and (depth[["pending", "processing", "done", "failed"]] >= 0).all().all()
    )
    fig = charts.queue_depth(depth)
    assert (
        len(fig.axes[0].get_lines()) == 4
        and fig.axes[0].get_xlabel() == "seconds since the first job event"
    )
    charts.plt.close(fig)


def test_chunk_size_advice_is_the_largest_chunk_that_fits():
    events = pd.DataFrame(
        {
            "event": ["done"] * 20,
            "run_id": "r",
            "duration_ms": [1000.0] * 19 + [2000.0],
            "at": pd.date_range("2026-01-01", periods=20, freq="s", tz="UTC"),
        }
    )
    runs = pd.DataFrame({"run_id": ["r"], "chunk_size": [5]})
    fig, advice = charts.chunk_size_advice(events, runs, target_s=60)
    # Per record: 200 ms in 19 jobs, 400 ms in one; the 95th percentile (linear) is 210 ms,
    # so 285 records fit in 60 s.
    assert advice["p95_record_ms"] == pytest.approx(210.0)
    assert advice["recommended_chunk_size"] == 285
    assert any(
        f"recommended: {advice['recommended_chunk_size']}" in t.get_text()
        for t in fig.axes[0].get_legend().get_texts()
    )
    charts.plt.close(fig)


def test_a_run_without_model_calls_says_so(stages):
    quiet = stages.assign(input_tokens=0, output_tokens=0, cost_usd=0.0, api_calls=0)
    fig = charts.tokens_and_cost(quiet)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["no model calls (the rules backend calls none)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == charts.STAGE_ORDER
    charts.plt.close(fig)


def test_empty_data_draws_an_explained_empty_chart():
    fig = charts.flow(pd.DataFrame())
    assert any("no flow paths" in t.get_text() for t in fig.axes[0].texts)
    charts.plt.close(fig)
