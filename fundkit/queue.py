"""The file-based job queue: enqueue, claim, heartbeat, complete, fail, release, requeue, reap.

Each job is one JSON file; its folder is its state. Every move between folders is one
``rename``, so a job is in exactly one folder at any moment, and every rename that acts on a
claim doubles as the fencing check: a claimed file's name carries its token, so a worker whose
claim was taken over finds its name gone (``ENOENT``) and is refused.

- enqueue: write ``tmp/``, fsync, rename into ``pending/``, fsync the folder (durable mode).
  A batch is staged in a folder of its own and renamed into ``pending/`` whole.
- claim: rename ``pending/X`` to ``processing/X~worker~seq~claimed~lease_until``. One rename has
  one winner. The worker holds ``locks/<worker>.lock`` (filelock: flock, released by the OS
  when the process dies) for as long as it lives, so a reaper that can take that lock knows
  the claims are orphaned; ``lease_until`` in the name covers workers that live but hang.
- A job file is JSON Lines: the job, then one patch line per change (see ``fundkit.jobs``).
  No file is created or replaced after enqueue; changes are appended.
- complete: rename the claimed file into ``done/`` (the fenced step), then append the result.
- fail / release / reap / requeue take one of 64 stripe locks (by job id), rename the claim
  to a private name, append the patch and move the file, so a paused owner that wakes up can
  neither complete the job nor touch a file that is no longer its own.

Claiming never lists ``pending/`` per job: each Queue keeps a heap of the listing and lists
again only when it runs dry or grows old relative to what a listing costs, so the cost of a
claim does not grow with the number of pending jobs. See docs/queue.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import json
import os
import secrets
import shutil
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from filelock import FileLock, Timeout

from fundkit.errors import (
    JobFileError,
    JobNotFoundError,
    LockBusyError,
    QueueError,
    QueueWriteError,
    StaleClaimError,
)
from fundkit.jobs import ClaimName, Job, JobStatus, PendingName, RetryPolicy, error_info

STATE_DIRS = ("pending", "processing", "done", "failed")
ALL_DIRS = (*STATE_DIRS, "corrupt", "tmp", "locks")
STRIPES = 64
TMP_GRACE_S = 3600.0  # staging files older than this belong to a crashed writer
LOCK_GRACE_S = 60.0  # a lock file this old with no claims and no holder is swept

EventHook = Callable[[str, Job | None, dict[str, Any]], None]


class JobRef(NamedTuple):
    """The few fields of a job that an event records (a batch keeps these, not payloads)."""

    id: str
    run_id: str | None
    source_id: str | None
    kind: str
    retry_count: int
    worker: str | None


@dataclass
class QueueStats:
    """Counts per state (and per run), what is ready now, and the age of the oldest pending job."""

    pending: int = 0
    processing: int = 0
    done: int = 0
    failed: int = 0
    corrupt: int = 0
    ready: int = 0
    delayed: int = 0
    oldest_pending_age_s: float | None = None
    runs: dict[str, dict[str, int]] = field(default_factory=dict)
    at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue": {s: getattr(self, s) for s in STATE_DIRS},
            "corrupt": self.corrupt,
            "ready": self.ready,
            "delayed": self.delayed,
            "oldest_pending_age_s": self.oldest_pending_age_s,
            "runs": self.runs,
        }


@dataclass
class ReapReport:
    """What one reap found and did."""

    recovered: list[str] = field(default_factory=list)  # job ids back in pending/ or failed/
    crashed_workers: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)  # job ids whose live worker overran
    busy: int = 0  # jobs skipped because their stripe lock was held
    set_aside: int = 0
    tmp_removed: int = 0
    locks_removed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SetAside:
    """A job file that was set aside in corrupt/, and why."""

    file: str
    reason: str
    origin: str
    at: float


class _PendingIndex:
    """A worker's cached view of pending/: a heap of ready names and one of delayed ones."""

    MIN_AGE_S = 0.05
    COST_FACTOR = 20  # list again once the listing is this many times its cost old

    def __init__(self) -> None:
        self.ready: list[tuple[str, str]] = []  # (name, folder)
        self.delayed: list[tuple[int, str, str]] = []  # (not_before_us, name, folder)
        self.listed_at = -1e18
        self.cost = 0.0

    def stale(self, now: float) -> bool:
        return now - self.listed_at > max(self.MIN_AGE_S, self.COST_FACTOR * self.cost)

    def load(self, entries: list[tuple[str, str, int]], now: float, cost: float) -> None:
        now_us = int(now * 1e6)
        self.ready = [(n, d) for n, d, nb in entries if nb <= now_us]
        self.delayed = [(nb, n, d) for n, d, nb in entries if nb > now_us]
        heapq.heapify(self.ready)
        heapq.heapify(self.delayed)
        self.listed_at, self.cost = now, cost

    def pop(self, now: float) -> tuple[str, str] | None:
        now_us = int(now * 1e6)
        while self.delayed and self.delayed[0][0] <= now_us:
            _, name, folder = heapq.heappop(self.delayed)
            heapq.heappush(self.ready, (name, folder))
        return heapq.heappop(self.ready) if self.ready else None

    def next_due(self) -> float | None:
        if self.ready:
            return 0.0
        return self.delayed[0][0] / 1e6 if self.delayed else None


