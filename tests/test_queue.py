from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest

from fundkit import queue as queue_module
from fundkit.errors import (
    JobNotFoundError,
    QueueError,
    QueueWriteError,
    SecretInJobError,
    StaleClaimError,
)
from fundkit.jobs import Job, JobStatus, PendingName
from fundkit.queue import Queue

from conftest import FAST_RETRY, files


def names(q: Queue, state: str) -> list[str]:
    return sorted(p.name for p in q._files(state))


def test_enqueue_then_claim_then_complete(queue: Queue):
    job = queue.enqueue(Job(kind="noop", raw_data=[1, 2], run_id="r1"))
    assert names(queue, "pending") == [job.name.filename]
    assert files(queue.dir("tmp")) == []

    claimed = queue.claim()
    assert claimed is not None and claimed.id == job.id
    assert claimed.status is JobStatus.PROCESSING
    assert claimed.token and claimed.token.startswith(queue.worker_id)
    [processing] = names(queue, "processing")
    assert processing.startswith(job.name.stem + "~" + queue.worker_id)
    assert names(queue, "pending") == []

    queue.complete(claimed, {"items": 2})
    [done] = queue.dir("done").iterdir()
    first, patch = [json.loads(line) for line in done.read_text().splitlines()]
    assert first["status"] == "pending" and first["raw_data"] == [1, 2]  # as enqueued
    assert patch["status"] == "done" and patch["attempt"]["outcome"] == "done"
    final = Job.from_bytes(done.read_bytes(), done)
    assert final.status is JobStatus.DONE and final.result == {"items": 2}
    assert final.completed_at and final.started_at and final.token == claimed.token
    assert [a["outcome"] for a in final.attempts] == ["done"]
    assert files(queue.dir("tmp")) == [] and names(queue, "processing") == []
    assert queue.claim() is None


def test_claim_order_is_priority_then_oldest_and_skips_not_yet_due(queue: Queue):
    low = queue.enqueue(Job(kind="noop", priority=-1))
    old = queue.enqueue(Job(kind="noop"))
    new = queue.enqueue(Job(kind="noop"))
    later = queue.enqueue(Job(kind="noop", priority=9, not_before=time.time() + 60))
    high = queue.enqueue(Job(kind="noop", priority=5))
    order = []
    while (job := queue.claim()) is not None:
        order.append(job.id)
        queue.complete(job)
    assert order == [high.id, old.id, new.id, low.id]
    assert names(queue, "pending") == [later.name.filename]
    assert 59 < queue.next_due() - time.time() <= 60


def test_claim_sees_jobs_enqueued_after_its_listing(queue: Queue, home: Path):
    other = Queue(home / "queue", durable=False)
    queue.enqueue(Job(kind="noop"))
    first = queue.claim()
    late = other.enqueue(Job(kind="noop"))
    second = queue.claim()
    assert first is not None and second is not None and second.id == late.id


def test_fail_retries_with_backoff_then_dead_letters(queue: Queue):
    job = queue.enqueue(Job(kind="fail", max_retries=2))
    for retry in (1, 2):
        claimed = queue.claim()
        assert claimed is not None
        before = time.time()
        queue.fail(claimed, RuntimeError(f"boom {retry}"))
        [pending] = queue.jobs("pending")
        assert pending.retry_count == retry
        low, high = FAST_RETRY.bounds(retry)
        assert before + low <= pending.not_before <= time.time() + high
        assert pending.error_details["message"] == f"boom {retry}"
        assert queue.claim() is None or pending.not_before <= time.time()  # not before its time
        time.sleep(pending.not_before - time.time() + 0.01)
    claimed = queue.claim()
    queue.fail(claimed, RuntimeError("boom 3"))
    [failed] = queue.jobs("failed")
    assert failed.id == job.id and failed.status is JobStatus.FAILED
    details = failed.error_details
    assert details["type"] == "RuntimeError" and "boom 3" in details["traceback"]
    assert [a["outcome"] for a in details["attempts"]] == ["failed"] * 3
    assert names(queue, "pending") == names(queue, "processing") == []


def test_release_returns_the_job_without_counting_an_attempt(queue: Queue):
    queue.enqueue(Job(kind="noop"))
    job = queue.claim()
    queue.release(job)
    [back] = queue.jobs("pending")
    assert back.retry_count == 0 and back.not_before is None
    assert back.attempts[-1]["outcome"] == "released"
    assert queue.claim().id == back.id


