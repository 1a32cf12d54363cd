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


class FreshIndexQueue(Queue):
    """A queue that lists pending/ at every claim, so that which job a claim returns depends
    only on the operations so far (hypothesis replays must draw the same way), not on timing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._index.MIN_AGE_S = -1.0
        self._index.COST_FACTOR = 0


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="fundkit-sm-"))
        self.queues = [self._queue(), self._queue()]
        self.state: dict[str, str] = {}  # job id -> expected folder
        self.retries: dict[str, int] = {}
        self.held: dict[int, tuple[int, Job]] = {}  # label -> (queue index, claimed job)
        self.orphans: set[str] = set()
        self.label: dict[str, int] = {}  # job id -> the order it was enqueued in
        self.clock = 1_800_000_000.0  # distinct creation times: a deterministic claim order

    def _queue(self) -> Queue:
        return FreshIndexQueue(self.dir, durable=False, retry=NO_WAIT)

    def teardown(self) -> None:
        for q in self.queues:
            q.close()
        shutil.rmtree(self.dir)

    @rule(n=st.integers(1, 4))
    def enqueue(self, n: int) -> None:
        jobs = []
        for _ in range(n):
            self.clock += 0.001
            jobs.append(Job(kind="noop", max_retries=1, created_at=self.clock))
            self.label[jobs[-1].id] = len(self.label)
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
        self.held[self.label[job.id]] = (i, job)

    @precondition(lambda self: self.held)
    @rule(data=st.data(), ok=st.booleans())
    def finish(self, data: st.DataObject, ok: bool) -> None:
        i, job = self.held.pop(data.draw(st.sampled_from(sorted(self.held))))
        if ok:
            self.queues[i].complete(job)
            self.state[job.id] = "done"
        else:
            self.queues[i].fail(job, RuntimeError("no"))
            self._count_failure(job.id)

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        i, job = self.held.pop(data.draw(st.sampled_from(sorted(self.held))))
        self.queues[i].release(job)
        self.state[job.id] = "pending"

    @rule(i=st.integers(0, 1))
    def crash(self, i: int) -> None:
        self.queues[i].close()
        self.queues[i] = self._queue()
        for label, (owner, job) in list(self.held.items()):
            if owner == i:
                del self.held[label]
                self.orphans.add(job.id)

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
