"""The command line: a thin shell over the package. ``fundkit --help`` lists the commands.

Exit codes: 0 success, 1 failure, 2 usage. Errors print one line; ``-v`` adds the detail.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from fundkit import __version__
from fundkit.errors import ConfigError, FundkitError, UsageError
from fundkit.jobs import Job
from fundkit.queue import Queue
from fundkit.store import EventRecorder, Store
from fundkit.worker import QueueProgress, WorkerOptions, run_workers
from fundkit.workspace import Workspace

log = logging.getLogger("fundkit")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One clear line, not the whole usage block.
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _json_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc.msg} at {exc.pos}") from exc


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


def _add_llm(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--llm",
        choices=["rules", "anthropic", "auto"],
        default="auto",
        help="backend for chunk jobs (auto: anthropic when ANTHROPIC_API_KEY is set, else rules)",
    )


def _add_target_job_seconds(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--target-job-seconds",
        type=_positive_float,
        default=60.0,
        help="the job duration the chunk-size advice aims at (default 60)",
    )


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--home",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the workspace folder (default: $FUNDKIT_HOME, else the current directory)",
    )
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="say more"
    )

    parser = _Parser(
        prog="fundkit",
        description="Track public funding: a file-based job queue with workers (see README.md).",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"fundkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("init", parents=[common], help="create the workspace folders and files")
    p.add_argument("--json", action="store_true", help="print what was created as JSON")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser(
        "status", parents=[common], help="show the queue: counts, runs, claims, failures"
    )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument(
        "--limit", type=int, default=10, help="how many failed and set-aside jobs to list"
    )
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("enqueue", parents=[common], help="add jobs of one kind to the queue")
    p.add_argument("kind", help="the handler kind, e.g. noop, sleep, wait, fail")
    p.add_argument(
        "--data", type=_json_arg, default=None, metavar="JSON", help="raw_data of each job"
    )
    p.add_argument("--config", type=_json_arg, default={}, metavar="JSON", help="processing_config")
    p.add_argument("--count", type=_positive_int, default=1, help="how many jobs (one batch)")
    p.add_argument("--priority", type=int, default=0, help="higher runs first (-9999..9999)")
    p.add_argument("--max-retries", type=int, default=3, help="retries before failed/ (default 3)")
    p.add_argument("--run-id", default=None, help="the run the jobs belong to")
    p.add_argument("--source-id", default=None, help="the source the jobs came from")
    p.add_argument("--fast", action="store_true", help="skip fsync (not durable across power loss)")
    p.add_argument("--json", action="store_true", help="print the job ids as JSON")
    p.set_defaults(func=cmd_enqueue)

    p = sub.add_parser("work", parents=[common], help="claim and run jobs until the queue is empty")
    p.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--max-jobs", type=_positive_int, default=None, help="stop after N jobs")
    p.add_argument(
        "--time-budget",
        type=_positive_float,
        default=None,
        metavar="S",
        help="stop before S seconds would pass (no job is started that is not expected to fit)",
    )
    p.add_argument(
        "--lease",
        type=_positive_float,
        default=300.0,
        metavar="S",
        help="lease per claim (default 300)",
    )
    p.add_argument(
        "--retry-base",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="first retry delay (default 10)",
    )
    p.add_argument(
        "--retry-cap",
        type=_positive_float,
        default=600.0,
        metavar="S",
        help="longest retry delay (default 600)",
    )
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="stop when no job is ready, even if retries are due later",
    )
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE to register its handlers",
    )
    p.add_argument("--fast", action="store_true", help="skip fsync (not durable across power loss)")
    _add_llm(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_work)

    p = sub.add_parser(
        "sources", parents=[common], help="list the sources: built-in and sources.toml"
    )
    p.add_argument("--json", action="store_true", help="print every source in full as JSON")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser(
        "fetch", parents=[common], help="fetch a source into a new run and queue its chunks"
    )
    p.add_argument("source", help="the source's name (see fundkit sources)")
    p.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=None,
        help="opportunities per job (default: the source's, 5)",
    )
    p.add_argument("--max-pages", type=_positive_int, default=None, help="stop after N pages")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the run record as JSON")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser(
        "run", parents=[common], help="fetch, process and chart a run through the notebooks"
    )
    p.add_argument("source", help="the source's name (see fundkit sources)")
    p.add_argument("--chunk-size", type=_positive_int, default=None, help="opportunities per job")
    p.add_argument(
        "--max-pages", type=_positive_int, default=None, help="stop fetching after N pages"
    )
    p.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1)")
    _add_llm(p)
    _add_target_job_seconds(p)
    p.add_argument(
        "--json", action="store_true", help='print {"run_id", "status", "notebooks", "charts", ...}'
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", parents=[common], help="(re)draw a run's charts and HTML report")
    p.add_argument(
        "run_id", metavar="RUN_ID", nargs="?", default=None, help="default: the latest run"
    )
    _add_target_job_seconds(p)
    p.add_argument(
        "--json", action="store_true", help="print the chart paths and the advice as JSON"
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "tick",
        parents=[common],
        help="one scheduled execution: reap, then process jobs within a budget",
    )
    p.add_argument(
        "--time-budget",
        type=_positive_float,
        default=110.0,
        metavar="S",
        help="seconds for the whole tick (default 110)",
    )
    p.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1)")
    _add_llm(p)
    p.add_argument("--json", action="store_true", help="print the tick's report as JSON")
    p.set_defaults(func=cmd_tick)

    p = sub.add_parser("opportunities", parents=[common], help="list stored opportunities")
    p.add_argument("--source", default=None, help="only this source")
    p.add_argument("--all", action="store_true", help="include the filtered-out ones (marked)")
    p.add_argument(
        "--limit", type=int, default=50, help="how many to print (default 50; --json: all)"
    )
    p.add_argument(
        "--json", action="store_true", help="print them as JSON with every canonical field"
    )
    p.set_defaults(func=cmd_opportunities)

    p = sub.add_parser("runs", parents=[common], help="list runs, or show one: runs show RUN_ID")
    p.add_argument("--json", action="store_true", help="print JSON")
    runs_sub = p.add_subparsers(dest="runs_command", metavar="show", parser_class=_Parser)
    show = runs_sub.add_parser(
        "show", parents=[common], help="one run: totals, stages, tokens, cost, flows"
    )
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "reap", parents=[common], help="recover jobs of dead workers and expired leases now"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_reap)

    p = sub.add_parser("requeue", parents=[common], help="move failed jobs back to pending")
    p.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="failed jobs to requeue")
    p.add_argument("--failed", action="store_true", help="requeue every failed job")
    p.add_argument("--json", action="store_true", help="print the requeued ids as JSON")
    p.set_defaults(func=cmd_requeue)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", 0) or 0
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"fundkit: error: {exc}", file=sys.stderr)
        return 2
    except FundkitError as exc:
        log.debug("detail", exc_info=True)
        print(f"fundkit: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        log.debug("detail", exc_info=True)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"fundkit: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _workspace(args: argparse.Namespace) -> Workspace:
    return Workspace.resolve(getattr(args, "home", None))


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def cmd_init(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    created = ws.init()
    if args.json:
        _print_json({"home": str(ws.home), "created": [str(p) for p in created]})
    else:
        print(
            f"workspace {ws.home}: "
            + (f"created {len(created)} paths" if created else "already set up")
        )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    queue = Queue(ws.queue_dir)
    stats = queue.stats()
    now = time.time()
    claims = [
        {
            "job_id": c.pending.job_id,
            "run_id": c.pending.run_id,
            "worker": c.worker,
            "token": c.token,
            "running_s": round(now - c.claimed_ms / 1000, 1),
            "lease_left_s": round(c.lease_until_ms / 1000 - now, 1),
        }
        for c in queue.claims()
    ]
    failed = [
        {
            "job_id": j.id,
            "kind": j.kind,
            "run_id": j.run_id,
            "retry_count": j.retry_count,
            "error": f"{(j.error_details or {}).get('type')}: {(j.error_details or {}).get('message')}",
        }
        for j in queue.jobs("failed", last=args.limit)
    ]
    aside = [
        {"file": s.file, "reason": s.reason, "from": s.origin, "at": s.at}
        for s in queue.set_aside_files()[: args.limit]
    ]
    runs: list[dict[str, Any]] = []
    if ws.db_path.exists():
        with Store(ws.db_path) as store:
            runs = store.runs(limit=5)
    if args.json:
        _print_json(
            {
                "home": str(ws.home),
                **stats.to_dict(),
                "processing": claims,
                "failed": failed,
                "set_aside": aside,
                "recent_runs": runs,
            }
        )
        return 0
    age = stats.oldest_pending_age_s
    print(f"workspace  {ws.home}")
    print(
        f"queue      pending {stats.pending} (ready {stats.ready}, delayed {stats.delayed})"
        f"  processing {stats.processing}  done {stats.done}  failed {stats.failed}"
        f"  set aside {stats.corrupt}"
    )
    print(f"oldest pending job: {'-' if age is None else f'{age:.1f} s old'}")
    if runs:
        print("recent runs:")
        for r in runs:
            print(
                f"  {r['run_id']}  {r['source_id']:<14} {r['status']:<8} "
                f"{r['total_opportunities'] or 0} opportunities, {r['jobs_created'] or 0} jobs"
                + (f"  error: {r['error']}" if r["error"] else "")
            )
    if stats.runs:
        print("jobs by run:")
        for run, counts in stats.runs.items():
            parts = "  ".join(f"{k} {v}" for k, v in counts.items())
            print(f"  {run or '(no run)':<28} {parts}")
    if claims:
        print("processing:")
        for c in claims:
            print(
                f"  {c['job_id']}  worker {c['worker']}  running {c['running_s']} s  lease left {c['lease_left_s']} s"
            )
    if failed:
        print("failed (requeue with: fundkit requeue JOB_ID | --failed):")
        for f in failed:
            print(f"  {f['job_id']}  {f['kind']}  retries {f['retry_count']}  {f['error']}")
    if aside:
        print(f"set aside in {queue.dir('corrupt')}:")
        for a in aside:
            print(f"  {a['file']}  ({a['from']}) {a['reason']}")
    return 0


def _queue_with_events(ws: Workspace, *, durable: bool = True) -> tuple[Queue, Store]:
    store = Store(ws.db_path)
    recorder = EventRecorder(store)
    queue = Queue(ws.queue_dir, durable=durable, on_event=recorder)
    recorder.queue = queue
    return queue, store


def cmd_enqueue(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    ws.init()
    try:
        jobs = [
            Job(
                kind=args.kind,
                raw_data=args.data,
                processing_config=args.config,
                run_id=args.run_id,
                source_id=args.source_id,
                chunk_index=i,
                total_chunks=args.count,
                priority=args.priority,
                max_retries=args.max_retries,
            )
            for i in range(args.count)
        ]
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    queue, store = _queue_with_events(ws, durable=not args.fast)
    with store:
        if len(jobs) == 1:
            queue.enqueue(jobs[0])
        else:
            queue.enqueue_batch(jobs)
    if args.json:
        _print_json({"jobs_created": len(jobs), "job_ids": [j.id for j in jobs]})
    else:
        print(f"queued {len(jobs)} {args.kind} job(s) in {queue.dir('pending')}")
    return 0


def cmd_work(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    ws.init()
    options = WorkerOptions(
        home=str(ws.home),
        max_jobs=args.max_jobs,
        time_budget=args.time_budget,
        lease_seconds=args.lease,
        durable=not args.fast,
        retry_base=args.retry_base,
        retry_cap=args.retry_cap,
        wait=not args.no_wait,
        imports=args.imports,
        llm=args.llm,
    )
    from fundkit import handlers

    handlers.import_modules(
        args.imports
    )  # a bad --import is a usage error, said before anything else
    if args.llm == "anthropic" and not (
        os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
    ):
        raise ConfigError(
            "--llm anthropic needs ANTHROPIC_API_KEY in the environment", field="ANTHROPIC_API_KEY"
        )
    if args.llm == "auto":
        chosen = "anthropic" if os.environ.get("ANTHROPIC_API_KEY") else "rules"
        why = (
            "ANTHROPIC_API_KEY is set" if chosen == "anthropic" else "ANTHROPIC_API_KEY is not set"
        )
        print(f"fundkit: language-model backend: {chosen} ({why})", file=sys.stderr)
    show = not (args.json or args.no_progress) and sys.stderr.isatty()
    with QueueProgress(Queue(ws.queue_dir), show):
        report = run_workers(options, args.workers)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(
            f"{report.workers} worker(s): done {report.done}, retried {report.retried}, "
            f"failed {report.failed}, released {report.released}, recovered {report.recovered}"
            f" in {report.elapsed_s:.1f} s (stopped: {report.stop_reason})"
        )
    return 0


def cmd_reap(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    queue, store = _queue_with_events(ws)
    with store, queue:
        report = queue.reap()
    if args.json:
        _print_json(report.to_dict())
    else:
        print(
            f"recovered {len(report.recovered)} job(s); dead workers: "
            f"{', '.join(report.crashed_workers) or 'none'}; expired leases: {len(report.expired)}"
        )
    return 0


def cmd_requeue(args: argparse.Namespace) -> int:
    if args.failed == bool(args.job_ids):
        raise UsageError("give either --failed or one or more JOB_IDs")
    ws = _workspace(args)
    queue, store = _queue_with_events(ws)
    with store, queue:
        jobs = queue.requeue(None if args.failed else args.job_ids)
    if args.json:
        _print_json({"requeued": [j.id for j in jobs]})
    else:
        print(f"requeued {len(jobs)} job(s)")
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    from fundkit.sources import load_sources

    ws = _workspace(args)
    sources = load_sources(ws.sources_path)
    if args.json:
        _print_json({name: src.public() for name, src in sources.items()})
        return 0
    width = max(len(n) for n in sources)
    for name, src in sorted(sources.items()):
        where = src.defined_in if src.defined_in == "built-in" else "sources.toml"
        target = src.file or src.base_url or "(bundled)"
        print(f"{name:<{width}}  {src.type:<14} {where:<12} {target}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from fundkit.fetch import FetchReport, fetch
    from fundkit.sources import get_source, load_sources

    ws = _workspace(args)
    source = get_source(load_sources(ws.sources_path), args.source)
    bar: Any = None
    if not (args.json or args.no_progress) and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="page", desc=f"fetch {source.id}", file=sys.stderr)

    def on_page(report: FetchReport) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix(items=report.total_opportunities, refresh=False)

    try:
        report = fetch(
            ws, source, chunk_size=args.chunk_size, max_pages=args.max_pages, on_page=on_page
        )
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        _print_json(report.to_dict())
    else:
        print(
            f"run {report.run_id}: {report.total_opportunities} opportunities from {report.pages} page(s), "
            f"{report.jobs_created} job(s) of {report.chunk_size} queued"
            f" ({report.duplicates_dropped} duplicates dropped, {report.detail_failures} detail failures,"
            f" {report.retries} retries; stopped: {report.stop_reason})"
        )
    return 0


def _existing_store(args: argparse.Namespace) -> Store:
    ws = _workspace(args)
    if not ws.db_path.exists():
        raise FundkitError(f"no store in {ws.home} yet: run fundkit fetch (and fundkit work) first")
    return Store(ws.db_path)


def cmd_opportunities(args: argparse.Namespace) -> int:
    with _existing_store(args) as store:
        rows = store.opportunities(args.source, include_filtered=args.all)
    if args.json:
        _print_json(rows)
        return 0
    print(f"{len(rows)} opportunities" + (" (filtered-out ones marked with x)" if args.all else ""))
    for row in rows[: args.limit]:
        mark = " " if row["included"] else "x"
        score = "-" if row["relevance_score"] is None else f"{row['relevance_score']:4.1f}"
        print(
            f"{mark} {score}  {row['status'] or '?':<8} {row['close_date'] or '-':<10}  "
            f"{row['title'][:70]}  [{row['source_id']}:{row['external_id']}]"
        )
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    with _existing_store(args) as store:
        if args.runs_command == "show":
            run = store.run(args.run_id)
            if run is None:
                raise FundkitError(f"no run {args.run_id}")
            run["totals"] = run.get("totals") or store.run_totals(args.run_id)
            if args.json:
                _print_json(run)
                return 0
            _print_run(run)
            return 0
        # A run whose last job was failed by a reap (its worker died) has no worker left to
        # close it: close such runs here, from the same counts a worker would use.
        for run in store.runs(limit=1000):
            if run["status"] == "queued":
                store.close_run_if_done(run["run_id"])
        runs = store.runs(limit=1000)
    if args.json:
        _print_json(runs)
        return 0
    for r in runs:
        print(
            f"{r['run_id']}  {r['source_id']:<14} {r['status']:<21} "
            f"{r['total_opportunities'] or 0:>6} opportunities  {r['jobs_created'] or 0:>5} jobs"
        )
    return 0


def _print_run(run: dict[str, Any]) -> None:
    totals = run["totals"]
    print(f"run {run['run_id']}  source {run['source_id']}  status {run['status']}")
    print(
        f"fetch: {run['total_opportunities']} opportunities, {run['pages']} pages, {run['api_calls']} API calls, "
        f"{run['bytes']} bytes, {run['fetch_ms']} ms; {run['jobs_created']} jobs of {run['chunk_size']}"
    )
    if run.get("jobs_completed") is not None:
        print(f"jobs: {run['jobs_completed']} completed, {run['jobs_failed']} failed")
    for name, st in totals.get("stages", {}).items():
        print(
            f"  {name:<8} {st['duration_ms']:10.1f} ms  in {st['input_count']:>6}  out {st['output_count']:>6}"
            f"  model calls {st['api_calls']}"
        )
    llm = totals.get("llm", {})
    print(
        f"model: {llm.get('calls', 0)} calls, {llm.get('input_tokens', 0)} in / {llm.get('output_tokens', 0)} out tokens "
        f"(cache read {llm.get('cache_read_tokens', 0)}, write {llm.get('cache_write_tokens', 0)}), ${llm.get('cost_usd', 0):.4f}"
    )
    print("paths: " + ", ".join(f"{k} {v}" for k, v in totals.get("paths", {}).items()))
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in totals.get("outcomes", {}).items()))


def cmd_run(args: argparse.Namespace) -> int:
    from fundkit import notebooks

    ws = _workspace(args)
    result = notebooks.run_pipeline(
        str(ws.home),
        args.source,
        chunk_size=args.chunk_size,
        workers=args.workers,
        llm=args.llm,
        max_pages=args.max_pages,
        target_job_s=args.target_job_seconds,
    )
    if args.json:
        _print_json(result)
        return 0 if result["status"] != "failed" else 1
    print(
        f"run {result['run_id']}: {result['status']}, {result['total_opportunities']} opportunities, "
        f"{result['jobs_completed']} jobs completed, {result['jobs_failed']} failed"
    )
    print("executed notebooks:")
    for path in result["notebooks"]:
        print(f"  {path}")
    print("charts:")
    for path in result["charts"]:
        print(f"  {path}")
    print(f"report: {result['report']}")
    return 0 if result["status"] != "failed" else 1


def cmd_report(args: argparse.Namespace) -> int:
    from fundkit import notebooks

    ws = _workspace(args)
    run_id = args.run_id or notebooks.latest_run(str(ws.home))
    report = notebooks.draw_report(str(ws.home), run_id, args.target_job_seconds)
    if args.json:
        _print_json(
            {
                "run_id": run_id,
                "charts": [str(p) for p in report.charts],
                "report": str(report.html),
                "advice": report.advice,
            }
        )
        return 0
    for path in report.charts:
        print(path)
    print(report.html)
    size = report.advice.get("recommended_chunk_size")
    if size:
        print(
            f"chunk size advice: {size} opportunities per job keeps the 95th-percentile job under {args.target_job_seconds:g} s"
        )
    return 0


def cmd_tick(args: argparse.Namespace) -> int:
    from fundkit import notebooks

    ws = _workspace(args)
    result = notebooks.tick(str(ws.home), args.time_budget, args.workers, args.llm)
    if args.json:
        _print_json(result)
    elif result["status"] == "skipped":
        print(f"tick skipped: {result['reason']}")
    else:
        print(
            f"tick: recovered {result['recovered']}, {result['elapsed_s']} s; queue {result['queue']}; notebook {result['notebook']}"
        )
    return 0