def test_batch_appears_whole(queue: Queue):
    jobs = [Job(kind="noop", run_id="r9", chunk_index=i, total_chunks=50) for i in range(50)]
    queue.enqueue_batch(jobs)
    [batch_dir] = [p for p in queue.dir("pending").iterdir()]
    assert batch_dir.is_dir() and len(list(batch_dir.iterdir())) == 50
    assert queue.stats().runs == {"r9": {"pending": 50}}
    claimed = {queue.claim().chunk_index for _ in range(50)}
    assert claimed == set(range(50))


def test_batch_that_fails_midway_leaves_nothing(queue: Queue, monkeypatch):
    real_write = queue._write_file
    calls = {"n": 0}

    def flaky_write(path, data):
        calls["n"] += 1
        if calls["n"] == 7:
            raise QueueWriteError(path, "write", OSError(errno.ENOSPC, "No space left on device"))
        real_write(path, data)

    monkeypatch.setattr(queue, "_write_file", flaky_write)
    with pytest.raises(QueueWriteError, match="No space left"):
        queue.enqueue_batch([Job(kind="noop") for _ in range(20)])
    assert files(queue.dir("pending")) == [] and files(queue.dir("tmp")) == []


@pytest.mark.parametrize(
    ("target", "err"),
    [("fsync", errno.ENOSPC), ("write", errno.EIO), ("rename", errno.ENOSPC)],
)
def test_disk_errors_on_enqueue_leave_no_partial_file(home: Path, monkeypatch, target, err):
    q = Queue(home / "queue", durable=True)
    real = getattr(os, target)

    def broken(*args, **kwargs):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(queue_module.os, target, broken)
    with pytest.raises(QueueWriteError) as info:
        q.enqueue(Job(kind="noop"))
    monkeypatch.setattr(queue_module.os, target, real)
    assert info.value.errno == err and os.strerror(err) in str(info.value)
    assert files(q.dir("pending")) == [] and files(q.dir("tmp")) == []


def test_secrets_never_reach_the_disk(queue: Queue):
    with pytest.raises(SecretInJobError):
        queue.enqueue(Job(kind="noop", processing_config={"api_key": "fake-key-abcdefgh"}))
    assert files(queue.root) == []


CORRUPT = {
    "truncated": b'{"schema": 1, "id": "aa", "kind": "no',
    "empty": b"",
    "latin1": b'{"schema": 1, "title": "caf\xe9"}',
    "array": b"[1, 2, 3]",
    "noschema": b'{"id": "aa", "kind": "noop"}',
    "future": b'{"schema": 7, "id": "aa", "kind": "noop"}',
}


def test_corrupt_files_are_set_aside_and_the_worker_keeps_going(queue: Queue):
    for i, content in enumerate(CORRUPT.values()):
        name = PendingName(5, 1000 + i, None, f"bad{i}").filename  # ahead of the good job
        (queue.dir("pending") / name).write_bytes(content)
    (queue.dir("pending") / "README.txt").write_text("not a job")
    good = queue.enqueue(Job(kind="noop"))
    claimed = queue.claim()
    assert claimed is not None and claimed.id == good.id
    reasons = sorted(s.reason for s in queue.set_aside_files())
    assert len(reasons) == 7
    for expected in (
        "truncated or invalid JSON",
        "empty file",
        "not UTF-8",
        "not a JSON object",
        "no schema version",
        "unknown schema version 7",
        "not a job file name",
    ):
        assert any(r.startswith(expected) for r in reasons), expected
    assert queue.stats().corrupt == 7
    assert names(queue, "pending") == []


def test_a_claim_taken_over_cannot_complete(home: Path):
    owner = Queue(home / "queue", durable=False, lease_seconds=0.05, retry=FAST_RETRY)
    reaper = Queue(home / "queue", durable=False, retry=FAST_RETRY)
    owner.enqueue(Job(kind="noop"))
    job = owner.claim()
    time.sleep(0.1)
    report = reaper.reap()
    stale = owner.claim()  # nothing: the job waits out its backoff
    assert stale is None
    assert report.expired == [job.id] and report.recovered == [job.id]
    time.sleep(0.25)
    again = reaper.claim()
    reaper.complete(again)
    with pytest.raises(StaleClaimError):
        owner.complete(job)
    assert job.status is JobStatus.PROCESSING  # nothing was recorded as done
    with pytest.raises(QueueError, match="not claimed"):
        owner.complete(job)  # and the claim is forgotten
    [done] = list(reaper.jobs("done"))
    assert [a["outcome"] for a in done.attempts] == ["expired", "done"]
    assert names(owner, "processing") == [] and names(owner, "pending") == []
    owner.close()
    reaper.close()


