"""Fetch a source into a run: pages (raw kept), details, items spooled to disk, chunks queued.

One call of :func:`fetch` is one *run* (the original's master ``pipeline_runs`` row)::

    runs/<run_id>/raw/<sha256>.json    every response body, stored once per distinct content
    runs/<run_id>/requests.jsonl       one line per request: url, params, status, timing, hash
    runs/<run_id>/items.jsonl          the unique items, in order (detail merged as "detail")
    runs/<run_id>/run.json             the run record, also in fundkit.db (table runs)

Items go to disk as they arrive and chunks are read back from there, so memory does not grow
with the size of the source. The chunks are enqueued as one batch at the very end: a fetch
that fails or is killed midway enqueues nothing, and a failure leaves the run ``failed`` with
the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from fundkit.errors import ConfigError, FundkitError
from fundkit.jobs import Job
from fundkit.queue import Queue
from fundkit.sources.config import Source
from fundkit.store import EventRecorder, Store
from fundkit.workspace import Workspace

log = logging.getLogger("fundkit.fetch")
CHUNK_KIND = "chunk"
MAX_RETRY_AFTER_S = 120.0


class FetchError(FundkitError):
    """A fetch failed; the run is marked failed and nothing was queued."""

    def __init__(self, source_id: str, message: str, run_id: str | None = None):
        self.source_id = source_id
        self.run_id = run_id
        super().__init__(f"fetch {source_id}: {message}")


class _Retryable(Exception):
    """A response worth asking again for: 429, 5xx, or a body that is not the JSON promised."""

    def __init__(self, message: str, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message)


@dataclass
class FetchReport:
    """What a fetch did: the run record."""

    run_id: str
    source_id: str
    source_type: str
    status: str = "fetching"
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    total_opportunities: int = 0
    total_reported: int | None = None
    chunk_size: int = 5
    chunk_count: int = 0
    jobs_created: int = 0
    pages: int = 0
    api_calls: int = 0
    bytes: int = 0
    retries: int = 0
    duplicates_dropped: int = 0
    detail_failures: int = 0
    fetch_ms: float = 0.0
    stop_reason: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dot_get(data: Any, path: str | None) -> Any:
    """Follow a dot path (``data.oppHits``, ``items.0.id``) into JSON; None where it breaks."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def dot_set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


def new_run_id() -> str:
    return f"r{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class _Client:
    """HTTP calls with timeouts, retries (tenacity) and every response kept on disk."""

    def __init__(
        self,
        source: Source,
        run_dir: Path,
        report: FetchReport,
        transport: httpx.BaseTransport | None,
    ):
        self.source = source
        self.report = report
        self.raw_dir = run_dir / "raw"
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        self.requests_log = (run_dir / "requests.jsonl").open("a", encoding="utf-8")
        self.lock = threading.Lock()  # detail calls run in threads
        headers = dict(source.headers)
        if source.api_key_env:
            key = os.environ.get(source.api_key_env)
            if key:
                headers[source.api_key_header] = key
            elif source.api_key_required:
                raise ConfigError(
                    f"source {source.id!r}: field 'api_key_env': environment variable "
                    f"{source.api_key_env} is not set"
                )
        self.http = httpx.Client(
            base_url=source.base_url or "http://sample.invalid",
            headers=headers,
            timeout=httpx.Timeout(source.timeout),
            transport=transport,
            follow_redirects=True,
        )

    def close(self) -> None:
        self.http.close()
        self.requests_log.close()

    def call(self, kind: str, method: str, path: str, params: dict[str, Any], body: Any) -> Any:
        """One request, retried on connection errors, timeouts, 429, 5xx and broken JSON."""
        retrying = Retrying(
            stop=stop_after_attempt(self.source.retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type((httpx.TransportError, _Retryable)),
            before_sleep=self._count_retry,
            reraise=True,
        )
        return retrying(self._once, kind, method, path, params, body)

    def _once(self, kind: str, method: str, path: str, params: dict[str, Any], body: Any) -> Any:
        started = time.perf_counter()
        response = self.http.request(method, path, params=params or None, json=body)
        content = response.content
        digest = hashlib.sha256(content).hexdigest()
        self._keep(content, digest)
        line = {
            "kind": kind,
            "method": method,
            "url": str(response.request.url.copy_with(query=None)),
            "params": params,
            "body": body,
            "status": response.status_code,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
            "bytes": len(content),
            "sha256": digest,
        }
        with self.lock:
            self.report.api_calls += 1
            self.report.bytes += len(content)
            self.requests_log.write(json.dumps(line) + "\n")
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}", _retry_after(response))
        if response.status_code >= 400:
            raise FetchError(
                self.source.id, f"{method} {response.request.url}: HTTP {response.status_code}"
            )
        try:
            data = response.json()
        except ValueError:
            raise _Retryable(
                f"{method} {response.request.url}: the response is not valid JSON"
            ) from None
        if self.source.error_path and dot_get(data, self.source.error_path):
            message = dot_get(data, "msg") or dot_get(data, "message") or "no message"
            raise _Retryable(
                f"{method} {response.request.url}: API error {dot_get(data, self.source.error_path)}: {message}"
            )
        return data

    def _keep(self, content: bytes, digest: str) -> None:
        path = self.raw_dir / f"{digest}.json"
        if not path.exists():  # identical content is stored once
            tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(content)
            os.replace(tmp, path)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER_S)
        full = self.source.backoff * 2.0 ** (state.attempt_number - 1)
        return full / 2 + secrets.SystemRandom().uniform(0, full / 2)

    def _count_retry(self, state: RetryCallState) -> None:
        with self.lock:
            self.report.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.info("retrying after %s (attempt %d)", exc, state.attempt_number)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        with contextlib.suppress(TypeError, ValueError):
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    return None


