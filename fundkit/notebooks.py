"""Notebooks: what their cells call, papermill runs of them, reports and scheduled ticks.

The notebooks in ``notebooks/`` are thin: each cell calls a function here and shows what it
returns. :func:`run_pipeline` executes 01 → 02 → 03 through papermill into
``runs/<run_id>/notebooks/``; :func:`draw_report` writes a run's charts and a one-page HTML
report to ``runs/<run_id>/charts/``; :func:`tick` is one scheduled execution of the process
notebook. No secret is ever a notebook parameter: kernels read keys from their environment.
"""

from __future__ import annotations

import html
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from fundkit import metrics
from fundkit.errors import FundkitError
from fundkit.fetch import FetchReport, fetch, new_run_id
from fundkit.queue import Queue
from fundkit.sources import get_source, load_sources
from fundkit.store import Store
from fundkit.worker import QueueProgress, WorkerOptions, WorkerReport, run_workers
from fundkit.workspace import Workspace

KERNEL = "fundkit"
NOTEBOOKS = ("01_fetch_and_chunk", "02_process_jobs", "03_metrics")
PAPERMILL_OVERHEAD_S = 4.0  # kernel start and stop, measured about 2 s; kept for tick budgets


class NotebookError(FundkitError):
    """A notebook cell failed; its executed notebook is kept."""

    def __init__(self, notebook: Path, message: str):
        self.notebook = notebook
        super().__init__(f"{notebook.name}: {message} (executed notebook: {notebook})")


def notebooks_dir() -> Path:
    """Where the notebooks are: $FUNDKIT_NOTEBOOKS, else notebooks/ beside the package."""
    return Path(
        os.environ.get("FUNDKIT_NOTEBOOKS") or Path(__file__).resolve().parent.parent / "notebooks"
    )


# -- what the cells call -------------------------------------------------------------------


def workspace(home: str | None) -> Workspace:
    ws = Workspace.resolve(home)
    ws.init()
    return ws


def fetch_source(
    home: str | None,
    source: str,
    chunk_size: int | None = None,
    max_pages: int | None = None,
    run_id: str | None = None,
    progress: bool = True,
) -> FetchReport:
    """Fetch a source into a run (a progress bar counts pages and items)."""
    from tqdm import tqdm

    ws = workspace(home)
    src = get_source(load_sources(ws.sources_path), source)
    with tqdm(unit="page", desc=f"fetch {source}", disable=not progress, file=sys.stderr) as bar:

        def on_page(report: FetchReport) -> None:
            bar.update(1)
            bar.set_postfix(items=report.total_opportunities)

        return fetch(
            ws, src, chunk_size=chunk_size, max_pages=max_pages, run_id=run_id, on_page=on_page
        )


def run_table(report: FetchReport | dict[str, Any]) -> pd.DataFrame:
    data = report.to_dict() if isinstance(report, FetchReport) else report
    keys = [
        "run_id",
        "source_id",
        "status",
        "total_opportunities",
        "duplicates_dropped",
        "pages",
        "api_calls",
        "jobs_created",
        "chunk_size",
    ]
    return pd.DataFrame([{k: data.get(k) for k in keys}]).set_index("run_id")


def queued_jobs(home: str | None, run_id: str) -> pd.DataFrame:
    q = Queue(workspace(home).queue_dir)
    rows = [
        {
            "chunk": j.chunk_index,
            "items": len(j.raw_data or []),
            "first title": (j.raw_data or [{}])[0].get("title"),
        }
        for j in q.jobs("pending")
        if j.run_id == run_id
    ]
    return (
        pd.DataFrame(rows).sort_values("chunk").reset_index(drop=True) if rows else pd.DataFrame()
    )


def process(
    home: str | None,
    run_id: str | None = None,
    max_jobs: int | None = None,
    time_budget_s: float | None = None,
    workers: int = 1,
    llm: str = "rules",
    progress: bool = True,
) -> WorkerReport:
    """Drain the queue (or one run's jobs) for as long as the budget allows, in this execution."""
    ws = workspace(home)
    options = WorkerOptions(
        home=str(ws.home),
        max_jobs=max_jobs,
        time_budget=time_budget_s,
        llm=llm,
        run_id=run_id,
        wait=False,
    )
    with QueueProgress(Queue(ws.queue_dir), progress):
        return run_workers(options, workers)


def opportunities_frame(home: str | None, include_filtered: bool = False) -> pd.DataFrame:
    """Stored opportunities (canonical fields), best score first."""
    with Store(workspace(home).db_path) as store:
        rows = store.opportunities(include_filtered=include_filtered)
    frame = pd.DataFrame(rows)
    for column in ("open_date", "close_date"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def changes(home: str | None, run_id: str | None = None) -> pd.DataFrame:
    """What a run (default: the latest) changed: its UPDATE paths with the fields that moved."""
    run = run_id or latest_run(home)
    paths = metrics.flow_paths(home)
    if paths.empty:
        return paths
    updated = paths[(paths["run_id"] == run) & (paths["path_type"] == "UPDATE")]
    return updated[["external_id", "title", "changed_fields", "final_outcome"]].reset_index(
        drop=True
    )


def latest_run(home: str | None) -> str:
    with Store(workspace(home).db_path) as store:
        runs = store.runs(limit=1)
    if not runs:
        raise FundkitError("no run yet: fetch a source first")
    return str(runs[0]["run_id"])


@dataclass
class RunFrames:
    """Every metric of one run as DataFrames."""

    run: pd.Series
    stages: pd.DataFrame
    flow: pd.DataFrame
    dedupe: pd.DataFrame
    events: pd.DataFrame
    llm: pd.DataFrame
    runs: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)