class Queue:
    """A job queue in a folder. Safe to use from many processes at once; one per thread."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        durable: bool = True,
        retry: RetryPolicy | None = None,
        lease_seconds: float = 300.0,
        on_event: EventHook | None = None,
        worker_id: str | None = None,
    ):
        self.root = Path(root)
        self.create_dirs(self.root)
        self.durable = durable
        self.retry = retry or RetryPolicy()
        self.lease_seconds = lease_seconds
        self.on_event = on_event
        self.worker_id = worker_id or f"w{os.getpid()}-{secrets.token_hex(3)}"
        self.lost_races = 0
        self._dirs = {name: self.root / name for name in ALL_DIRS}
        self._index = _PendingIndex()
        self._claims: dict[str, ClaimName] = {}
        self._seq = 0
        self._worker_lock: FileLock | None = None
        self._stripes: dict[int, FileLock] = {}
        self._stats: QueueStats | None = None

    # -- set-up ----------------------------------------------------------------------------

    @staticmethod
    def create_dirs(root: Path) -> list[Path]:
        """Create the queue's folders; return those that did not exist."""
        created = []
        for name in ALL_DIRS:
            path = root / name
            if not path.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                created.append(path)
        return created

    def dir(self, name: str) -> Path:
        return self._dirs[name]

    def close(self) -> None:
        """Give up the worker lock. Claims still held become orphans, recovered by any reap."""
        if self._worker_lock is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._worker_lock.lock_file)
            self._worker_lock.release()
            self._worker_lock = None

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- enqueue ---------------------------------------------------------------------------

    def enqueue(self, job: Job) -> Job:
        """Add one job: it appears in pending/ whole, and (durable mode) survives a power cut."""
        data = self._prepare(job)
        tmp = self._write_tmp(data)
        dst = self._dirs["pending"] / job.name.filename
        try:
            os.rename(tmp, dst)
        except OSError as exc:
            _unlink_quietly(tmp)
            raise QueueWriteError(dst, "enqueue", exc) from exc
        if self.durable:
            self._fsync_dir("pending")
        self._emit("created", job)
        return job

    def enqueue_batch(self, jobs: Iterable[Job]) -> int:
        """Add many jobs as one batch that appears in pending/ whole or not at all.

        ``jobs`` may be a generator: each job is written as it comes, so a batch of any size
        needs memory for one job at a time. Returns how many jobs were queued.
        """
        stage = self._dirs["tmp"] / f"batch-{secrets.token_hex(8)}"
        created: list[JobRef] = []  # what the events need, not the payloads
        try:
            stage.mkdir()
            for job in jobs:
                self._write_file(stage / job.name.filename, self._prepare(job))
                created.append(
                    JobRef(job.id, job.run_id, job.source_id, job.kind, job.retry_count, None)
                )
            if not created:
                stage.rmdir()
                return 0
            if self.durable:
                _fsync_path(stage)
            os.rename(stage, self._dirs["pending"] / stage.name)
        except OSError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            raise QueueWriteError(stage, "enqueue a batch into", exc) from exc
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        if self.durable:
            self._fsync_dir("pending")
        self._emit("created", None, jobs=created)
        return len(created)

    def _prepare(self, job: Job) -> bytes:
        job.check_no_secrets()
        job.status = JobStatus.PENDING
        return self._dump(job)

    # -- claim -----------------------------------------------------------------------------

    def claim(self, run_id: str | None = None) -> Job | None:
        """Take the next ready job (highest priority, then oldest), or None if none is ready.

        With ``run_id``, only a job of that run (the others stay where they are).
        """
        self._hold_worker_lock()
        passed: list[tuple[str, str]] = []
        try:
            return self._claim(run_id, passed)
        finally:
            for entry in passed:
                heapq.heappush(self._index.ready, entry)

    def _claim(self, run_id: str | None, passed: list[tuple[str, str]]) -> Job | None:
        listed = False
        while True:
            now = time.time()
            if not listed and self._index.stale(now):
                self._list_pending(now)
                listed = True
            item = self._index.pop(now)
            if item is None:
                if listed:
                    return None
                self._list_pending(now)
                passed.clear()  # the new listing has them again
                listed = True
                continue
            name, folder = item
            if run_id is not None and name.split("_", 3)[2] != run_id:
                passed.append(item)
                continue
            self._seq += 1
            claimed_ms = int(now * 1000)
            claim = ClaimName(
                name.removesuffix(".json"),
                self.worker_id,
                self._seq,
                claimed_ms,
                claimed_ms + int(self.lease_seconds * 1000),
            )
            dst = self._dirs["processing"] / claim.filename
            try:
                os.rename(os.path.join(folder, name), dst)
            except FileNotFoundError:
                self.lost_races += 1  # another worker won this one
                continue
            try:
                job = self._read(dst)
                if job.id != claim.pending.job_id:
                    raise JobFileError(dst, f"id {job.id!r} does not match the file name")
            except JobFileError as exc:
                self._set_aside(dst, exc.reason, origin="pending")
                continue
            self._own(job, claim)
            self._emit("claimed", job)
            return job

    def next_due(self) -> float | None:
        """When the next pending job becomes ready (0.0: now), or None if pending/ is empty."""
        if self._index.stale(time.time()):
            self._list_pending(time.time())
        return self._index.next_due()

    def heartbeat(self, job: Job, seconds: float | None = None) -> Job:
        """Extend the lease of a claimed job to now + ``seconds`` (default: the queue's lease)."""
        claim = self._claim_of(job)
        until = int((time.time() + (seconds or self.lease_seconds)) * 1000)
        new = ClaimName(claim.stem, claim.worker, claim.seq, claim.claimed_ms, until)
        try:
            os.rename(
                self._dirs["processing"] / claim.filename, self._dirs["processing"] / new.filename
            )
        except FileNotFoundError as exc:
            del self._claims[job.id]
            raise StaleClaimError(job.id, claim.token) from exc
        self._own(job, new)
        return job

    # -- finish ----------------------------------------------------------------------------

    def complete(self, job: Job, result: dict[str, Any] | None = None) -> Job:
        """Move a claimed job to done/. Raises StaleClaimError if the claim was taken over."""
        claim = self._claim_of(job)
        now = time.time()
        final = dataclasses.replace(
            job,
            status=JobStatus.DONE,
            completed_at=now,
            result=result,
            error_details=None,
            attempts=[*job.attempts, _attempt(job, claim, now, "done")],
        )
        patch = self._line(final.patch(), job.id)
        dst = self._dirs["done"] / (claim.stem + ".json")
        try:
            os.rename(self._dirs["processing"] / claim.filename, dst)
        except FileNotFoundError as exc:
            del self._claims[job.id]
            raise StaleClaimError(job.id, claim.token) from exc
        # The file is ours alone in done/: nothing else touches files there.
        try:
            self._append(dst, patch)
        except QueueWriteError:
            # Disk full or failing: put the claim back as it was, so that a reap retries the
            # job later rather than leave it "done" with no record of its result.
            os.rename(dst, self._dirs["processing"] / claim.filename)
            raise
        del self._claims[job.id]
        vars(job).update(vars(final))
        if self.durable:
            # One rename is one journal transaction on ext4 and XFS: syncing the target
            # folder makes the move durable in both folders.
            self._fsync_dir("done")
        self._emit("done", job, duration_ms=(now - claim.claimed_ms / 1000) * 1000)
        return job

    def fail(
        self, job: Job, error: BaseException | dict[str, Any], *, permanent: bool = False
    ) -> Job:
        """Record a failed attempt: back to pending/ with backoff, or to failed/ past max_retries."""
        claim = self._claim_of(job)
        del self._claims[job.id]
        info = error if isinstance(error, dict) else error_info(error)
        return self._end_attempt(job, claim, "failed", info, count=True, permanent=permanent)

    def release(self, job: Job) -> Job:
        """Give a claimed job back unfinished (shutdown): pending/ again, no attempt counted."""
        claim = self._claim_of(job)
        del self._claims[job.id]
        return self._end_attempt(job, claim, "released", None, count=False)

    def _end_attempt(
        self,
        job: Job,
        claim: ClaimName,
        outcome: str,
        error: dict[str, Any] | None,
        *,
        count: bool,
        permanent: bool = False,
    ) -> Job:
        """Close an attempt that did not finish the job and move it to pending/ or failed/."""
        now = time.time()
        with self._taken(job.id, claim, timeout=30.0) as private:
            dst, event = self._close_attempt(job, claim, now, outcome, error, count, permanent)
            self._move(private, job, dst)
        self._emit(event, job, duration_ms=(now - claim.claimed_ms / 1000) * 1000, error=error)
        return job

    def _close_attempt(
        self,
        job: Job,
        claim: ClaimName,
        now: float,
        outcome: str,
        error: dict[str, Any] | None,
        count: bool,
        permanent: bool,
    ) -> tuple[Path, str]:
        """Record the attempt in the job and decide where it goes next."""
        job.attempts.append(_attempt(job, claim, now, outcome, error))
        job.worker = job.token = job.lease_until = None
        if error is not None:
            job.error_details = error
        if count:
            job.retry_count += 1
            if permanent or job.retry_count > job.max_retries:
                job.status = JobStatus.FAILED
                job.completed_at = now
                job.not_before = None
                job.error_details = {**(error or {}), "attempts": job.attempts}
                return self._dirs["failed"] / job.name.filename, "failed"
        job.status = JobStatus.PENDING
        job.not_before = now + self.retry.delay(job.retry_count) if count else None
        return self._dirs["pending"] / job.name.filename, "retry" if count else "released"

    @contextlib.contextmanager
    def _taken(self, job_id: str, claim: ClaimName, timeout: float) -> Iterator[Path]:
        """Hold the job's stripe lock and rename its claim to a private name (the fenced step)."""
        lock = self._stripe(job_id)
        try:
            lock.acquire(timeout=timeout)
        except Timeout as exc:
            raise LockBusyError(job_id, Path(lock.lock_file)) from exc
        try:
            self._seq += 1
            now_ms = int(time.time() * 1000)
            private = (
                self._dirs["processing"]
                / ClaimName(
                    claim.stem,
                    self.worker_id,
                    self._seq,
                    now_ms,
                    now_ms + int(self.lease_seconds * 1000),
                ).filename
            )
            try:
                os.rename(self._dirs["processing"] / claim.filename, private)
            except FileNotFoundError as exc:
                raise StaleClaimError(job_id, claim.token) from exc
            yield private
        finally:
            lock.release()

    def _move(self, private: Path, job: Job, dst: Path) -> None:
        """Append the job's patch to a privately held claim and move it to ``dst``."""
        self._append(private, self._line(job.patch(), job.id))
        os.rename(private, dst)
        if self.durable:
            _fsync_path(dst.parent)

    # -- requeue and reap ------------------------------------------------------------------

    def requeue(self, job_ids: Iterable[str] | None = None) -> list[Job]:
        """Move failed jobs back to pending/ with a fresh retry budget (all of them if no ids)."""
        self._hold_worker_lock()
        by_id = {PendingName.parse(p.name).job_id: p for p in self._files("failed")}
        wanted = list(by_id) if job_ids is None else list(job_ids)
        for job_id in wanted:
            if job_id not in by_id:
                raise JobNotFoundError(job_id, "failed")
        moved = []
        for job_id in wanted:
            path = by_id[job_id]
            lock = self._stripe(job_id)
            with lock.acquire(timeout=30.0):
                try:
                    job = self._read(path)
                except FileNotFoundError:
                    continue  # requeued by someone else meanwhile
                job.status = JobStatus.PENDING
                job.retry_count = 0
                job.not_before = job.completed_at = None
                # Only requeue touches failed/ files, and only under this lock.
                self._append(path, self._line(job.patch(attempt=False), job.id))
                os.rename(path, self._dirs["pending"] / job.name.filename)
                if self.durable:
                    self._fsync_dir("pending")
            self._emit("requeued", job)
            moved.append(job)
        return moved

    def reap(self, now: float | None = None) -> ReapReport:
        """Recover claims of dead workers (lock free) and of live ones past their lease."""
        self._hold_worker_lock()
        now = time.time() if now is None else now
        report = ReapReport()
        by_worker: dict[str, list[ClaimName]] = {}
        for path in self._files("processing"):
            try:
                claim = ClaimName.parse(path.name)
            except ValueError:
                report.set_aside += self._set_aside(
                    path, "not a claimed job file name", "processing"
                )
                continue
            by_worker.setdefault(claim.worker, []).append(claim)
        for worker, claims in by_worker.items():
            if worker == self.worker_id:
                continue  # our own claims are live: this thread is not running a handler
            lock = FileLock(self._dirs["locks"] / f"{worker}.lock", timeout=0, thread_local=False)
            try:
                lock.acquire()
            except Timeout:
                for claim in claims:
                    if claim.lease_until_ms / 1000 < now:
                        report.expired.append(claim.pending.job_id)
                        self._recover(claim, "expired", report)
                continue
            try:
                report.crashed_workers.append(worker)
                for claim in claims:
                    self._recover(claim, "crashed", report)
                _unlink_quietly(Path(lock.lock_file))
            finally:
                lock.release()
        self._sweep(now, report, live=set(by_worker))
        return report

    def _recover(self, claim: ClaimName, outcome: str, report: ReapReport) -> None:
        error = {
            "type": "WorkerCrashed" if outcome == "crashed" else "LeaseExpired",
            "message": f"worker {claim.worker} "
            + (
                "died while running the job"
                if outcome == "crashed"
                else "held the job past its lease"
            ),
        }
        try:
            with self._taken(claim.pending.job_id, claim, timeout=1.0) as private:
                try:
                    job = self._read(private)
                except JobFileError as exc:
                    report.set_aside += self._set_aside(private, exc.reason, "processing")
                    return
                dst, _ = self._close_attempt(job, claim, time.time(), outcome, error, True, False)
                job.attempts[-1]["recovered_by"] = self.worker_id
                self._move(private, job, dst)
        except StaleClaimError:
            return  # the owner finished it after all
        except LockBusyError:
            report.busy += 1
            return
        report.recovered.append(job.id)
        self._emit("recovered", job, error=error)
        if job.status is JobStatus.FAILED:  # that was its last attempt
            self._emit("failed", job, error=error)

    def _sweep(self, now: float, report: ReapReport, live: set[str]) -> None:
        """Remove staging files of crashed writers and lock files of dead workers."""
        for entry in os.scandir(self._dirs["tmp"]):
            if now - entry.stat(follow_symlinks=False).st_mtime > TMP_GRACE_S:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    _unlink_quietly(Path(entry.path))
                report.tmp_removed += 1
        for entry in os.scandir(self._dirs["locks"]):
            worker = entry.name.removesuffix(".lock")
            if entry.name.startswith("stripe-") or worker == self.worker_id or worker in live:
                continue
            try:
                if now - entry.stat().st_mtime < LOCK_GRACE_S:
                    continue
            except FileNotFoundError:
                continue
            lock = FileLock(entry.path, timeout=0, thread_local=False)
            try:
                lock.acquire()
            except Timeout:
                continue
            try:
                _unlink_quietly(Path(entry.path))
                report.locks_removed += 1
            finally:
                lock.release()

    # -- reading ---------------------------------------------------------------------------

    def stats(self, max_age: float = 0.0) -> QueueStats:
        """Count jobs per state and per run from file names alone (no file is opened).

        ``max_age`` lets a hot path reuse a count taken less than that many seconds ago.
        """
        now = time.time()
        if self._stats is not None and now - self._stats.at <= max_age:
            return self._stats
        stats = QueueStats(at=now)
        runs: dict[str, Counter[str]] = {}
        now_us = int(now * 1e6)
        oldest: int | None = None
        for state in STATE_DIRS:
            count = 0
            for path in self._files(state):
                stem = path.name.split("~", 1)[0]
                try:
                    name = PendingName.parse(stem)
                except ValueError:
                    continue
                count += 1
                runs.setdefault(name.run_id or "", Counter())[state] += 1
                if state == "pending":
                    if name.not_before_us > now_us:
                        stats.delayed += 1
                    if oldest is None or name.created_us < oldest:
                        oldest = name.created_us
            setattr(stats, state, count)
        stats.ready = stats.pending - stats.delayed
        stats.corrupt = sum(1 for p in self._dirs["corrupt"].glob("*.reason"))
        stats.oldest_pending_age_s = None if oldest is None else max(0.0, now - oldest / 1e6)
        stats.runs = {run: dict(c) for run, c in sorted(runs.items())}
        self._stats = stats
        return stats

    def jobs(self, state: str, last: int | None = None) -> Iterator[Job]:
        """Read the jobs in one state folder in name order (priority, then oldest), or only the
        ``last`` of them; unreadable files are skipped."""
        paths = sorted(self._files(state), key=lambda p: p.name)
        for path in paths if last is None else paths[-last:] if last > 0 else []:
            try:
                yield self._read(path)
            except (JobFileError, FileNotFoundError):
                continue

    def claims(self) -> list[ClaimName]:
        """The claims in processing/ now."""
        out = []
        for path in self._files("processing"):
            with contextlib.suppress(ValueError):
                out.append(ClaimName.parse(path.name))
        return out

    def set_aside_files(self) -> list[SetAside]:
        """Job files set aside in corrupt/, newest first, with their reasons."""
        out = []
        for reason_path in self._dirs["corrupt"].glob("*.reason"):
            try:
                info = json.loads(reason_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                info = {}
            out.append(
                SetAside(
                    file=reason_path.name.removesuffix(".reason"),
                    reason=str(info.get("reason", "unknown")),
                    origin=str(info.get("origin", "?")),
                    at=float(info.get("at", 0.0)),
                )
            )
        return sorted(out, key=lambda s: s.at, reverse=True)

    # -- internals -------------------------------------------------------------------------

    def _files(self, state: str) -> Iterator[Path]:
        """Job files in a state folder; pending/ includes the files of batch folders."""
        with os.scandir(self._dirs[state]) as it:
            for entry in it:
                if entry.name.endswith(".json"):
                    yield Path(entry.path)
                elif state == "pending" and entry.name.startswith("batch-"):
                    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                        for sub in os.scandir(entry.path):
                            if sub.name.endswith(".json"):
                                yield Path(sub.path)

    def _list_pending(self, now: float) -> None:
        started = time.perf_counter()
        entries: list[tuple[str, str, int]] = []
        pending = str(self._dirs["pending"])
        with os.scandir(pending) as it:
            for entry in it:
                name = entry.name
                if name.startswith("batch-") and entry.is_dir(follow_symlinks=False):
                    self._list_batch(entry.path, entries)
                    continue
                try:
                    entries.append((name, pending, PendingName.parse(name).not_before_us))
                except ValueError:
                    self._set_aside(Path(entry.path), "not a job file name", "pending")
        self._index.load(entries, now, time.perf_counter() - started)

    def _list_batch(self, folder: str, entries: list[tuple[str, str, int]]) -> None:
        found = False
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    found = True
                    try:
                        entries.append(
                            (entry.name, folder, PendingName.parse(entry.name).not_before_us)
                        )
                    except ValueError:
                        self._set_aside(Path(entry.path), "not a job file name", "pending")
        except FileNotFoundError:
            return
        if not found:
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # nothing adds to a batch folder once it is in pending/

    def _read(self, path: Path) -> Job:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise JobFileError(path, f"unreadable: {exc.strerror or exc}") from exc
        return Job.from_bytes(raw, path)

    def _dump(self, job: Job) -> bytes:
        return self._line(job.to_dict(), job.id)

    @staticmethod
    def _line(data: dict[str, Any], job_id: str) -> bytes:
        try:
            return json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"
        except (TypeError, ValueError) as exc:
            raise QueueError(f"job {job_id}: cannot be written as JSON: {exc}") from exc

    def _append(self, path: Path, line: bytes) -> None:
        """Append one patch line to a job file that only this process may touch now."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise QueueWriteError(path, "open", exc) from exc
        size = None
        try:
            size = os.fstat(fd).st_size
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            if self.durable:
                os.fsync(fd)
        except OSError as exc:
            if size is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)  # the patch did not happen: leave no trace of it
            raise QueueWriteError(path, "append to", exc) from exc
        finally:
            os.close(fd)

    def _write_tmp(self, data: bytes) -> Path:
        path = self._dirs["tmp"] / f"{secrets.token_hex(8)}.tmp"
        self._write_file(path, data)
        return path

    def _write_file(self, path: Path, data: bytes) -> None:
        """Write a new file (fsynced in durable mode); on any error leave nothing behind."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise QueueWriteError(path, "create", exc) from exc
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            _unlink_quietly(path)
            raise QueueWriteError(path, "write", exc) from exc

    def _fsync_dir(self, name: str) -> None:
        _fsync_path(self._dirs[name])

    def _set_aside(self, path: Path, reason: str, origin: str) -> int:
        """Move an unusable file to corrupt/ with a .reason file beside it; 1 if we moved it."""
        target = self._dirs["corrupt"] / f"{time.time_ns()}-{path.name}"
        info = {"reason": reason, "origin": origin, "original": path.name, "at": time.time()}
        reason_path = target.with_name(target.name + ".reason")
        tmp = self._write_tmp(json.dumps(info).encode())
        os.rename(tmp, reason_path)
        try:
            os.rename(path, target)
        except FileNotFoundError:
            _unlink_quietly(reason_path)  # someone else set it aside first
            return 0
        self._emit("set_aside", None, reason=reason, file=path.name)
        return 1

    def _hold_worker_lock(self) -> None:
        if self._worker_lock is None:
            lock = FileLock(
                self._dirs["locks"] / f"{self.worker_id}.lock", timeout=0, thread_local=False
            )
            lock.acquire()
            self._worker_lock = lock

    def _stripe(self, job_id: str) -> FileLock:
        """One of STRIPES lock files, by job id: never deleted, so never split (filelock #574)."""
        n = zlib.crc32(job_id.encode()) % STRIPES
        lock = self._stripes.get(n)
        if lock is None:
            lock = FileLock(self._dirs["locks"] / f"stripe-{n:02d}.lock", thread_local=False)
            self._stripes[n] = lock
        return lock

    def _own(self, job: Job, claim: ClaimName) -> None:
        self._claims[job.id] = claim
        job.status = JobStatus.PROCESSING
        job.started_at = claim.claimed_ms / 1000
        job.worker = claim.worker
        job.token = claim.token
        job.lease_until = claim.lease_until_ms / 1000

    def _claim_of(self, job: Job) -> ClaimName:
        try:
            return self._claims[job.id]
        except KeyError:
            raise QueueError(f"job {job.id} is not claimed by worker {self.worker_id}") from None

    def _emit(self, event: str, job: Job | None, **info: Any) -> None:
        if self.on_event is not None:
            self.on_event(event, job, info)


def _attempt(
    job: Job, claim: ClaimName, ended: float, outcome: str, error: dict[str, Any] | None = None
) -> dict[str, Any]:
    started = claim.claimed_ms / 1000
    return {
        "n": len(job.attempts) + 1,
        "worker": claim.worker,
        "token": claim.token,
        "started_at": started,
        "ended_at": ended,
        "duration_ms": round((ended - started) * 1000, 3),
        "outcome": outcome,
        "error": None if error is None else {k: error.get(k) for k in ("type", "message")},
    }


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
