"""The pipeline through the real CLI and real worker processes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from fundkit.pipeline.dedupe import normalize_title
from fundkit.sources.sample_data import build_sample

from conftest import cli_env, run_cli

pytestmark = pytest.mark.slow


def expected_rows() -> int:
    """The sample's distinct opportunities by dedupe's rules: one row per normalised title."""
    hits, _ = build_sample()
    titles = {h["id"]: h["title"] for h in hits}
    return len({normalize_title(t) if len(t) >= 10 else f"id:{i}" for i, t in titles.items()})


def test_fetch_sample_then_work_stores_it_all_with_every_metric(home: Path):
    fetched = run_cli(home, "fetch", "sample", "--json")
    assert fetched.returncode == 0, fetched.stderr
    run_id = json.loads(fetched.stdout)["run_id"]
    work = run_cli(home, "work", "--workers", "2", "--json")
    assert work.returncode == 0, work.stderr
    assert "language-model backend: rules (ANTHROPIC_API_KEY is not set)" in work.stderr
    assert json.loads(work.stdout)["done"] == 68
    db = home / "fundkit.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT COUNT(*), SUM(included) FROM opportunities").fetchone()
        paths = dict(
            conn.execute("SELECT path_type, COUNT(*) FROM flow_paths GROUP BY path_type").fetchall()
        )
        stages = conn.execute(
            "SELECT COUNT(DISTINCT job_id), COUNT(*) FROM stage_metrics WHERE status='completed'"
        ).fetchone()
    assert rows[0] == expected_rows() and 0 < rows[1] < rows[0]
    assert paths["NEW"] == rows[0] and sum(paths.values()) == 340
    assert stages == (68, 68 * 5)
    show = json.loads(run_cli(home, "runs", "show", run_id, "--json").stdout)
    assert (
        show["status"] == "completed" and show["jobs_completed"] == 68 and show["jobs_failed"] == 0
    )
    assert list(show["totals"]["stages"]) == ["extract", "dedupe", "analyze", "filter", "store"]
    assert show["totals"]["outcomes"]["stored"] == rows[1]
    listed = json.loads(run_cli(home, "opportunities", "--json").stdout)
    everything = json.loads(run_cli(home, "opportunities", "--all", "--json").stdout)
    assert len(listed) == rows[1] and len(everything) == rows[0]
    assert all(o["included"] for o in listed) and any(not o["included"] for o in everything)
    assert {"external_id", "title", "award_ceiling", "close_date", "relevance_score"} <= set(
        listed[0]
    )
    again = run_cli(home, "fetch", "sample", "--json")
    run_cli(home, "work", "--json")
    with sqlite3.connect(db) as conn:
        second = dict(
            conn.execute(
                "SELECT path_type, COUNT(*) FROM flow_paths WHERE run_id = ? GROUP BY path_type",
                (json.loads(again.stdout)["run_id"],),
            ).fetchall()
        )
    assert second == {"SKIP": 340}


def test_a_worker_killed_after_storing_changes_nothing_on_retry(home: Path, tmp_path: Path):
    mods = tmp_path / "mods"
    mods.mkdir()
    marker = tmp_path / "crashed"
    (mods / "crash_after_store.py").write_text(
        "import os, signal\n"
        "from fundkit.handlers import register\n"
        "from fundkit.pipeline.run import handle_chunk\n"
        "@register('chunk')\n"
        "def crash_after_store(job, ctx):\n"
        "    result = handle_chunk(job, ctx)\n"
        f"    if not os.path.exists({str(marker)!r}):\n"
        f"        open({str(marker)!r}, 'w').close()\n"
        "        os.kill(os.getpid(), signal.SIGKILL)  # stored, not completed\n"
        "    return result\n"
    )
    assert run_cli(home, "fetch", "sample", "--chunk-size", "20").returncode == 0
    crashed = run_cli(
        home,
        "work",
        "--import",
        "crash_after_store",
        "--max-jobs",
        "1",
        env=cli_env(PYTHONPATH=str(mods)),
    )
    assert crashed.returncode == -9 and marker.exists()
    db = home / "fundkit.db"
    with sqlite3.connect(db) as conn:
        before = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT external_id) FROM opportunities"
        ).fetchone()
        stored_job = conn.execute("SELECT job_id FROM job_results").fetchall()
    assert len(stored_job) == 1 and before[0] == before[1] > 0
    resumed = run_cli(home, "work", "--retry-base", "0.05", "--json")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["recovered"] == 1 and report["failed"] == 0
    with sqlite3.connect(db) as conn:
        total, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT external_id) FROM opportunities"
        ).fetchone()
        first_job_rows = conn.execute(
            "SELECT COUNT(*) FROM flow_paths WHERE job_id = ?", (stored_job[0][0],)
        ).fetchone()[0]
    assert total == distinct == expected_rows()  # nothing twice
    assert first_job_rows == 20  # the retried job added no second set of flow paths


def test_the_sample_through_the_anthropic_backend_against_a_compatible_endpoint(home: Path):
    from fake_anthropic import FakeAnthropic

    key = "fake-anthropic-key-5c1e9b7d"
    with FakeAnthropic(auto=True) as fake:
        env = cli_env(ANTHROPIC_API_KEY=key, ANTHROPIC_BASE_URL=fake.url)
        fetched = run_cli(home, "fetch", "sample", "--json", env=env)
        run_id = json.loads(fetched.stdout)["run_id"]
        work = run_cli(home, "work", "--workers", "2", "--json", env=env)
        assert work.returncode == 0, work.stderr
        assert "language-model backend: anthropic (ANTHROPIC_API_KEY is set)" in work.stderr
        reported = {
            k: fake.total(k)
            for k in (
                "input_tokens",
                "output_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
            )
        }
        calls = len(fake.requests)
    assert json.loads(work.stdout)["done"] == 68
    show = json.loads(run_cli(home, "runs", "show", run_id, "--json").stdout)
    llm = show["totals"]["llm"]
    assert llm["calls"] == calls and calls >= 68  # one extraction per chunk, plus enhancements
    assert (llm["input_tokens"], llm["output_tokens"]) == (
        reported["input_tokens"],
        reported["output_tokens"],
    )
    assert llm["cache_read_tokens"] == reported["cache_read_input_tokens"] > 0
    assert llm["cache_write_tokens"] == reported["cache_creation_input_tokens"]
    assert llm["cost_usd"] > 0
    with sqlite3.connect(home / "fundkit.db") as conn:
        rows, summaries = conn.execute(
            "SELECT COUNT(*), COUNT(summary) FROM opportunities"
        ).fetchone()
        stage_tokens = conn.execute(
            "SELECT SUM(input_tokens) FROM stage_metrics WHERE status='completed'"
        ).fetchone()[0]
    assert rows == expected_rows() and summaries > 0
    assert stage_tokens == reported["input_tokens"]
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), f"the key leaked into {path}"


def test_metrics_frames_cover_the_run(home: Path):
    from fundkit import metrics

    assert run_cli(home, "fetch", "sample", "--chunk-size", "10").returncode == 0
    assert run_cli(home, "work", "--workers", "2").returncode == 0
    runs = metrics.runs(home)
    assert list(runs["status"]) == ["completed"] and runs["started_at"].dt.tz is not None
    stages = metrics.stages(home)
    assert (
        set(stages["stage"]) == {"extract", "dedupe", "analyze", "filter", "store"}
        and len(stages) == 34 * 5
    )
    jobs = metrics.jobs(home)
    assert (
        int(jobs["created"].iloc[0]) == int(jobs["done"].iloc[0]) == 34
        and jobs["avg_chunk_ms"].iloc[0] > 0
    )
    depth = metrics.queue_depth(home)
    assert {"pending", "processing", "done", "failed"} <= set(depth.columns) and len(depth) > 0
    assert len(metrics.flow_paths(home)) == 340 and len(metrics.dedupe_stats(home)) == 34
    assert metrics.llm_calls(home).empty  # the rules backend calls no model


def test_anthropic_without_a_key_is_one_clear_line(home: Path):
    result = run_cli(home, "work", "--llm", "anthropic")
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
    assert "ANTHROPIC_API_KEY" in result.stderr


def test_a_run_whose_last_job_dies_in_a_reap_is_closed_as_failed(home: Path):
    import time

    from fundkit.jobs import RetryPolicy
    from fundkit.queue import Queue
    from fundkit.store import EventRecorder, Store

    assert run_cli(home, "fetch", "sample", "--chunk-size", "340").returncode == 0  # one job
    with Store(home / "fundkit.db") as store:
        for _ in range(4):  # max_retries is 3: the fourth crash is the last
            recorder = EventRecorder(store)
            owner = Queue(
                home / "queue", durable=False, on_event=recorder, retry=RetryPolicy(0.01, 0.01)
            )
            recorder.queue = owner
            time.sleep(0.05)
            assert owner.claim() is not None
            owner.close()  # dies with the claim
            reaper = Queue(
                home / "queue", durable=False, on_event=recorder, retry=RetryPolicy(0.01, 0.01)
            )
            recorder.queue = reaper
            assert len(reaper.reap().recovered) == 1
            reaper.close()
    runs = json.loads(run_cli(home, "runs", "--json").stdout)
    assert runs[0]["status"] == "failed"
    show = json.loads(run_cli(home, "runs", "show", runs[0]["run_id"], "--json").stdout)
    assert (show["jobs_completed"], show["jobs_failed"]) == (0, 1)