def frames(home: str | None, run_id: str) -> RunFrames:
    runs = metrics.runs(home)
    if runs.empty or run_id not in set(runs["run_id"]):
        raise FundkitError(f"no run {run_id}")

    def of_run(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["run_id"] == run_id].reset_index(drop=True) if not frame.empty else frame

    return RunFrames(
        run=runs[runs["run_id"] == run_id].iloc[0],
        stages=of_run(metrics.stages(home)),
        flow=of_run(metrics.flow_paths(home)),
        dedupe=of_run(metrics.dedupe_stats(home)),
        events=of_run(metrics.job_events(home)),
        llm=of_run(metrics.llm_calls(home)),
        runs=runs,
    )


def stage_table(f: RunFrames) -> pd.DataFrame:
    from fundkit import charts

    done = f.stages[f.stages["status"] == "completed"]
    cols = [
        "duration_ms",
        "input_count",
        "output_count",
        "api_calls",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
    ]
    table = done.groupby("stage")[cols].sum()
    return table.reindex([s for s in charts.STAGE_ORDER if s in table.index])


def flow_table(f: RunFrames) -> pd.DataFrame:
    from fundkit import charts

    return charts.flow_counts(f.flow)


def dedupe_table(f: RunFrames) -> pd.Series:
    cols = [
        "checked",
        "new",
        "updates",
        "skips",
        "id_matches",
        "title_matches",
        "freshness_skips",
        "queries",
    ]
    return f.dedupe[cols].sum() if not f.dedupe.empty else pd.Series(dtype=int)


def job_counts(f: RunFrames) -> pd.Series:
    return (
        f.events["event"].value_counts().sort_index()
        if not f.events.empty
        else pd.Series(dtype=int)
    )


def show(fig: Any) -> None:
    """Display a figure in a notebook and close it (no <Figure …> repr is left behind)."""
    from IPython.display import display

    display(fig)  # type: ignore[no-untyped-call]  # IPython has no type hints
    import matplotlib.pyplot as plt

    plt.close(fig)


# -- reports -------------------------------------------------------------------------------


@dataclass
class Report:
    run_id: str
    charts: list[Path]
    html: Path
    advice: dict[str, Any]


def draw_report(home: str | None, run_id: str, target_job_s: float = 60.0) -> Report:
    """Write a run's charts (PNG) and a one-page HTML report to runs/<run_id>/charts/."""
    from fundkit import charts  # matplotlib: only where charts are drawn

    ws = workspace(home)
    f = frames(str(ws.home), run_id)
    out = ws.runs_dir / run_id / "charts"
    advice_fig, advice = charts.chunk_size_advice(f.events, f.runs, target_job_s)
    figures = {
        "01_stage_times": charts.stage_times(f.stages),
        "02_tokens_and_cost": charts.tokens_and_cost(f.stages),
        "03_flow": charts.flow(f.flow),
        "04_dedupe": charts.dedupe(f.dedupe),
        "05_jobs": charts.jobs(f.events),
        "06_chunk_times": charts.chunk_times(f.events),
        "07_queue_depth": charts.queue_depth(charts.depth_from_events(f.events)),
        "08_total_time": charts.total_time(f.run, f.events),
        "09_chunk_size_advice": advice_fig,
    }
    paths = [charts.save(fig, out / f"{name}.png") for name, fig in figures.items()]
    page = out / "report.html"
    page.write_text(_html(f, paths, advice), encoding="utf-8")
    return Report(run_id, paths, page, advice)


def _html(f: RunFrames, paths: list[Path], advice: dict[str, Any]) -> str:
    run = f.run
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(run.get(k)))}</td></tr>"
        for k in (
            "source_id",
            "status",
            "total_opportunities",
            "jobs_created",
            "jobs_completed",
            "jobs_failed",
            "api_calls",
            "fetch_ms",
        )
    )
    images = "".join(f'<figure><img src="{p.name}" alt="{p.stem}"></figure>' for p in paths)
    size = advice.get("recommended_chunk_size")
    return (
        "<!doctype html><meta charset='utf-8'><title>fundkit run "
        + html.escape(str(run["run_id"]))
        + "</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}img{max-width:100%}"
        "th{text-align:left;padding-right:1em}</style>"
        f"<h1>Run {html.escape(str(run['run_id']))}</h1><table>{rows}</table>"
        f"<p>Chunk size advice: {size if size else 'not enough data'} opportunities per job for "
        f"{advice.get('target_s')} s jobs (95th-percentile {advice.get('p95_record_ms')} ms per record).</p>"
        f"{images}"
    )


