"""Every error fundkit raises on purpose derives from :class:`FundkitError`.

The tree::

    FundkitError
    ├── UsageError              a command was called wrongly (CLI exit 2)
    ├── ConfigError             a workspace or config value is wrong (names the field)
    ├── QueueError              the job queue could not do what was asked
    │   ├── JobFileError        a job file is unreadable or invalid (it is set aside)
    │   ├── QueueWriteError     the disk refused a write (ENOSPC, EIO, ...)
    │   ├── StaleClaimError     the claim was taken over; the worker must not finish the job
    │   ├── LockBusyError       a job's lock stayed held past the wait (a paused process)
    │   ├── JobNotFoundError    no job with that id in the folder asked for
    │   └── SecretInJobError    a job's processing_config would carry a secret
    └── HandlerError            a job handler failed or does not exist
        └── UnknownJobKindError no handler is registered for the job's kind

Errors carry structured fields (the job, the path, the field) so that the CLI can print one
clear line and the job's ``error_details`` can keep the whole story. Third-party and OS errors
are translated at the seam with ``raise ... from exc``.
"""

from __future__ import annotations

from pathlib import Path


class FundkitError(Exception):
    """Base of every error fundkit raises on purpose."""


class UsageError(FundkitError):
    """A command was called with arguments that do not fit."""


class ConfigError(FundkitError):
    """A workspace or configuration value is wrong."""

    def __init__(self, message: str, *, field: str | None = None, path: Path | None = None):
        self.field = field
        self.path = path
        where = f"{path}: " if path else ""
        what = f"{field}: " if field else ""
        super().__init__(f"{where}{what}{message}")


class QueueError(FundkitError):
    """The job queue could not do what was asked."""


class JobFileError(QueueError):
    """A job file is unreadable or invalid; the queue sets such files aside."""

    def __init__(self, path: Path, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path.name}: {reason}")


class QueueWriteError(QueueError):
    """The file system refused a write (disk full, I/O error, read-only, ...)."""

    def __init__(self, path: Path, action: str, exc: OSError):
        self.path = path
        self.action = action
        self.errno = exc.errno
        super().__init__(f"could not {action} {path}: {exc.strerror or exc}")


class StaleClaimError(QueueError):
    """The worker's claim on a job was taken over (its lease expired and it was reaped).

    This is the fencing check: a worker that was paused or hung past its lease cannot complete,
    fail or release the job afterwards.
    """

    def __init__(self, job_id: str, token: str):
        self.job_id = job_id
        self.token = token
        super().__init__(f"job {job_id}: claim {token} was taken over; result discarded")


class LockBusyError(QueueError):
    """A job's stripe lock stayed held longer than the wait allowed (a paused process holds it)."""

    def __init__(self, job_id: str, lock_path: Path):
        self.job_id = job_id
        self.lock_path = lock_path
        super().__init__(f"job {job_id}: lock {lock_path.name} is held by another process")


class JobNotFoundError(QueueError):
    """No job with that id is in the folder that was asked for."""

    def __init__(self, job_id: str, where: str):
        self.job_id = job_id
        self.where = where
        super().__init__(f"no job {job_id} in {where}/")


class SecretInJobError(QueueError):
    """A job would carry a secret; secrets never go into job files."""

    def __init__(self, job_id: str, field: str):
        self.job_id = job_id
        self.field = field
        super().__init__(
            f"job {job_id}: processing_config.{field} looks like a secret; "
            "pass the name of an environment variable instead"
        )


class HandlerError(FundkitError):
    """A job handler failed; the queue retries the job or sets it failed."""


class UnknownJobKindError(HandlerError):
    """No handler is registered for a job's kind."""

    def __init__(self, kind: str, known: list[str]):
        self.kind = kind
        self.known = known
        super().__init__(f"no handler for job kind {kind!r} (known: {', '.join(known) or 'none'})")
