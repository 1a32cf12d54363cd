"""Workers: claim jobs and run their handlers until the queue is empty, a job count is reached,
or a time budget would be passed; in one process or several.

Signals: the first SIGTERM or SIGINT lets the current job finish and then stops; a second one
releases the current job back to pending/ (no attempt counted) and stops at once. A SIGKILLed
worker loses nothing either: its flock is released by the OS and the next reap recovers its job.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import queue as queue_module
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import Any

from fundkit import handlers
from fundkit.errors import FundkitError, HandlerError, StaleClaimError, UnknownJobKindError
from fundkit.handlers import JobContext
from fundkit.jobs import Job, JobStatus, RetryPolicy
from fundkit.queue import Queue
from fundkit.store import EventRecorder, Store
from fundkit.workspace import Workspace

log = logging.getLogger("fundkit.worker")


@dataclass
class WorkerOptions:
    """How a worker runs. Plain data, so it can be handed to worker processes."""

    home: str
    max_jobs: int | None = None
    time_budget: float | None = None  # seconds from start
    lease_seconds: float = 300.0
    durable: bool = True
    retry_base: float = 10.0
    retry_cap: float = 600.0
    wait: bool = True  # wait for delayed retries instead of stopping when none is ready
    poll_seconds: float = 0.5
    reap_seconds: float = 30.0
    imports: list[str] = field(default_factory=list)
    record_events: bool = True
    llm: str = "auto"  # the language-model backend for chunk jobs: rules | anthropic | auto
    run_id: str | None = None  # only this run's jobs


@dataclass
class WorkerReport:
    """What one worker (or, merged, several) did."""

    workers: int = 1
    done: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    stale: int = 0  # results refused because the claim had been taken over
    recovered: int = 0  # other workers' jobs this worker's reaps put back
    lost_races: int = 0
    elapsed_s: float = 0.0
    stop_reason: str = ""

    @property
    def finished(self) -> int:
        return self.done + self.retried + self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "jobs_per_s": round(self.finished / self.elapsed_s, 2) if self.elapsed_s else None,
        }

    @classmethod
    def merge(cls, reports: list[WorkerReport]) -> WorkerReport:
        out = cls(workers=len(reports))
        for r in reports:
            for name in (
                "done",
                "retried",
                "failed",
                "released",
                "stale",
                "recovered",
                "lost_races",
            ):
                setattr(out, name, getattr(out, name) + getattr(r, name))
            out.elapsed_s = max(out.elapsed_s, r.elapsed_s)
        out.stop_reason = ",".join(sorted({r.stop_reason for r in reports}))
        return out


class DurationEstimate:
    """How long the next job may take, from measured job times (p90 of the last 50)."""

    def __init__(self, seed: list[float] | None = None):
        self.samples: deque[float] = deque(seed or [], maxlen=50)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    def expected(self) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        if len(ordered) < 10:
            return ordered[-1]
        return ordered[int(0.9 * (len(ordered) - 1))]


class _Slots:
    """The --max-jobs allowance, shared by the worker processes when there are several."""

    def __init__(self, value: Any):
        self.value = value  # a multiprocessing.Value or None

    def take(self) -> bool:
        if self.value is None:
            return True
        with self.value.get_lock():
            if self.value.value <= 0:
                return False
            self.value.value -= 1
            return True

    def give_back(self) -> None:
        if self.value is not None:
            with self.value.get_lock():
                self.value.value += 1


class _Interrupted(BaseException):
    """Raised inside a running handler by a second stop signal."""


class Worker:
    """One worker: a claim loop in this process."""

    def __init__(self, options: WorkerOptions, *, deadline: float | None = None, slots: Any = None):
        self.options = options
        self.workspace = Workspace.resolve(options.home)
        self.deadline = deadline
        if deadline is None and options.time_budget is not None:
            self.deadline = time.time() + options.time_budget
        if slots is None and options.max_jobs is not None:
            slots = mp.Value("i", options.max_jobs)
        self.slots = _Slots(slots)
        self._stopping = False
        self._in_handler = False
        self._wake = threading.Event()

    def stop(self) -> None:
        """Ask the worker to stop after the current job."""
        self._stopping = True
        self._wake.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping and self._in_handler:
            raise _Interrupted
        log.info("signal %s: finishing the current job, then stopping", signum)
        self.stop()

    def run(self) -> WorkerReport:
        handlers.import_modules(self.options.imports)
        # Events wait at most 2 s for the store's lock, then queue up (see EventRecorder).
        store = Store(self.workspace.db_path, timeout=2.0) if self.options.record_events else None
        recorder = EventRecorder(store) if store else None
        queue = Queue(
            self.workspace.queue_dir,
            durable=self.options.durable,
            retry=RetryPolicy(self.options.retry_base, self.options.retry_cap),
            lease_seconds=self.options.lease_seconds,
            on_event=recorder,
        )
        if recorder:
            recorder.queue = queue
        self.estimate = DurationEstimate()
        self._kinds_seeded: set[str] = set()
        self._store = store
        report = WorkerReport()
        started = time.time()
        previous = self._install_signals()
        try:
            report.stop_reason = self._loop(queue, report)
        except _Interrupted:
            report.stop_reason = "signal"
        finally:
            report.lost_races = queue.lost_races
            report.elapsed_s = round(time.time() - started, 3)
            queue.close()
            if recorder is not None:
                # The last rows get up to ~30 s more (15 waits of 2 s) before they are dropped.
                for _ in range(15):
                    if recorder.flush():
                        break
                else:
                    log.warning("job events not recorded: the store stayed locked")
            if store:
                store.close()
            self._restore_signals(previous)
        return report

    def _loop(self, queue: Queue, report: WorkerReport) -> str:
        last_reap = time.monotonic()
        report.recovered += len(queue.reap().recovered)
        while True:
            if self._stopping:
                return "signal"
            now = time.time()
            if self.deadline is not None and now + self.estimate.expected() > self.deadline:
                return "time_budget"
            if not self.slots.take():
                return "max_jobs"
            job = queue.claim(self.options.run_id)
            if job is None:
                self.slots.give_back()
                recovered = queue.reap().recovered
                last_reap = time.monotonic()
                report.recovered += len(recovered)
                if recovered:
                    continue
                due = queue.next_due()
                if due is None or not self.options.wait or self.options.run_id is not None:
                    return "empty"  # (a run filter never waits on other runs' jobs)
                pause = max(0.0, due - time.time())
                if self.deadline is not None and time.time() + pause > self.deadline:
                    return "time_budget"
                self._wake.wait(min(max(pause, 0.01), self.options.poll_seconds))
                continue
            self._run(queue, job, report)
            if time.monotonic() - last_reap > self.options.reap_seconds:
                report.recovered += len(queue.reap().recovered)
                last_reap = time.monotonic()

    def _run(self, queue: Queue, job: Job, report: WorkerReport) -> None:
        try:
            handler = handlers.get(job.kind)
        except UnknownJobKindError as exc:
            log.error("job %s: %s", job.id, exc)
            queue.fail(job, exc, permanent=True)
            report.failed += 1
            return
        self._seed_estimate(job.kind)
        ctx = JobContext(queue, job, self.workspace.home, {"llm": self.options.llm})
        started = time.perf_counter()
        try:
            self._in_handler = True
            try:
                result = handler(job, ctx)
            finally:
                self._in_handler = False
        except _Interrupted:
            self._finish(queue.release, job, report)
            report.released += 1
            raise
        except Exception as exc:
            log.warning("job %s (%s) failed: %s: %s", job.id, job.kind, type(exc).__name__, exc)
            if self._finish(queue.fail, job, report, exc):
                if job.status is JobStatus.FAILED:
                    report.failed += 1
                    self._after(job, ctx)
                else:
                    report.retried += 1
            return
        self.estimate.add(time.perf_counter() - started)
        if result is not None and not isinstance(result, dict):
            result = {"value": result}
        try:
            json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as exc:
            # A handler bug, not bad luck: retrying would only repeat it.
            error = HandlerError(
                f"handler for {job.kind!r} returned a result that is not JSON: {exc}"
            )
            if self._finish(lambda j: queue.fail(j, error, permanent=True), job, report):
                report.failed += 1
            return
        if self._finish(queue.complete, job, report, result):
            report.done += 1
            self._after(job, ctx)

    @staticmethod
    def _after(job: Job, ctx: JobContext) -> None:
        """Callbacks registered for the job's kind (closing a run); their errors are logged."""
        for callback in handlers.after(job.kind):
            try:
                callback(job, ctx)
            except Exception:
                log.exception("after-job callback for %s failed", job.id)

    def _finish(self, action: Any, job: Job, report: WorkerReport, *args: Any) -> bool:
        """Complete, fail or release a job; a refused stale claim is counted, not raised."""
        try:
            action(job, *args)
        except StaleClaimError as exc:
            log.warning("%s", exc)
            report.stale += 1
            return False
        return True

    def _seed_estimate(self, kind: str) -> None:
        """Before the first job of a kind, learn its usual duration from recorded events."""
        if self._store is not None and kind not in self._kinds_seeded:
            self._kinds_seeded.add(kind)
            for seconds in reversed(self._store.recent_durations(kind)):
                self.estimate.add(seconds)

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    @staticmethod
    def _restore_signals(previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _child(options: WorkerOptions, deadline: float | None, slots: Any, results: Any) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        report = Worker(options, deadline=deadline, slots=slots).run()
        results.put(("ok", report.to_dict()))
    except FundkitError as exc:
        results.put(("error", str(exc)))
        raise SystemExit(1) from exc


def run_workers(options: WorkerOptions, processes: int = 1) -> WorkerReport:
    """Run ``processes`` workers (separate processes when more than one) and merge their reports."""
    if processes <= 1:
        return Worker(options).run()
    ctx = mp.get_context("spawn")
    deadline = time.time() + options.time_budget if options.time_budget is not None else None
    slots = ctx.Value("i", options.max_jobs) if options.max_jobs is not None else None
    results = ctx.Queue()
    children = [
        ctx.Process(
            target=_child, args=(options, deadline, slots, results), name=f"fundkit-worker-{i}"
        )
        for i in range(processes)
    ]
    for child in children:
        child.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.pid and child.is_alive():
                os.kill(child.pid, signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    reports: list[WorkerReport] = []
    errors: list[str] = []
    try:
        while True:
            try:
                status, payload = results.get(timeout=0.2)
            except queue_module.Empty:
                if all(c.exitcode is not None for c in children):
                    break
                continue
            if status == "ok":
                payload.pop("jobs_per_s", None)
                reports.append(WorkerReport(**payload))
            else:
                errors.append(payload)
        for child in children:
            child.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for child in children:
        if child.exitcode not in (0, 1):
            log.warning(
                "worker %s ended with exit code %s; a reap recovers its job",
                child.name,
                child.exitcode,
            )
    if errors:
        raise FundkitError(errors[0])
    return WorkerReport.merge(reports)


class QueueProgress:
    """A progress bar fed by polling the queue's counts (works for any number of workers)."""

    def __init__(self, queue: Queue, enabled: bool, notebook: bool = False):
        self.queue = queue
        self.enabled = enabled
        self.notebook = notebook  # tqdm.auto: a widget in Jupyter, text elsewhere
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> QueueProgress:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _run(self) -> None:
        import tqdm as tqdm_module
        import tqdm.auto

        bar_class: Any = tqdm.auto.tqdm if self.notebook else tqdm_module.tqdm
        first = self.queue.stats()
        finished0 = first.done + first.failed
        with bar_class(
            total=first.pending + first.processing, unit="job", desc="jobs", file=sys.stderr
        ) as bar:
            while True:
                stopping = self._stop.wait(0.5)
                s = self.queue.stats()
                bar.total = max(
                    bar.total or 0, s.done + s.failed - finished0 + s.pending + s.processing
                )
                bar.n = s.done + s.failed - finished0
                bar.set_postfix(pending=s.pending, failed=s.failed - first.failed, refresh=False)
                bar.refresh()
                if stopping:  # one last count, so the bar ends where the work did
                    break