class _Pages:
    """Builds the request for each page of a source and reads items off each response."""

    def __init__(self, source: Source, max_pages: int):
        self.source = source
        self.pag = source.pagination
        self.max_pages = max_pages
        self.cursor: Any = None

    def request(self, n: int) -> tuple[dict[str, Any], Any]:
        params: dict[str, Any] = dict(self.source.query)
        body = json.loads(json.dumps(self.source.body)) if self.source.body is not None else None
        values: dict[str, Any] = {}
        p = self.pag
        if p.style == "offset":
            values = {p.offset_param: p.start + n * p.page_size, p.size_param: p.page_size}
        elif p.style == "page":
            values = {p.page_param: p.start + n, p.size_param: p.page_size}
        elif p.style == "cursor":
            values = {p.size_param: p.page_size}
            if self.cursor is not None:
                values[p.cursor_param] = self.cursor
        for name, value in values.items():
            if p.location == "body":
                body = body if body is not None else {}
                dot_set(body, name, value)
            else:
                params[name] = value
        return params, body


def fetch(
    workspace: Workspace,
    source: Source,
    *,
    chunk_size: int | None = None,
    max_pages: int | None = None,
    transport: httpx.BaseTransport | None = None,
    on_page: Callable[[FetchReport], None] | None = None,
    run_id: str | None = None,
) -> FetchReport:
    """Fetch ``source`` into a new run and queue its chunks. Raises FetchError on failure."""
    workspace.init()
    report = FetchReport(
        run_id=run_id or new_run_id(),
        source_id=source.id,
        source_type=source.type,
        chunk_size=chunk_size or source.chunk_size,
    )
    run_dir = workspace.runs_dir / report.run_id
    if (run_dir / "run.json").exists():
        raise FetchError(source.id, f"run {report.run_id} exists already; a run id is used once")
    run_dir.mkdir(parents=True, exist_ok=True)  # its notebooks/ may be there (fundkit run)
    with Store(workspace.db_path) as store:
        store.save_run(report.to_dict(), source.public())
        started = time.perf_counter()
        try:
            spool = run_dir / "items.jsonl"
            if source.type == "file":
                _read_file(workspace, source, spool, report)
            else:
                if source.type == "sample" and transport is None:
                    from fundkit.sources.mirror import sample_transport

                    transport = sample_transport()
                _fetch_http(source, run_dir, spool, report, transport, max_pages, on_page)
            report.fetch_ms = round((time.perf_counter() - started) * 1000, 1)
            _enqueue_chunks(workspace, store, source, spool, report)
            report.status = "queued"
        except FundkitError as exc:
            _fail(report, str(exc), started)
            store.save_run(report.to_dict(), source.public())
            _write_record(run_dir, report, source)
            if isinstance(exc, FetchError):
                exc.run_id = report.run_id
                raise
            raise FetchError(source.id, str(exc), report.run_id) from exc
        except (httpx.HTTPError, _Retryable, OSError, ValueError) as exc:
            message = _describe(exc)
            _fail(report, message, started)
            store.save_run(report.to_dict(), source.public())
            _write_record(run_dir, report, source)
            raise FetchError(source.id, message, report.run_id) from exc
        report.finished_at = time.time()
        store.save_run(report.to_dict(), source.public())
    _write_record(run_dir, report, source)
    return report


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"{exc.request.method} {exc.request.url}: timed out" if exc.request else "timed out"
    if isinstance(exc, httpx.HTTPError):
        where = ""
        with contextlib.suppress(RuntimeError):
            where = f"{exc.request.method} {exc.request.url}: "
        return f"{where}{type(exc).__name__}: {exc}"
    return f"{exc}"


