"""Pipeline benchmark: the rules backend end to end, and dedupe against a small and a big store.

    .venv/bin/python benchmarks/bench_pipeline.py                  # figures in docs/performance.md
    .venv/bin/python benchmarks/bench_pipeline.py --opportunities 10000 --small 1000 --big 100000

1. End to end, in-process: 10k opportunities (the sample's records, renumbered and retitled)
   in chunks of 5 through extract → dedupe → analyze → filter → store, one store. Target
   ≥ 2,000 opportunities/s.
2. Dedupe per record against a store of 1k rows and of 100k rows (same 2,000 probe records,
   half of them present): target ratio ≤ 1.5 (indexed lookups, no scans).
"""

from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from fundkit.jobs import Job
from fundkit.llm.rules import RulesBackend
from fundkit.pipeline.analyze import Profile
from fundkit.pipeline.dedupe import decide, normalize_title
from fundkit.pipeline.run import process_chunk
from fundkit.sources.sample_data import build_sample
from fundkit.store import Store

ROOT = Path(__file__).resolve().parent.parent
CONFIG = {"source_id": "bench", "source_type": "sample", "mapping": {}, "instructions": ""}


def items(n: int) -> list[dict[str, Any]]:
    hits, details = build_sample()
    base = [{**h, "detail": details[h["id"]]} for h in {h["id"]: h for h in hits}.values()]
    out = []
    for i in range(n):
        item = copy.deepcopy(base[i % len(base)])
        item["id"] = str(1_000_000 + i)
        item["title"] = f"{item['title']} · lot {i}"
        out.append(item)
    return out


def end_to_end(n: int, base: Path) -> dict[str, float]:
    data = items(n)
    jobs = [
        Job(
            kind="chunk",
            raw_data=data[i : i + 5],
            processing_config=CONFIG,
            run_id="bench",
            chunk_index=i // 5,
        )
        for i in range(0, n, 5)
    ]
    backend, profile = RulesBackend(), Profile.load(None)
    with Store(base / "e2e.db") as store:
        started = time.perf_counter()
        for job in jobs:
            process_chunk(job, store, backend, profile)
        elapsed = time.perf_counter() - started
        stored = store.conn.execute("SELECT COUNT(*) FROM opportunities").fetchone()[0]
    assert stored == n, stored
    return {"opportunities": n, "seconds": elapsed, "per_s": n / elapsed}


def fill(store: Store, n: int) -> None:
    now = time.time()
    rows = [
        (
            "bench",
            str(2_000_000 + i),
            normalize_title(f"Stored opportunity number {i}"),
            f"Stored opportunity number {i}",
            now,
            now,
        )
        for i in range(n)
    ]
    store.conn.execute("BEGIN")
    store.conn.executemany(
        "INSERT INTO opportunities (source_id, external_id, norm_title, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    store.conn.execute("COMMIT")


def dedupe_time(size: int, probes: int, base: Path) -> float:
    """Microseconds of dedupe (2 lookups per chunk of 5 + decisions) per record."""
    path = base / f"dedupe-{size}.db"
    with Store(path) as store:
        fill(store, size)
        records, _ = RulesBackend().extract(items(probes), CONFIG, [])
        for i, r in enumerate(records):  # half are stored already: id matches
            if i % 2 == 0:
                r.external_id = str(2_000_000 + (i * 7919) % size)
                r.title = f"Stored opportunity number {(i * 7919) % size}"
        started = time.perf_counter()
        for start in range(0, len(records), 5):
            chunk = records[start : start + 5]
            by_id, by_title = store.lookup_opportunities(
                "bench",
                [r.external_id for r in chunk],
                sorted({normalize_title(r.title) for r in chunk}),
            )
            decisions = [decide(r, by_id, by_title) for r in chunk]
            assert len(decisions) == len(chunk)
        return (time.perf_counter() - started) / len(records) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=2_000)
    parser.add_argument("--dir", default=str(ROOT / "benchmarks" / "results" / "work"))
    args = parser.parse_args()
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pipeline-", dir=base))
    try:
        e2e = end_to_end(args.opportunities, work)
        small = dedupe_time(args.small, args.probes, work)
        big = dedupe_time(args.big, args.probes, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| measure | value | target | reached |")
    print("|---|---:|---:|---|")
    print(
        f"| rules end to end, {e2e['opportunities']} opportunities | {e2e['per_s']:.0f}/s ({e2e['seconds']:.1f} s) "
        f"| ≥ 2000/s | {'yes' if e2e['per_s'] >= 2000 else 'no'} |"
    )
    print(f"| dedupe per record, {args.small}-row store | {small:.1f} µs | | |")
    print(f"| dedupe per record, {args.big}-row store | {big:.1f} µs | | |")
    ratio = big / small
    print(
        f"| dedupe {args.big} ÷ {args.small} | {ratio:.2f} | ≤ 1.5 | {'yes' if ratio <= 1.5 else 'no'} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
