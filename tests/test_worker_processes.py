"""Real worker processes: races, SIGKILL, SIGSTOP past the lease, signals, budgets."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from fundkit.jobs import Job
from fundkit.queue import Queue

from conftest import run_cli, spawn_cli, wait_for

pytestmark = pytest.mark.slow


def log_lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_eight_processes_race_over_2000_jobs(home: Path, tmp_path: Path):
    log = tmp_path / "runs.log"
    q = Queue(home / "queue", durable=False)
    jobs = [
        Job(kind="noop", processing_config={"log": str(log)}, run_id="race") for _ in range(2000)
    ]
    for start in range(0, 2000, 250):  # several batches and single files, mixed
        q.enqueue_batch(jobs[start : start + 200])
        for job in jobs[start + 200 : start + 250]:
            q.enqueue(job)
    procs = [spawn_cli(home, "work", "--fast", "--json", "--no-wait") for _ in range(8)]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    runs = Counter(line[0] for line in log_lines(log))
    assert len(runs) == 2000 and set(runs.values()) == {1}  # each exactly once
    assert runs.keys() == {j.id for j in jobs}
    stats = q.stats()
    assert (stats.pending, stats.processing, stats.done, stats.failed) == (0, 0, 2000, 0)
    assert sum(r["done"] for r in reports) == 2000
    assert sum(1 for r in reports if r["done"]) >= 2  # the work really was shared


def test_sigkill_mid_job_is_recovered_and_completed(home: Path, tmp_path: Path):
    gate = tmp_path / "gate"
    q = Queue(home / "queue", durable=False)
    job = q.enqueue(Job(kind="wait", processing_config={"gate": str(gate)}))
    victim = spawn_cli(home, "work")
    wait_for(lambda: q.stats().processing == 1, what="the victim to claim the job")
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)
    gate.touch()
    result = run_cli(home, "work", "--retry-base", "0.05", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["recovered"] == 1 and report["done"] == 1
    [done] = q.jobs("done")
    assert done.id == job.id
    outcomes = [a["outcome"] for a in done.attempts]
    assert outcomes == ["crashed", "done"]
    assert done.attempts[0]["worker"] != done.attempts[1]["worker"]


def test_sigstopped_worker_past_its_lease_cannot_complete(home: Path, tmp_path: Path):
    gate = tmp_path / "gate"
    log = tmp_path / "runs.log"
    q = Queue(home / "queue", durable=False)
    job = q.enqueue(Job(kind="wait", processing_config={"gate": str(gate), "log": str(log)}))
    zombie = spawn_cli(home, "work", "--lease", "1", "--json")
    wait_for(lambda: q.stats().processing == 1, what="the zombie to claim the job")
    zombie.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1.3)  # past the lease
        gate.touch()
        rescuer = run_cli(home, "work", "--retry-base", "0.05", "--json")
        assert rescuer.returncode == 0, rescuer.stderr
        assert json.loads(rescuer.stdout)["done"] == 1
    finally:
        zombie.send_signal(signal.SIGCONT)
    out, err = zombie.communicate(timeout=30)
    assert zombie.returncode == 0, err
    zombie_report = json.loads(out)
    assert zombie_report["stale"] == 1 and zombie_report["done"] == 0
    assert "was taken over" in err
    # The handler ran twice (at-least-once), but the job is done exactly once.
    assert len(log_lines(log)) == 2
    [done] = q.jobs("done")
    assert done.id == job.id
    assert [a["outcome"] for a in done.attempts] == ["expired", "done"]
    assert q.stats().processing == 0 and q.stats().pending == 0


def test_reaper_in_a_tight_loop_never_takes_healthy_jobs(home: Path):
    q = Queue(home / "queue", durable=False)
    q.enqueue_batch([Job(kind="sleep", processing_config={"seconds": 0.3}) for _ in range(12)])
    workers = [spawn_cli(home, "work", "--lease", "2", "--json") for _ in range(3)]
    reaper = Queue(home / "queue", durable=False)
    false_recoveries = []
    reaps = 0
    while any(w.poll() is None for w in workers):
        report = reaper.reap()
        false_recoveries += report.recovered
        reaps += 1
    reaper.close()
    for w in workers:
        _, err = w.communicate()
        assert w.returncode == 0, err
    assert reaps > 50 and false_recoveries == []
    done = list(q.jobs("done"))
    assert len(done) == 12 and all(len(j.attempts) == 1 for j in done)


def test_poison_job_fails_after_max_retries_with_backoff(home: Path):
    q = Queue(home / "queue", durable=False)
    q.enqueue(Job(kind="fail", max_retries=3))
    result = run_cli(home, "work", "--retry-base", "0.2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["retried"], report["failed"]) == (3, 1)
    [failed] = q.jobs("failed")
    attempts = failed.error_details["attempts"]
    assert [a["outcome"] for a in attempts] == ["failed"] * 4
    for n in (1, 2, 3):  # the gap before retry n is at least half of 0.2 * 2**(n-1)
        gap = attempts[n]["started_at"] - attempts[n - 1]["ended_at"]
        assert gap >= 0.2 * 2 ** (n - 1) / 2 - 0.002, (n, gap)


def test_sigterm_finishes_the_current_job(home: Path, tmp_path: Path):
    q = Queue(home / "queue", durable=False)
    q.enqueue_batch([Job(kind="sleep", processing_config={"seconds": 0.6}) for _ in range(3)])
    worker = spawn_cli(home, "work", "--json")
    wait_for(lambda: q.stats().processing == 1, what="a claim")
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    report = json.loads(out)
    assert report["done"] == 1 and report["stop_reason"] == "signal"
    stats = q.stats()
    assert (stats.done, stats.pending, stats.processing) == (1, 2, 0)


def test_second_signal_releases_the_current_job(home: Path, tmp_path: Path):
    q = Queue(home / "queue", durable=False)
    job = q.enqueue(Job(kind="wait", processing_config={"gate": str(tmp_path / "never")}))
    worker = spawn_cli(home, "work", "--json")
    wait_for(lambda: q.stats().processing == 1, what="a claim")
    worker.send_signal(signal.SIGINT)
    time.sleep(0.2)
    worker.send_signal(signal.SIGINT)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert json.loads(out)["released"] == 1
    [back] = q.jobs("pending")
    assert back.id == job.id and back.retry_count == 0
    assert back.attempts[-1]["outcome"] == "released"


def test_max_jobs_is_shared_by_worker_processes(home: Path):
    q = Queue(home / "queue", durable=False)
    q.enqueue_batch([Job(kind="noop") for _ in range(40)])
    result = run_cli(home, "work", "--workers", "3", "--max-jobs", "10", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["workers"] == 3 and report["done"] == 10
    assert q.stats().done == 10 and q.stats().pending == 30


def test_time_budget_does_not_start_a_job_that_cannot_fit(home: Path):
    q = Queue(home / "queue", durable=False)
    q.enqueue_batch([Job(kind="sleep", processing_config={"seconds": 0.3}) for _ in range(20)])
    result = run_cli(home, "work", "--time-budget", "1.0", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["stop_reason"] == "time_budget"
    assert 1 <= report["done"] <= 3
    # Stopping early is the point: it must not overrun its budget by a whole job.
    assert report["elapsed_s"] < 1.0 + 0.3
    assert q.stats().processing == 0


def test_workers_record_every_transition_with_queue_depth(home: Path):
    from fundkit.store import Store

    q = Queue(home / "queue", durable=False)
    q.enqueue_batch([Job(kind="noop") for _ in range(5)])
    q.enqueue(Job(kind="fail", max_retries=1))
    result = run_cli(home, "work", "--workers", "2", "--retry-base", "0.05")
    assert result.returncode == 0, result.stderr
    with Store(home / "fundkit.db") as store:
        counts = store.event_counts(["claimed", "done", "retry", "failed"])
        events = store.job_events()
    assert counts == {"claimed": 7, "done": 5, "retry": 1, "failed": 1}
    done = [e for e in events if e["event"] == "done"]
    assert all(e["duration_ms"] is not None and e["pending"] is not None for e in done)
    assert all(
        e["error_type"] == "HandlerError" for e in events if e["event"] in ("retry", "failed")
    )


def test_sigkilled_worker_with_several_processes_loses_nothing(home: Path, tmp_path: Path):
    log = tmp_path / "runs.log"
    q = Queue(home / "queue", durable=False)
    q.enqueue_batch(
        [Job(kind="sleep", processing_config={"seconds": 0.05, "log": str(log)}) for _ in range(60)]
    )
    first = spawn_cli(home, "work", "--workers", "3", "--retry-base", "0.05")
    wait_for(lambda: len(log_lines(log)) >= 5, what="some progress")
    victims = q.claims()
    assert victims
    os.kill(int(victims[0].worker.split("-")[0][1:]), signal.SIGKILL)
    first.communicate(timeout=120)
    result = run_cli(home, "work", "--retry-base", "0.05", "--json")
    assert result.returncode == 0, result.stderr
    stats = q.stats()
    assert (stats.done, stats.pending, stats.processing, stats.failed) == (60, 0, 0, 0)
    assert {line[0] for line in log_lines(log)} == {j.id for j in q.jobs("done")}