def _fail(report: FetchReport, message: str, started: float) -> None:
    report.status = "failed"
    report.error = message
    report.finished_at = time.time()
    report.fetch_ms = round((time.perf_counter() - started) * 1000, 1)


def _write_record(run_dir: Path, report: FetchReport, source: Source) -> None:
    record = {**report.to_dict(), "source": source.public()}
    (run_dir / "run.json").write_text(json.dumps(record, indent=2), encoding="utf-8")


def _fetch_http(
    source: Source,
    run_dir: Path,
    spool: Path,
    report: FetchReport,
    transport: httpx.BaseTransport | None,
    max_pages: int | None,
    on_page: Callable[[FetchReport], None] | None,
) -> None:
    pages = _Pages(source, max_pages or source.pagination.max_pages)
    client = _Client(source, run_dir, report, transport)
    seen: set[str] = set()
    page_hashes: set[str] = set()
    try:
        with (
            spool.open("w", encoding="utf-8") as out,
            ThreadPoolExecutor(
                max_workers=source.detail.concurrency if source.detail else 1
            ) as pool,
        ):
            for n in range(pages.max_pages):
                params, body = pages.request(n)
                data = client.call("page", source.method, source.path, params, body)
                report.pages += 1
                items = dot_get(data, source.data_path)
                if items is None:
                    items = []
                if not isinstance(items, list):
                    raise FetchError(source.id, f"page {n + 1}: {source.data_path!r} is not a list")
                total = dot_get(data, source.total_path)
                if isinstance(total, int | str) and str(total).isdigit():
                    report.total_reported = int(total)
                page_hash = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()
                if items and page_hash in page_hashes:
                    report.stop_reason = "pagination_loop"
                    log.warning(
                        "source %s: page %d repeats an earlier page; stopping", source.id, n + 1
                    )
                    break
                page_hashes.add(page_hash)
                fresh = []
                for item in items:
                    key = (
                        str(dot_get(item, source.id_path))
                        if isinstance(item, dict)
                        else json.dumps(item)
                    )
                    if key in seen:
                        report.duplicates_dropped += 1
                        continue
                    seen.add(key)
                    fresh.append(item)
                fresh = fresh[: max(0, source.max_items - report.total_opportunities)]
                if source.detail is not None:
                    fresh = list(
                        pool.map(lambda item: _with_detail(client, source, item, report), fresh)
                    )
                for item in fresh:
                    out.write(json.dumps(item, ensure_ascii=False) + "\n")
                report.total_opportunities += len(fresh)
                if on_page:
                    on_page(report)
                if report.total_opportunities >= source.max_items:
                    report.stop_reason = "max_items"
                    break
                if source.pagination.style == "none":
                    report.stop_reason = "single_page"
                    break
                if source.pagination.style == "cursor":
                    pages.cursor = dot_get(data, source.pagination.cursor_path)
                    if not pages.cursor or not items:
                        report.stop_reason = "last_cursor"
                        break
                elif len(items) < source.pagination.page_size:
                    report.stop_reason = "empty_page" if not items else "short_page"
                    break
            else:
                report.stop_reason = "max_pages"
    finally:
        client.close()
    if (
        report.total_reported is not None
        and report.total_reported != report.total_opportunities + report.duplicates_dropped
    ):
        log.warning(
            "source %s: the API reported %d items, %d arrived (%d unique)",
            source.id,
            report.total_reported,
            report.total_opportunities + report.duplicates_dropped,
            report.total_opportunities,
        )


