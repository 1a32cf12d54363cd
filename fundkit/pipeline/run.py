"""The ``chunk`` job handler: extract → dedupe → analyze → filter → store, with every metric.

Each stage is timed and counted. All that a chunk writes (opportunities, flow paths, stage
metrics, model calls, dedupe stats and the job's result) goes into the store in one
transaction keyed by the job id, so a job retried after a crash between storing and completing
changes nothing. A failed attempt still records its stage metrics and model calls: the tokens
were paid for. When a run's last job ends, the run is closed with its totals.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fundkit.errors import HandlerError
from fundkit.handlers import JobContext, after_job, register
from fundkit.jobs import Job
from fundkit.llm.base import Backend, LLMCall, get_backend
from fundkit.model import Opportunity
from fundkit.pipeline.analyze import Profile, analyze, apply_enhancements
from fundkit.pipeline.dedupe import Decision, decide, normalize_title
from fundkit.store import ChunkWrite, Store, encode_opportunity
from fundkit.workspace import Workspace

log = logging.getLogger("fundkit.pipeline")
STAGES = ("extract", "dedupe", "analyze", "filter", "store")
REQUIRED_CONFIG = ("source_id", "source_type")
_backends: dict[str, Backend] = {}


def backend_for(name: str) -> Backend:
    if name not in _backends:
        _backends[name] = get_backend(name)
    return _backends[name]


@dataclass
class _Metrics:
    """Stage rows for one attempt of one job."""

    job: Job
    attempt: int
    calls: list[LLMCall] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str, input_count: int) -> Iterator[dict[str, Any]]:
        row: dict[str, Any] = {
            "job_id": self.job.id,
            "attempt": self.attempt,
            "run_id": self.job.run_id,
            "stage": name,
            "stage_order": STAGES.index(name) + 1,
            "status": "failed",
            "started_at": time.time(),
            "input_count": input_count,
            "output_count": None,
            "details": None,
        }
        first_call = len(self.calls)
        started = time.perf_counter()
        try:
            yield row
            row["status"] = "completed"
        finally:
            row["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            mine = self.calls[first_call:]
            row.update(
                api_calls=len(mine),
                input_tokens=sum(c.input_tokens for c in mine),
                output_tokens=sum(c.output_tokens for c in mine),
                cache_read_tokens=sum(c.cache_read_tokens for c in mine),
                cache_write_tokens=sum(c.cache_write_tokens for c in mine),
                cost_usd=sum(c.cost_usd for c in mine),
            )
            if isinstance(row["details"], dict):
                row["details"] = json.dumps(row["details"])
            self.stages.append(row)

    def call_rows(self) -> list[dict[str, Any]]:
        now = time.time()
        return [
            {
                **c.to_dict(),
                "run_id": self.job.run_id,
                "job_id": self.job.id,
                "attempt": self.attempt,
                "at": now,
            }
            for c in self.calls
        ]


def _opportunity_row(
    record: Opportunity, job: Job, included: bool, reason: str | None
) -> dict[str, Any]:
    data = encode_opportunity(record)
    now = time.time()
    return {
        **data,
        "norm_title": normalize_title(record.title),
        "included": int(included),
        "filter_reason": reason,
        "run_id": job.run_id,
        "job_id": job.id,
        "created_at": now,
        "updated_at": now,
    }


def _changes(decision: Decision) -> dict[str, Any]:
    """The changed critical fields, never overwriting a stored value with null."""
    data = decision.record.model_dump(mode="json")
    changes = {name: data[name] for name in decision.changed if data[name] is not None}
    if changes and decision.record.api_updated_at is not None:
        changes["api_updated_at"] = data["api_updated_at"]
    if "title" in changes:
        changes["norm_title"] = normalize_title(decision.record.title)
    return changes


def process_chunk(job: Job, store: Store, backend: Backend, profile: Profile) -> dict[str, Any]:
    """Run the five stages over one chunk and store the outcome; return the job's result."""
    config = job.processing_config
    missing = [k for k in REQUIRED_CONFIG if not config.get(k)]
    if missing:  # the original ran jobs with an empty config after a key mismatch
        raise HandlerError(f"job {job.id}: processing_config lacks {', '.join(missing)}")
    items = job.raw_data if isinstance(job.raw_data, list) else []
    if not isinstance(job.raw_data, list):
        raise HandlerError(f"job {job.id}: raw_data is not a list of items")
    m = _Metrics(job, attempt=len(job.attempts) + 1)
    started = time.perf_counter()
    try:
        write = _run_stages(job, items, store, backend, profile, m)
    except BaseException:
        store.save_failed_attempt(m.stages, m.call_rows())
        raise
    write.result["processing_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return write.result


def _run_stages(
    job: Job, items: list[Any], store: Store, backend: Backend, profile: Profile, m: _Metrics
) -> ChunkWrite:
    config = job.processing_config
    source_id = str(config["source_id"])
    flow: list[dict[str, Any]] = []
    now = time.time()

    def path(
        record_id: str,
        title: str | None,
        path_type: str | None,
        reason: str,
        outcome: str,
        stages: list[str],
        **extra: Any,
    ) -> None:
        flow.append(
            {
                "run_id": job.run_id,
                "job_id": job.id,
                "source_id": source_id,
                "external_id": record_id,
                "title": title,
                "path_type": path_type,
                "path_reason": reason,
                "match_method": extra.get("method"),
                "changed_fields": json.dumps(extra.get("changed", [])),
                "stages": json.dumps(stages),
                "final_outcome": outcome,
                "relevance_score": extra.get("score"),
                "tokens": None,
                "cost_usd": None,
                "processing_ms": None,
                "at": now,
            }
        )

    with m.stage("extract", len(items)) as row:
        records, failures = backend.extract(items, dict(config), m.calls)
        row["output_count"] = len(records)
        row["details"] = {"failures": len(failures), "backend": backend.name}
    for failure in failures:
        path(failure.item_id, None, None, failure.reason, "failed", ["extract"])

    with m.stage("dedupe", len(records)) as row:
        d_started = time.perf_counter()
        by_id, by_title = store.lookup_opportunities(
            source_id,
            [r.external_id for r in records],
            sorted({normalize_title(r.title) for r in records}),
        )
        decisions = [decide(r, by_id, by_title) for r in records]
        counts = {
            t: sum(1 for d in decisions if d.path_type == t) for t in ("NEW", "UPDATE", "SKIP")
        }
        dedupe = {
            "job_id": job.id,
            "run_id": job.run_id,
            "checked": len(records),
            "new": counts["NEW"],
            "updates": counts["UPDATE"],
            "skips": counts["SKIP"],
            "id_matches": sum(1 for d in decisions if d.method == "id"),
            "title_matches": sum(1 for d in decisions if d.method == "title"),
            "freshness_skips": sum(1 for d in decisions if d.reason == "api_timestamp_not_newer"),
            "queries": 2,
            "llm_bypassed": counts["UPDATE"] + counts["SKIP"],
            "duration_ms": round((time.perf_counter() - d_started) * 1000, 3),
        }
        row["output_count"] = counts["NEW"]
        row["details"] = counts
    new = [d.record for d in decisions if d.path_type == "NEW"]

    with m.stage("analyze", len(new)) as row:
        analyze(new, profile)
        if new:
            apply_enhancements(new, backend.enhance(new, m.calls))
        row["output_count"] = len(new)

    with m.stage("filter", len(new)) as row:
        keep = [r for r in new if (r.relevance_score or 0) >= profile.min_score]
        dropped = [r for r in new if (r.relevance_score or 0) < profile.min_score]
        row["output_count"] = len(keep)
        row["details"] = {
            "included": len(keep),
            "excluded": len(dropped),
            "min_score": profile.min_score,
        }

    write = ChunkWrite(job_id=job.id, run_id=job.run_id, dedupe=dedupe)
    for d in decisions:
        r = d.record
        if d.path_type == "NEW":
            included = r in keep
            reason = None if included else f"score {r.relevance_score} below {profile.min_score}"
            write.inserts.append(_opportunity_row(r, job, included, reason))
            path(
                r.external_id,
                r.title,
                "NEW",
                d.reason,
                "stored" if included else "filtered_out",
                ["extract", "dedupe", "analyze", "filter", "store"],
                score=r.relevance_score,
            )
        elif d.path_type == "UPDATE":
            changes = _changes(d)
            assert d.existing is not None
            if changes:
                write.updates.append((int(d.existing["id"]), changes))
            path(
                r.external_id,
                r.title,
                "UPDATE",
                d.reason,
                "updated" if changes else "skipped",
                ["extract", "dedupe", "store"],
                method=d.method,
                changed=d.changed,
            )
        else:
            path(
                r.external_id,
                r.title,
                "SKIP",
                d.reason,
                "skipped",
                ["extract", "dedupe"],
                method=d.method,
            )

    # The outcome counts are added by the store, after it knows what it really inserted.
    write.result = {
        "items": len(items),
        "tokens": sum(c.input_tokens + c.output_tokens for c in m.calls),
    }
    # The store stage's row goes in with the data it describes.
    store_row = {
        "job_id": job.id,
        "attempt": m.attempt,
        "run_id": job.run_id,
        "stage": "store",
        "stage_order": STAGES.index("store") + 1,
        "status": "completed",
        "started_at": time.time(),
        "duration_ms": None,
        "input_count": len(keep) + len(dropped) + len(write.updates),
        "output_count": len(write.inserts) + len(write.updates),
        "api_calls": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cost_usd": 0.0,
        "details": None,
    }
    write.flow_paths = flow
    write.calls = m.call_rows()
    write.stages = [*m.stages, store_row]
    write.store_stage = store_row  # the store times its own stage, up to its commit
    if not store.save_chunk(write):
        log.info("job %s was stored before (a retry after a crash): nothing changes", job.id)
        write.result = store.job_result(job.id) or write.result
    return write


@register("chunk")
def handle_chunk(job: Job, ctx: JobContext) -> dict[str, Any]:
    """The worker's handler for jobs of kind ``chunk`` (queued by ``fundkit fetch``)."""
    ws = Workspace.resolve(ctx.home)
    backend = backend_for(str(ctx.settings.get("llm", "auto")))
    profile = Profile.load(ws.profile_path)
    return process_chunk(job, _store(ws), backend, profile)


_stores: dict[Path, Store] = {}


def _store(ws: Workspace) -> Store:
    """One connection per worker process and store, kept for its life."""
    if ws.db_path not in _stores:
        _stores[ws.db_path] = Store(ws.db_path)
    return _stores[ws.db_path]


@after_job("chunk")
def close_run(job: Job, ctx: JobContext) -> None:
    """After each chunk job ends (done, or failed for good): close its run if it was the last."""
    if not job.run_id:
        return
    status = _store(Workspace.resolve(ctx.home)).close_run_if_done(job.run_id)
    if status:
        log.info("run %s closed: %s", job.run_id, status)
