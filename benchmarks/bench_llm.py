"""LLM-bound benchmark: the anthropic backend against a fake Messages API with a fixed latency.

    .venv/bin/python benchmarks/bench_llm.py                      # figures in docs/performance.md
    .venv/bin/python benchmarks/bench_llm.py --latency 0.05 --workers 1 2 4 8 --chunk-size 4

The fake (tests/fake_anthropic.py, on 127.0.0.1) answers every call faithfully after
``--latency`` seconds and reports the system prompt as a cache write the first time it sees it
and a cache read afterwards, as the real API does for an identical cached prefix. For each W,
a fresh workspace fetches the bundled sample and ``fundkit work --workers W --llm anthropic``
works it; throughput is the jobs completed between the moment every worker process had finished
its first job and the last completion, from the job events, so start-up (imports, the first
SDK client) is not counted. Targets: throughput(W) ÷ throughput(1) ≥ 0.8·W up to W = 8;
cache reads ≥ 90 % of the system-prompt tokens after a run's first call.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_anthropic import FakeAnthropic  # noqa: E402


def run(workers: int, latency: float, chunk_size: int, base: Path) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix=f"llm-{workers}-", dir=base))
    try:
        with FakeAnthropic(auto=True, latency=latency) as fake:
            env = {**os.environ, "ANTHROPIC_API_KEY": "bench-key", "ANTHROPIC_BASE_URL": fake.url}
            fundkit = [sys.executable, "-m", "fundkit", "--home", str(home)]
            subprocess.run(
                [*fundkit, "fetch", "sample", "--chunk-size", str(chunk_size)],
                env=env,
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [
                    *fundkit,
                    "work",
                    "--workers",
                    str(workers),
                    "--llm",
                    "anthropic",
                    "--no-progress",
                ],
                env=env,
                check=True,
                capture_output=True,
            )
            reads = fake.total("cache_read_input_tokens")
            writes = fake.total("cache_creation_input_tokens")
            calls = len(fake.requests)
        with sqlite3.connect(home / "fundkit.db") as conn:
            # Steady state: from the moment every worker process has finished its first job
            # (imports and the SDK client are warm) to the last completion.
            (start,) = conn.execute(
                "SELECT MAX(first) FROM (SELECT MIN(at) AS first FROM job_events "
                "WHERE event = 'done' GROUP BY worker)"
            ).fetchone()
            last, done, total = conn.execute(
                "SELECT MAX(at), SUM(at > ?), COUNT(*) FROM job_events WHERE event = 'done'",
                (start,),
            ).fetchone()
            (first,) = conn.execute(
                "SELECT MIN(at) FROM job_events WHERE event = 'claimed'"
            ).fetchone()
        return {
            "workers": workers,
            "jobs": total,
            "calls": calls,
            "jobs_per_s": done / (last - start),
            "whole_run_jobs_per_s": total / (last - first),
            "cache_share": reads / (reads + writes),
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per model call")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--chunk-size", type=int, default=2)
    parser.add_argument("--dir", default=str(ROOT / "benchmarks" / "results" / "work"))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    rows = [run(w, args.latency, args.chunk_size, base) for w in args.workers]
    one = rows[0]["jobs_per_s"]
    print(
        f"fake latency {args.latency * 1000:.0f} ms per call; {rows[0]['jobs']} jobs of {args.chunk_size}\n"
    )
    whole = rows[0]["whole_run_jobs_per_s"]
    print(
        "| workers | jobs/s | model calls | ÷ 1 worker | target ≥ 0.8·W | reached "
        "| whole run ÷ 1 worker | cache share |"
    )
    print("|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        ratio = r["jobs_per_s"] / one
        goal = 0.8 * r["workers"]
        print(
            f"| {r['workers']} | {r['jobs_per_s']:.1f} | {r['calls']} | {ratio:.2f} | {goal:.1f} "
            f"| {'yes' if ratio >= goal else 'no'} | {r['whole_run_jobs_per_s'] / whole:.2f} "
            f"| {r['cache_share'] * 100:.1f} % |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