def _with_detail(client: _Client, source: Source, item: Any, report: FetchReport) -> Any:
    """Merge the item's detail under ``"detail"``; a detail that still fails is recorded, not fatal."""
    detail = source.detail
    assert detail is not None
    if not isinstance(item, dict):
        return item
    raw_id = dot_get(item, detail.id_field)
    item_id: Any = int(raw_id) if detail.id_type == "int" and str(raw_id).isdigit() else raw_id
    path = detail.path.replace("{id}", str(item_id))
    params: dict[str, Any] = {}
    body: Any = None
    if "{id}" not in detail.path:
        if detail.method == "POST":
            body = {detail.id_param: item_id}
        else:
            params = {detail.id_param: item_id}
    try:
        data = client.call("detail", detail.method, path, params, body)
    except (httpx.HTTPError, _Retryable, FetchError) as exc:
        with client.lock:
            report.detail_failures += 1
        log.warning("source %s: detail for %s failed: %s", source.id, item_id, _describe(exc))
        return {**item, "detail_error": _describe(exc)}
    return {**item, "detail": dot_get(data, detail.data_path)}


def _read_file(workspace: Workspace, source: Source, spool: Path, report: FetchReport) -> None:
    """A local JSON (a list, or an object with the list at data_path) or JSONL file."""
    assert source.file is not None
    path = (workspace.home / source.file).resolve()
    if not path.is_file():
        raise ConfigError(f"source {source.id!r}: field 'file': no such file {path}")
    report.pages = 1
    report.bytes = path.stat().st_size
    seen: set[str] = set()

    def items() -> Iterator[Any]:
        with path.open(encoding="utf-8") as f:
            if path.suffix == ".jsonl":
                for number, line in enumerate(f, start=1):
                    if line.strip():
                        try:
                            yield json.loads(line)
                        except ValueError as exc:
                            raise FetchError(
                                source.id, f"{path.name} line {number}: not valid JSON"
                            ) from exc
            else:
                try:
                    data = dot_get(json.load(f), source.data_path)
                except ValueError as exc:
                    raise FetchError(source.id, f"{path.name}: not valid JSON: {exc}") from exc
                if not isinstance(data, list):
                    raise FetchError(
                        source.id, f"{path.name}: {source.data_path or 'the file'} is not a list"
                    )
                yield from data

    with spool.open("w", encoding="utf-8") as out:
        for item in items():
            key = str(dot_get(item, source.id_path)) if isinstance(item, dict) else json.dumps(item)
            if key in seen:
                report.duplicates_dropped += 1
                continue
            seen.add(key)
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
            report.total_opportunities += 1
            if report.total_opportunities >= source.max_items:
                report.stop_reason = "max_items"
                return
    report.stop_reason = "end_of_file"


def _enqueue_chunks(
    workspace: Workspace, store: Store, source: Source, spool: Path, report: FetchReport
) -> None:
    """Read the spooled items back in chunks and queue them as one all-or-nothing batch."""
    size = report.chunk_size
    total = report.total_opportunities
    report.chunk_count = -(-total // size)
    config = {
        "source_id": source.id,
        "source_type": source.type,
        "mapping": source.mapping,
        "instructions": source.instructions,
    }

    def chunks() -> Iterator[Job]:
        with spool.open(encoding="utf-8") as f:
            batch: list[Any] = []
            index = 0
            for line in f:
                batch.append(json.loads(line))
                if len(batch) == size:
                    yield _job(batch, index)
                    batch, index = [], index + 1
            if batch:
                yield _job(batch, index)

    def _job(items: list[Any], index: int) -> Job:
        return Job(
            kind=CHUNK_KIND,
            raw_data=items,
            processing_config=config,
            source_id=source.id,
            run_id=report.run_id,
            chunk_index=index,
            total_chunks=report.chunk_count,
        )

    recorder = EventRecorder(store)
    queue = Queue(workspace.queue_dir, on_event=recorder)
    recorder.queue = queue
    with queue:
        report.jobs_created = queue.enqueue_batch(chunks())