def test_heartbeat_on_a_claim_taken_over_is_refused(home: Path):
    owner = Queue(home / "queue", durable=False, lease_seconds=0.05)
    reaper = Queue(home / "queue", durable=False)
    owner.enqueue(Job(kind="noop"))
    job = owner.claim()
    time.sleep(0.1)
    assert reaper.reap().expired == [job.id]
    with pytest.raises(StaleClaimError):
        owner.heartbeat(job)


def test_heartbeat_keeps_a_long_job_from_being_reaped(home: Path):
    owner = Queue(home / "queue", durable=False, lease_seconds=0.2)
    reaper = Queue(home / "queue", durable=False)
    owner.enqueue(Job(kind="noop"))
    job = owner.claim()
    for _ in range(5):
        time.sleep(0.1)
        owner.heartbeat(job)
        assert reaper.reap().recovered == []
    owner.complete(job)
    assert len(list(owner.jobs("done"))) == 1


def test_claims_of_a_closed_worker_are_recovered_at_once(home: Path):
    owner = Queue(home / "queue", durable=False, retry=FAST_RETRY)
    owner.enqueue(Job(kind="noop"))
    job = owner.claim()
    owner.close()  # like a process death: its flock is gone, the claim is orphaned
    reaper = Queue(home / "queue", durable=False, retry=FAST_RETRY)
    report = reaper.reap()
    assert report.crashed_workers == [owner.worker_id] and report.recovered == [job.id]
    [back] = reaper.jobs("pending")
    assert back.retry_count == 1 and back.attempts[-1]["outcome"] == "crashed"
    assert not (reaper.dir("locks") / f"{owner.worker_id}.lock").exists()
    reaper.close()


def test_requeue_moves_failed_jobs_back(queue: Queue):
    queue.enqueue(Job(kind="fail", max_retries=0))
    queue.fail(queue.claim(), ValueError("bad"))
    [failed] = queue.jobs("failed")
    with pytest.raises(JobNotFoundError):
        queue.requeue(["nosuchjob"])
    [moved] = queue.requeue([failed.id])
    [pending] = queue.jobs("pending")
    assert pending.id == moved.id == failed.id
    assert pending.retry_count == 0 and pending.status is JobStatus.PENDING
    assert len(pending.attempts) == 1


def test_stats_count_states_runs_and_the_oldest_pending(queue: Queue):
    queue.enqueue_batch([Job(kind="noop", run_id="a") for _ in range(3)])
    queue.enqueue(Job(kind="noop", run_id="b", not_before=time.time() + 30))
    queue.complete(queue.claim())
    stats = queue.stats()
    assert (stats.pending, stats.processing, stats.done, stats.failed) == (3, 0, 1, 0)
    assert (stats.ready, stats.delayed) == (2, 1)
    assert stats.runs == {"a": {"pending": 2, "done": 1}, "b": {"pending": 1}}
    assert stats.oldest_pending_age_s is not None and stats.oldest_pending_age_s >= 0
    assert stats.to_dict()["queue"] == {"pending": 3, "processing": 0, "done": 1, "failed": 0}


def test_reap_sweeps_old_staging_files_but_not_fresh_ones(queue: Queue):
    old = queue.dir("tmp") / "old.tmp"
    fresh = queue.dir("tmp") / "fresh.tmp"
    old.write_text("x")
    fresh.write_text("y")
    an_hour_ago = time.time() - 2 * queue_module.TMP_GRACE_S
    os.utime(old, (an_hour_ago, an_hour_ago))
    report = queue.reap()
    assert report.tmp_removed == 1 and not old.exists() and fresh.exists()


def test_a_completion_the_disk_refuses_leaves_the_claim_to_be_retried(home: Path, monkeypatch):
    owner = Queue(home / "queue", durable=True, retry=FAST_RETRY)
    owner.enqueue(Job(kind="noop"))
    job = owner.claim()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(queue_module.os, "fsync", full)
    with pytest.raises(QueueWriteError, match="No space left"):
        owner.complete(job)
    monkeypatch.undo()
    assert names(owner, "done") == [] and len(names(owner, "processing")) == 1
    owner.close()  # the worker stops on the error; its claim is then an orphan
    reaper = Queue(home / "queue", durable=True, retry=FAST_RETRY)
    assert reaper.reap().recovered == [job.id]
    [back] = reaper.jobs("pending")
    assert back.retry_count == 1
    assert [a["outcome"] for a in back.attempts] == ["crashed"]  # the refused patch left nothing
    reaper.close()
