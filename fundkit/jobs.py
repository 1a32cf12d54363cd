"""A job, its states, its file name and JSON form, and the retry policy.

A job file is JSON Lines: the job as one JSON object on the first line, then one *patch* line
per later change (each finished attempt), appended in place. A reader applies the patches in
order; a torn last line (a crash mid-append) is ignored. See docs/queue.md for every field.
The file's *folder* says its state; its *name* carries what the queue must know without
opening it::

    pending/, done/, failed/:  {pkey}_{created_us}_{run_id}_{job_id}_{not_before_us}.json
    processing/:               {stem}~{worker}~{seq}~{claimed_ms}~{lease_until_ms}.json

``pkey`` is ``10000 - priority`` as five digits, so a plain sort of names is "highest priority
first, then oldest". ``stem`` is the pending name without ``.json``.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from fundkit.errors import JobFileError, SecretInJobError

SCHEMA_VERSION = 1
MIN_PRIORITY, MAX_PRIORITY = -9999, 9999
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_WORKER = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# Keys whose values must never be stored in a job: name an environment variable instead.
_SECRET_KEY = re.compile(r"(api[_-]?key|secret|password|passwd|authorization|bearer|token)$", re.I)
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$")


class JobStatus(StrEnum):
    """The state of a job; equal to the name of the folder that holds it."""

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


def new_id() -> str:
    """A random job id: 16 hex digits."""
    return secrets.token_hex(8)


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it can be part of a job file name, else raise ValueError."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(f"{what} must be 1-64 letters, digits or '-', got {value!r}")
    return value


def check_worker(value: str) -> str:
    if not _WORKER.fullmatch(value):
        raise ValueError(f"worker id must be 1-64 lowercase letters, digits or '-', got {value!r}")
    return value


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def from_iso(value: str | None) -> float | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class PendingName:
    """The name of a job file at rest in pending/, done/ or failed/."""

    priority: int
    created_us: int
    run_id: str | None
    job_id: str
    not_before_us: int = 0

    @property
    def stem(self) -> str:
        return (
            f"{10000 - self.priority:05d}_{self.created_us:016d}_{self.run_id or ''}"
            f"_{self.job_id}_{self.not_before_us:016d}"
        )

    @property
    def filename(self) -> str:
        return self.stem + ".json"

    @classmethod
    def parse(cls, name: str) -> PendingName:
        """Parse a file name (with or without ``.json``); raise ValueError when it is not ours."""
        stem = name.removesuffix(".json")
        parts = stem.split("_")
        if len(parts) != 5 or not (
            parts[0].isdigit() and parts[1].isdigit() and parts[4].isdigit()
        ):
            raise ValueError(f"not a job file name: {name!r}")
        pkey, created, run_id, job_id, not_before = parts
        if run_id:
            check_id(run_id, "run_id")
        check_id(job_id, "job id")
        return cls(10000 - int(pkey), int(created), run_id or None, job_id, int(not_before))


@dataclass(frozen=True)
class ClaimName:
    """The name of a job file in processing/: the pending stem plus the claim."""

    stem: str
    worker: str
    seq: int
    claimed_ms: int
    lease_until_ms: int

    @property
    def token(self) -> str:
        """The fencing token: unique per claim, so a stale claim can never act on a new one."""
        return f"{self.worker}.{self.seq}"

    @property
    def filename(self) -> str:
        return f"{self.stem}~{self.worker}~{self.seq}~{self.claimed_ms}~{self.lease_until_ms}.json"

    @property
    def pending(self) -> PendingName:
        return PendingName.parse(self.stem)

    @classmethod
    def parse(cls, name: str) -> ClaimName:
        parts = name.removesuffix(".json").split("~")
        if len(parts) != 5 or not all(p.isdigit() for p in parts[2:]):
            raise ValueError(f"not a claimed job file name: {name!r}")
        stem, worker, seq, claimed, until = parts
        PendingName.parse(stem)
        check_worker(worker)
        return cls(stem, worker, int(seq), int(claimed), int(until))


@dataclass
class Job:
    """One unit of work: in fundkit, one chunk of one run.

    The fields of the original ``processing_jobs`` table, plus priority, the backoff time
    (``not_before``), the current claim (``worker``, ``token``, ``lease_until``), the attempt
    history and the handler's ``result``.
    """

    kind: str
    raw_data: Any = None
    processing_config: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_id)
    source_id: str | None = None
    run_id: str | None = None
    chunk_index: int = 0
    total_chunks: int = 1
    status: JobStatus = JobStatus.PENDING
    error_details: dict[str, Any] | None = None
    retry_count: int = 0
    max_retries: int = 3
    priority: int = 0
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    completed_at: float | None = None
    not_before: float | None = None
    worker: str | None = None
    token: str | None = None
    lease_until: float | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "job id")
        if self.run_id is not None:
            check_id(self.run_id, "run_id")
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError("kind must be a non-empty string")
        if not MIN_PRIORITY <= self.priority <= MAX_PRIORITY:
            raise ValueError(f"priority must be in [{MIN_PRIORITY}, {MAX_PRIORITY}]")
        if self.max_retries < 0 or self.retry_count < 0:
            raise ValueError("max_retries and retry_count must be >= 0")
        if not isinstance(self.processing_config, dict):
            raise ValueError("processing_config must be an object")
        self.status = JobStatus(self.status)

    @property
    def name(self) -> PendingName:
        """The job's file name at rest."""
        not_before_us = int(self.not_before * 1e6) if self.not_before else 0
        return PendingName(
            self.priority, int(self.created_at * 1e6), self.run_id, self.id, not_before_us
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "id": self.id,
            "kind": self.kind,
            "source_id": self.source_id,
            "run_id": self.run_id,
            "chunk_index": self.chunk_index,
            "total_chunks": self.total_chunks,
            "status": self.status.value,
            "priority": self.priority,
            "retry_count": self.retry_count,
            "max_retries": self.max_retries,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "not_before": iso(self.not_before),
            "worker": self.worker,
            "token": self.token,
            "lease_until": iso(self.lease_until),
            "processing_config": self.processing_config,
            "error_details": self.error_details,
            "attempts": self.attempts,
            "result": self.result,
            "raw_data": self.raw_data,
        }

    @classmethod
    def from_dict(cls, data: Any, path: Path) -> Job:
        """Build a job from its JSON object; raise JobFileError with the reason if it is not one."""
        if not isinstance(data, dict):
            raise JobFileError(path, f"not a JSON object but {type(data).__name__}")
        schema = data.get("schema")
        if schema is None:
            raise JobFileError(path, "no schema version")
        if not isinstance(schema, int) or not 1 <= schema <= SCHEMA_VERSION:
            raise JobFileError(path, f"unknown schema version {schema!r}")
        try:
            return cls(
                kind=data["kind"],
                raw_data=data.get("raw_data"),
                processing_config=data.get("processing_config") or {},
                id=data["id"],
                source_id=data.get("source_id"),
                run_id=data.get("run_id"),
                chunk_index=int(data.get("chunk_index", 0)),
                total_chunks=int(data.get("total_chunks", 1)),
                status=JobStatus(data.get("status", "pending")),
                error_details=data.get("error_details"),
                retry_count=int(data.get("retry_count", 0)),
                max_retries=int(data.get("max_retries", 3)),
                priority=int(data.get("priority", 0)),
                created_at=from_iso(data["created_at"]) or 0.0,
                started_at=from_iso(data.get("started_at")),
                completed_at=from_iso(data.get("completed_at")),
                not_before=from_iso(data.get("not_before")),
                worker=data.get("worker"),
                token=data.get("token"),
                lease_until=from_iso(data.get("lease_until")),
                attempts=list(data.get("attempts") or []),
                result=data.get("result"),
            )
        except KeyError as exc:
            raise JobFileError(path, f"missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise JobFileError(path, f"invalid field: {exc}") from exc

    def patch(self, attempt: bool = True) -> dict[str, Any]:
        """The patch line that brings a file up to this job: the fields that change, and the
        newest attempt under ``"attempt"`` (readers append it to ``attempts``)."""
        data = self.to_dict()
        out = {k: data[k] for k in PATCH_FIELDS}
        if attempt and self.attempts:
            out["attempt"] = self.attempts[-1]
        return out

    @classmethod
    def from_bytes(cls, raw: bytes, path: Path) -> Job:
        """Read a job file: the first line, then its patches. Raise JobFileError with the reason."""
        if not raw.strip():
            raise JobFileError(path, "empty file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JobFileError(path, f"not UTF-8 (byte {exc.start})") from exc
        first, _, rest = text.partition("\n")
        data = _json_line(first, path, 1)
        if not isinstance(data, dict):
            raise JobFileError(path, f"not a JSON object but {type(data).__name__}")
        attempts = list(data.get("attempts") or [])
        lines = rest.split("\n")
        for number, line in enumerate(lines, start=2):
            if not line.strip():
                continue
            if number == len(lines) + 1 and not text.endswith("\n"):
                break  # a torn append: the change it carried never completed
            patch = _json_line(line, path, number)
            if not isinstance(patch, dict):
                raise JobFileError(path, f"line {number} is not a JSON object")
            attempt = patch.pop("attempt", None)
            if attempt is not None:
                attempts.append(attempt)
            data.update(patch)
        data["attempts"] = attempts
        return cls.from_dict(data, path)

    def check_no_secrets(self, environ: Mapping[str, str] | None = None) -> None:
        """Raise SecretInJobError if processing_config holds a secret.

        A secret is a value under a key such as ``api_key`` or ``authorization``, or any value
        containing the value of an environment variable whose name ends in KEY, TOKEN, SECRET
        or PASSWORD.
        """
        secret_values = env_secrets(os.environ if environ is None else environ)

        def walk(value: Any, where: str) -> None:
            if isinstance(value, dict):
                for key, item in value.items():
                    here = f"{where}.{key}" if where else str(key)
                    if _SECRET_KEY.search(str(key)) and isinstance(item, str) and item:
                        raise SecretInJobError(self.id, here)
                    walk(item, here)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    walk(item, f"{where}[{i}]")
            elif isinstance(value, str) and any(s in value for s in secret_values):
                raise SecretInJobError(self.id, where)

        walk(self.processing_config, "")


_env_cache: tuple[tuple[tuple[str, str], ...], frozenset[str]] | None = None


def env_secrets(environ: Mapping[str, str]) -> frozenset[str]:
    """Values of environment variables that look like secrets (cached while env is unchanged)."""
    global _env_cache
    items = tuple(environ.items())
    if _env_cache is None or _env_cache[0] != items:
        found = frozenset(v for k, v in items if _SECRET_ENV.search(k) and len(v) >= 8)
        _env_cache = (items, found)
    return _env_cache[1]


PATCH_FIELDS = (
    "status",
    "retry_count",
    "started_at",
    "completed_at",
    "not_before",
    "worker",
    "token",
    "lease_until",
    "error_details",
    "result",
)


def _json_line(line: str, path: Path, number: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        where = "" if number == 1 else f"line {number}: "
        raise JobFileError(
            path, f"truncated or invalid JSON: {where}{exc.msg} at {exc.pos}"
        ) from exc


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: retry n waits between d/2 and d, d = base * 2**(n-1).

    ``d`` is capped at ``cap`` seconds.
    """

    base: float = 10.0
    cap: float = 600.0

    def delay(self, retry_count: int, rng: random.Random | None = None) -> float:
        full = min(self.cap, self.base * 2.0 ** max(0, retry_count - 1))
        return full / 2 + float((rng or random).uniform(0, full / 2))

    def bounds(self, retry_count: int) -> tuple[float, float]:
        """The shortest and longest delay before retry ``retry_count``."""
        full = min(self.cap, self.base * 2.0 ** max(0, retry_count - 1))
        return full / 2, full


def error_info(exc: BaseException) -> dict[str, Any]:
    """What a failure leaves in a job: type, message and traceback."""
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }
