"""Job handlers by kind: the registry, and the small built-in handlers for demos and tests.

A handler is ``handler(job, ctx) -> dict | None``. It gets the claimed job and a context that
can extend the job's lease; what it returns is kept as the job's ``result``. Raising fails the
attempt (the queue retries with backoff). Delivery is at-least-once, so a handler must be safe
to run twice for the same job.

Register a handler with ``@register("kind")``; ``fundkit work --import MODULE`` imports a
module of yours so that its handlers are registered in every worker process.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fundkit.errors import HandlerError, UnknownJobKindError, UsageError
from fundkit.jobs import Job
from fundkit.queue import Queue


@dataclass
class JobContext:
    """What a handler may use besides the job: the queue (for heartbeats), the workspace and
    the worker's settings (``llm``: the language-model backend)."""

    queue: Queue
    job: Job
    home: Path
    settings: dict[str, Any] = field(default_factory=dict)

    def heartbeat(self, seconds: float | None = None) -> None:
        """Extend the job's lease; call it from long work so the reaper does not take the job."""
        self.queue.heartbeat(self.job, seconds)


Handler = Callable[[Job, JobContext], dict[str, Any] | None]
AfterJob = Callable[[Job, JobContext], None]
_REGISTRY: dict[str, Handler] = {}
_AFTER: dict[str, list[AfterJob]] = {}
# Modules of fundkit's own that register handlers; imported on first use.
BUILT_IN_MODULES = ("fundkit.pipeline.run",)


def register(kind: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``kind``."""

    def decorate(func: Handler) -> Handler:
        _REGISTRY[kind] = func
        return func

    return decorate


def after_job(kind: str) -> Callable[[AfterJob], AfterJob]:
    """Register a callback run after each job of ``kind`` ends (done, or failed for good)."""

    def decorate(func: AfterJob) -> AfterJob:
        _AFTER.setdefault(kind, []).append(func)
        return func

    return decorate


def _load_built_ins() -> None:
    for name in BUILT_IN_MODULES:
        importlib.import_module(name)


def get(kind: str) -> Handler:
    if kind not in _REGISTRY:
        _load_built_ins()
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise UnknownJobKindError(kind, kinds()) from None


def after(kind: str) -> list[AfterJob]:
    return _AFTER.get(kind, [])


def kinds() -> list[str]:
    _load_built_ins()
    return sorted(_REGISTRY)


def import_modules(names: Iterable[str]) -> None:
    """Import modules that register handlers (``--import``)."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UsageError(f"--import {name}: {exc}") from exc


def _log(job: Job, ctx: JobContext) -> None:
    """Append one line per run to processing_config["log"], if set (tests count these)."""
    path = job.processing_config.get("log")
    if path:
        line = f"{job.id} {ctx.queue.worker_id} {job.token} {os.getpid()}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


@register("noop")
def noop(job: Job, ctx: JobContext) -> dict[str, Any]:
    """Do nothing; report how many items the chunk holds."""
    _log(job, ctx)
    items = len(job.raw_data) if isinstance(job.raw_data, list | dict) else 1
    return {"items": items}


@register("sleep")
def sleep(job: Job, ctx: JobContext) -> dict[str, Any]:
    """Sleep processing_config["seconds"] (default 0.1): a job that takes time."""
    seconds = float(job.processing_config.get("seconds", 0.1))
    time.sleep(seconds)
    _log(job, ctx)
    return {"slept_s": seconds}


@register("wait")
def wait(job: Job, ctx: JobContext) -> dict[str, Any]:
    """Wait until the file processing_config["gate"] exists (tests pause jobs with it)."""
    gate = Path(job.processing_config["gate"])
    deadline = time.monotonic() + float(job.processing_config.get("timeout", 120))
    while not gate.exists():
        if time.monotonic() > deadline:
            raise HandlerError(f"gate {gate} did not open in time")
        time.sleep(0.02)
    _log(job, ctx)
    return {"gate": str(gate)}


@register("fail")
def fail(job: Job, ctx: JobContext) -> None:
    """Always fail: a poison job."""
    _log(job, ctx)
    raise HandlerError(str(job.processing_config.get("message", "this job always fails")))
