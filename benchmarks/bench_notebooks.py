"""Notebook mode ÷ in-process mode: wall time for the same run of 1,000 opportunities (rules).

    .venv/bin/python benchmarks/bench_notebooks.py               # figures in docs/performance.md
    .venv/bin/python benchmarks/bench_notebooks.py --opportunities 1000 --repeat 3

Both modes do the same work on a fresh workspace: fetch a local JSONL file of N Grants.gov-shaped
opportunities (the bundled sample, renumbered), process its chunk jobs with one worker and the
rules backend, and draw the run's charts. In-process calls the functions the notebooks call;
notebook mode is ``fundkit run`` (papermill executes 01 → 02 → 03, each in its own kernel).
Target: ≤ 1.2.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from fundkit import notebooks
from fundkit.sources.config import GRANTS_GOV_MAPPING
from fundkit.sources.sample_data import build_sample

ROOT = Path(__file__).resolve().parent.parent


def workspace(base: Path, n: int) -> Path:
    home = Path(tempfile.mkdtemp(prefix="nb-", dir=base))
    hits, details = build_sample()
    unique = list({h["id"]: {**h, "detail": details[h["id"]]} for h in hits}.values())
    with (home / "opportunities.jsonl").open("w") as f:
        for i in range(n):
            item = copy.deepcopy(unique[i % len(unique)])
            item["id"] = str(2_000_000 + i)
            item["title"] = f"{item['title']} · lot {i}"
            f.write(json.dumps(item) + "\n")
    mapping = "\n".join(f"{k} = {json.dumps(v)}" for k, v in GRANTS_GOV_MAPPING.items())
    (home / "sources.toml").write_text(
        f'[sources.bench]\ntype = "file"\nfile = "opportunities.jsonl"\n[sources.bench.mapping]\n{mapping}\n'
    )
    return home


def in_process(home: Path) -> float:
    started = time.perf_counter()
    report = notebooks.fetch_source(str(home), "bench")
    result = notebooks.process(str(home), workers=1, llm="rules", progress=False)
    notebooks.draw_report(str(home), report.run_id)
    elapsed = time.perf_counter() - started
    assert result.done == report.jobs_created, (result, report)
    return elapsed


def notebook_mode(home: Path) -> float:
    started = time.perf_counter()
    result = notebooks.run_pipeline(str(home), "bench", workers=1, llm="rules")
    elapsed = time.perf_counter() - started
    assert result["status"] == "completed", result
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--opportunities", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=str(ROOT / "benchmarks" / "results" / "work"))
    args = parser.parse_args()
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    notebooks.ensure_kernel()
    times: dict[str, list[float]] = {"in-process": [], "notebooks": []}
    for _ in range(args.repeat):
        for mode, fn in (("in-process", in_process), ("notebooks", notebook_mode)):
            home = workspace(base, args.opportunities)
            try:
                times[mode].append(fn(home))
            finally:
                shutil.rmtree(home, ignore_errors=True)
    inp, nb = statistics.median(times["in-process"]), statistics.median(times["notebooks"])
    print(
        f"{args.opportunities} opportunities, rules backend, one worker; median of {args.repeat}\n"
    )
    print("| mode | wall time (s) |")
    print("|---|---:|")
    print(f"| in-process (the functions the notebooks call) | {inp:.2f} |")
    print(f"| notebooks (fundkit run: papermill 01 → 02 → 03) | {nb:.2f} |")
    ratio = nb / inp
    print(
        f"\nnotebook ÷ in-process: {ratio:.2f} (target ≤ 1.2: {'yes' if ratio <= 1.2 else 'no'}); "
        f"the difference, {nb - inp:.2f} s, is three kernel starts and stops"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