# -- papermill -----------------------------------------------------------------------------


def ensure_kernel() -> str:
    """The kernel notebooks run on: this environment's own, installed once as 'fundkit'."""
    from jupyter_client.kernelspec import KernelSpecManager

    if KERNEL not in KernelSpecManager().find_kernel_specs():
        from ipykernel.kernelspec import install

        install(prefix=sys.prefix, kernel_name=KERNEL, display_name="fundkit (this environment)")
    return KERNEL


def execute(name: str, output: Path, parameters: dict[str, Any]) -> Path:
    """Run one notebook through papermill; a failing cell raises NotebookError (output kept)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = notebooks_dir() / f"{name}.ipynb"
    if not source.exists():
        raise FundkitError(f"no notebook {source} (set FUNDKIT_NOTEBOOKS to the notebooks folder)")
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(source),
            str(output),
            parameters=parameters,
            kernel_name=ensure_kernel(),
            progress_bar=False,
            cwd=str(output.parent),
        )
    except PapermillExecutionError as exc:
        raise NotebookError(output, f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}") from None
    return output


def run_pipeline(
    home: str | None,
    source: str,
    chunk_size: int | None = None,
    workers: int = 1,
    llm: str = "auto",
    max_pages: int | None = None,
    target_job_s: float = 60.0,
) -> dict[str, Any]:
    """Fetch, process and chart one run by executing the three notebooks."""
    ws = workspace(home)
    run_id = new_run_id()
    folder = ws.runs_dir / run_id / "notebooks"
    steps: list[tuple[str, dict[str, Any]]] = [
        (
            "01_fetch_and_chunk",
            {
                "source": source,
                "chunk_size": chunk_size,
                "max_pages": max_pages,
                "run_id": run_id,
                "home": str(ws.home),
            },
        ),
        (
            "02_process_jobs",
            {"run_id": run_id, "workers": workers, "llm": llm, "home": str(ws.home)},
        ),
        ("03_metrics", {"run_id": run_id, "home": str(ws.home), "target_job_s": target_job_s}),
    ]
    executed: list[str] = []
    for name, parameters in steps:
        try:
            executed.append(str(execute(name, folder / f"{name}.ipynb", parameters)))
        except NotebookError as exc:
            _mark_failed(ws, run_id, source, str(exc))
            raise
    with Store(ws.db_path) as store:
        run = store.run(run_id) or {}
    charts_dir = ws.runs_dir / run_id / "charts"
    return {
        "run_id": run_id,
        "status": run.get("status"),
        "notebooks": executed,
        "charts": sorted(str(p) for p in charts_dir.glob("*.png")),
        "report": str(charts_dir / "report.html"),
        "total_opportunities": run.get("total_opportunities"),
        "jobs_completed": run.get("jobs_completed"),
        "jobs_failed": run.get("jobs_failed"),
    }


def _mark_failed(ws: Workspace, run_id: str, source: str, error: str) -> None:
    with Store(ws.db_path) as store:
        run = store.run(run_id)
        record = {k: v for k, v in (run or {}).items() if k not in ("config", "totals")}
        record.update(
            run_id=run_id,
            source_id=record.get("source_id") or source,
            status="failed",
            error=error,
            finished_at=time.time(),
        )
        record.setdefault("started_at", time.time())
        store.save_run(record, (run or {}).get("config") or {"id": source})


def tick(
    home: str | None, time_budget_s: float = 110.0, workers: int = 1, llm: str = "auto"
) -> dict[str, Any]:
    """One scheduled execution: reap, then the process notebook for at most the budget.

    A tick that finds another one running returns at once (``skipped``): ticks never overlap,
    so a slow run is not joined by a pile of new processes.
    """
    from filelock import FileLock, Timeout

    ws = workspace(home)
    lock = FileLock(ws.queue_dir / "locks" / "tick.lock", timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        return {"status": "skipped", "reason": "another tick is running"}
    started = time.monotonic()
    try:
        with Queue(ws.queue_dir) as queue:
            recovered = queue.reap().recovered
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        output = ws.runs_dir / "ticks" / f"{stamp}_process_jobs.ipynb"
        budget = max(1.0, time_budget_s - PAPERMILL_OVERHEAD_S - (time.monotonic() - started))
        execute(
            "02_process_jobs",
            output,
            {
                "run_id": None,
                "time_budget_s": budget,
                "workers": workers,
                "llm": llm,
                "home": str(ws.home),
            },
        )
    finally:
        lock.release()
    return {
        "status": "ran",
        "recovered": len(recovered),
        "notebook": str(output),
        "elapsed_s": round(time.monotonic() - started, 2),
        "queue": Queue(ws.queue_dir).stats().to_dict()["queue"],
    }


def summary(report: WorkerReport) -> str:
    return (
        f"done {report.done}, retried {report.retried}, failed {report.failed}, "
        f"released {report.released} (stopped: {report.stop_reason})"
    )
