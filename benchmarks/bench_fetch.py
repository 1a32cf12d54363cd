"""Fetch benchmark: fetch + chunk + enqueue of 10k and 100k items from a local server.

    .venv/bin/python benchmarks/bench_fetch.py            # the figures in docs/performance.md
    .venv/bin/python benchmarks/bench_fetch.py --sizes 10000 100000 --page-size 500

A threaded HTTP server on 127.0.0.1 pages through synthetic Grants.gov-like items (about
1 KB each, made on the fly, so the server holds one page at a time). Each fetch runs as its own
``fundkit fetch`` process against a fresh workspace; its wall time gives items/s and the
kernel's accounting of that process (``wait4``: ru_maxrss) its peak RSS. Target: peak RSS at
100k ≤ 1.5× that at 10k.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent


def item(i: int) -> dict[str, Any]:
    return {
        "id": str(400000 + i),
        "number": f"BENCH-{i:07d}",
        "title": f"Rural energy resilience grants, round {i}",
        "agencyCode": "DOE-GFO",
        "agencyName": "Department of Energy",
        "openDate": "10/11/2026",
        "closeDate": "01/15/2027",
        "oppStatus": "posted",
        "alnist": ["81.041"],
        "synopsis": "Funds projects that cut energy use in rural schools and clinics. " * 12,
    }


def serve(total: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            offset, limit = int(query["offset"][0]), int(query["limit"][0])
            page = [item(i) for i in range(offset, min(total, offset + limit))]
            body = json.dumps({"total": total, "items": page}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(size: int, page_size: int, base: Path) -> dict[str, float]:
    server = serve(size)
    home = Path(tempfile.mkdtemp(prefix=f"fetch-{size}-", dir=base))
    try:
        port = server.server_address[1]
        (home / "sources.toml").write_text(
            f'[sources.bench]\ntype = "json_api"\nbase_url = "http://127.0.0.1:{port}"\n'
            f'path = "/items"\ndata_path = "items"\ntotal_path = "total"\nmax_items = {size}\n'
            f'[sources.bench.pagination]\nstyle = "offset"\npage_size = {page_size}\nmax_pages = 100000\n'
        )
        cmd = [sys.executable, "-m", "fundkit", "--home", str(home), "fetch", "bench", "--json"]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        out = proc.stdout.read() if proc.stdout else b""
        err = proc.stderr.read() if proc.stderr else b""
        if status != 0:
            raise SystemExit(f"fetch failed: {err.decode()}")
        report = json.loads(out)
        assert report["total_opportunities"] == size, report
        return {
            "items": size,
            "seconds": elapsed,
            "items_per_s": size / elapsed,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "jobs": report["jobs_created"],
        }
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--dir", default=str(ROOT / "benchmarks" / "results" / "work"))
    args = parser.parse_args()
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    rows = [run(size, args.page_size, base) for size in args.sizes]
    print("| items | seconds | items/s | peak RSS (MB) | jobs queued |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['items']} | {r['seconds']:.1f} | {r['items_per_s']:.0f} | {r['peak_rss_mb']:.1f} | {r['jobs']} |"
        )
    if len(rows) >= 2:
        ratio = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
        verdict = "yes" if ratio <= 1.5 else "no"
        print(
            f"\npeak RSS at {rows[-1]['items']} / at {rows[0]['items']}: {ratio:.2f}× (target ≤ 1.5×: {verdict})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
