"""A state-machine test: any sequence of queue operations keeps every job in exactly one
folder, in the state a simple model predicts."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fundkit.jobs import ClaimName, Job, PendingName, RetryPolicy
from fundkit.queue import STATE_DIRS, Queue

NO_WAIT = RetryPolicy(base=0.0, cap=0.0)


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="fundkit-sm-"))
        self.queues = [self._queue(), self._queue()]
        self.state: dict[str, str] = {}  # job id -> expected folder
        self.retries: dict[str, int] = {}
        self.held: dict[str, tuple[int, Job]] = {}  # job id -> (queue index, claimed job)
        self.orphans: set[str] = set()

    def _queue(self) -> Queue:
        return Queue(self.dir, durable=False, retry=NO_WAIT)

    def teardown(self) -> None:
        for q in self.queues:
            q.close()
        shutil.rmtree(self.dir)

    @rule(n=st.integers(1, 4))
    def enqueue(self, n: int) -> None:
        jobs = [Job(kind="noop", max_retries=1) for _ in range(n)]
        if n == 1:
            self.queues[0].enqueue(jobs[0])
        else:
            self.queues[1].enqueue_batch(jobs)
        for job in jobs:
            self.state[job.id] = "pending"
            self.retries[job.id] = 0

    @rule(i=st.integers(0, 1))
    def claim(self, i: int) -> None:
        job = self.queues[i].claim()
        waiting = [j for j, s in self.state.items() if s == "pending"]
        if job is None:
            assert not waiting
            return
        assert self.state[job.id] == "pending"
        self.state[job.id] = "processing"
        self.held[job.id] = (i, job)

    @precondition(lambda self: self.held)
    @rule(data=st.data(), ok=st.booleans())
    def finish(self, data: st.DataObject, ok: bool) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.held)))
        i, job = self.held.pop(job_id)
        if ok:
            self.queues[i].complete(job)
            self.state[job_id] = "done"
        else:
            self.queues[i].fail(job, RuntimeError("no"))
            self._count_failure(job_id)

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.held)))
        i, job = self.held.pop(job_id)
        self.queues[i].release(job)
        self.state[job_id] = "pending"

    @rule(i=st.integers(0, 1))
    def crash(self, i: int) -> None:
        self.queues[i].close()
        self.queues[i] = self._queue()
        for job_id, (owner, _) in list(self.held.items()):
            if owner == i:
                del self.held[job_id]
                self.orphans.add(job_id)

    @rule(i=st.integers(0, 1))
    def reap(self, i: int) -> None:
        report = self.queues[i].reap()
        assert set(report.recovered) == self.orphans
        for job_id in self.orphans:
            self._count_failure(job_id)
        self.orphans.clear()

    @rule()
    def requeue(self) -> None:
        moved = self.queues[0].requeue()
        assert {j.id for j in moved} == {j for j, s in self.state.items() if s == "failed"}
        for job in moved:
            self.state[job.id] = "pending"
            self.retries[job.id] = 0

    def _count_failure(self, job_id: str) -> None:
        self.retries[job_id] += 1
        self.state[job_id] = "failed" if self.retries[job_id] > 1 else "pending"

    @invariant()
    def every_job_is_in_exactly_one_folder(self) -> None:
        seen: dict[str, list[str]] = {}
        for state in STATE_DIRS:
            for path in self.queues[0]._files(state):
                stem = path.name.split("~", 1)[0]
                job_id = PendingName.parse(stem).job_id
                seen.setdefault(job_id, []).append(state)
                if state == "processing":
                    ClaimName.parse(path.name)
        assert {j: [s] for j, s in self.state.items()} == seen
        stats = self.queues[1].stats()
        for state in STATE_DIRS:
            assert getattr(stats, state) == sum(1 for s in self.state.values() if s == state)


TestQueueMachine = QueueMachine.TestCase
TestQueueMachine.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
