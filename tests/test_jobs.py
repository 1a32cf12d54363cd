from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fundkit.errors import JobFileError, SecretInJobError
from fundkit.jobs import ClaimName, Job, JobStatus, PendingName, RetryPolicy

P = Path("x.json")


def test_pending_name_round_trips_and_sorts_by_priority_then_age():
    names = [
        PendingName(0, 2_000, "run-1", "b"),
        PendingName(5, 3_000, None, "c"),
        PendingName(0, 1_000, "run-1", "a"),
        PendingName(-3, 500, None, "d"),
    ]
    for n in names:
        assert PendingName.parse(n.filename) == n
    ordered = [PendingName.parse(f).job_id for f in sorted(n.filename for n in names)]
    assert ordered == ["c", "a", "b", "d"]


def test_claim_name_carries_token_and_lease():
    stem = PendingName(1, 10, "r", "j1").stem
    claim = ClaimName(stem, "w12-abc", 7, 1000, 5000)
    parsed = ClaimName.parse(claim.filename)
    assert parsed == claim
    assert parsed.token == "w12-abc.7"
    assert parsed.pending.job_id == "j1"


@pytest.mark.parametrize(
    "name", ["notes.txt.json", "1_2_3.json", "00001_x_r_id_0.json", "00001_1_r_bad_id!_0.json"]
)
def test_foreign_names_are_refused(name):
    with pytest.raises(ValueError):
        PendingName.parse(name)


def test_job_round_trips_through_json():
    job = Job(kind="noop", raw_data=[{"title": "Énergie"}], run_id="r1", priority=3)
    job.attempts.append({"n": 1, "outcome": "failed"})
    data = json.loads(json.dumps(job.to_dict()))
    back = Job.from_dict(data, P)
    assert back.to_dict() == job.to_dict()
    assert back.status is JobStatus.PENDING
    assert data["status"] == "pending"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ([1, 2], "not a JSON object"),
        ({"id": "a", "kind": "noop"}, "no schema version"),
        ({"schema": 99, "id": "a", "kind": "noop"}, "unknown schema version 99"),
        ({"schema": 1, "kind": "noop", "created_at": "2026-01-01T00:00:00Z"}, "missing field 'id'"),
        (
            {"schema": 1, "id": "a b", "kind": "noop", "created_at": "2026-01-01T00:00:00Z"},
            "invalid field",
        ),
        ({"schema": 1, "id": "a", "kind": "noop", "created_at": "yesterday"}, "invalid field"),
    ],
)
def test_invalid_job_objects_name_the_reason(data, reason):
    with pytest.raises(JobFileError, match=reason):
        Job.from_dict(data, P)


def test_retry_delay_is_exponential_with_jitter_and_capped():
    policy = RetryPolicy(base=1.0, cap=8.0)
    rng = random.Random(1)
    for n, (low, high) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8), (4, 8)], start=1):
        assert policy.bounds(n) == (low, high)
        delays = [policy.delay(n, rng) for _ in range(200)]
        assert low <= min(delays) and max(delays) <= high
        assert max(delays) - min(delays) > (high - low) / 2  # jitter really spreads them


def test_secret_keys_are_refused():
    job = Job(kind="noop", processing_config={"source": {"headers": {"X-Api-Key": "abc123"}}})
    with pytest.raises(SecretInJobError, match=r"source\.headers\.X-Api-Key"):
        job.check_no_secrets(environ={})


def test_values_of_secret_environment_variables_are_refused():
    env = {"ANTHROPIC_API_KEY": "fake-key-test-0123456789"}
    job = Job(kind="noop", processing_config={"note": "use fake-key-test-0123456789 here"})
    with pytest.raises(SecretInJobError, match="note"):
        job.check_no_secrets(environ=env)
    # Naming the variable is the right way and passes.
    Job(kind="noop", processing_config={"api_key_env": "ANTHROPIC_API_KEY"}).check_no_secrets(env)


def _file(job: Job, *patches: dict) -> bytes:
    lines = [json.dumps(job.to_dict()), *(json.dumps(p) for p in patches)]
    return ("\n".join(lines) + "\n").encode()


def test_patches_apply_in_order_and_attempts_accumulate():
    job = Job(kind="noop")
    raw = _file(
        job,
        {"status": "pending", "retry_count": 1, "attempt": {"n": 1, "outcome": "failed"}},
        {"status": "done", "result": {"ok": True}, "attempt": {"n": 2, "outcome": "done"}},
    )
    back = Job.from_bytes(raw, P)
    assert back.status is JobStatus.DONE and back.retry_count == 1 and back.result == {"ok": True}
    assert [a["outcome"] for a in back.attempts] == ["failed", "done"]


def test_a_torn_last_patch_is_ignored_but_a_bad_middle_line_is_corruption():
    job = Job(kind="noop")
    good = _file(job, {"status": "failed", "retry_count": 4})
    torn = good + b'{"status": "pending", "retry_'
    assert Job.from_bytes(torn, P).status is JobStatus.FAILED
    bad_middle = _file(job) + b"{oops\n" + json.dumps({"status": "done"}).encode() + b"\n"
    with pytest.raises(JobFileError, match="line 2"):
        Job.from_bytes(bad_middle, P)
