"""Fetching against real HTTP servers on 127.0.0.1 (no mocks of httpx)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from servers import Server, faults, grants_gov, hits_and_details, simpler, simpler_items, slow

from fundkit.fetch import FetchError, fetch
from fundkit.queue import Queue
from fundkit.sources import get_source, load_sources
from fundkit.store import Store
from fundkit.workspace import Workspace

from conftest import cli_env, run_cli, spawn_cli, wait_for

FAST = "retries = 3\nbackoff = 0.05\n"


def write_sources(home: Path, text: str) -> Workspace:
    home.mkdir(exist_ok=True)
    (home / "sources.toml").write_text(text)
    return Workspace.resolve(home)


def gg_source(url: str, page_size: int = 50, extra: str = "", timeout: float = 2) -> str:
    return (
        f'[sources.gg]\ntype = "grants_gov"\nbase_url = "{url}"\n{FAST}timeout = {timeout}\n'
        f"{extra}[sources.gg.pagination]\npage_size = {page_size}\n"
    )


def run_fetch(ws: Workspace, name: str = "gg", **kwargs):
    return fetch(ws, get_source(load_sources(ws.sources_path), name), **kwargs)


def queued_items(ws: Workspace) -> list[dict]:
    q = Queue(ws.queue_dir)
    return [item for job in q.jobs("pending") for item in job.raw_data]


def test_grants_gov_pages_details_raw_pages_and_chunks(home: Path):
    hits, details = hits_and_details(230)
    with Server(grants_gov(hits, details)) as server:
        ws = write_sources(home, gg_source(server.url))
        report = run_fetch(ws)
    assert report.status == "queued" and report.stop_reason == "short_page"
    assert report.total_opportunities == 230 and report.total_reported == 230
    assert report.pages == 5 and report.api_calls == 5 + 230
    assert report.jobs_created == report.chunk_count == 46  # 230 / 5
    items = queued_items(ws)
    assert [i["id"] for i in items] == [h["id"] for h in hits]  # order kept, none lost
    assert all(i["detail"]["synopsis"]["awardCeiling"] == "1000" for i in items)
    searches = [json.loads(b) for m, p, b, h in server.requests if p.endswith("search2")]
    assert [s["startRecordNum"] for s in searches] == [0, 50, 100, 150, 200]
    assert {s["rows"] for s in searches} == {50}
    run_dir = ws.runs_dir / report.run_id
    requests = [json.loads(line) for line in (run_dir / "requests.jsonl").read_text().splitlines()]
    assert len(requests) == report.api_calls
    assert all((run_dir / "raw" / f"{r['sha256']}.json").exists() for r in requests)
    job = next(Queue(ws.queue_dir).jobs("pending"))
    assert job.kind == "chunk" and job.run_id == report.run_id and job.source_id == "gg"
    assert job.processing_config["mapping"]["title"] == ["title", "detail.opportunityTitle"]
    with Store(ws.db_path) as store:
        [run] = store.runs()
    assert run["status"] == "queued" and run["total_opportunities"] == 230 and run["bytes"] > 0


def test_identical_responses_are_stored_once(home: Path):
    hits, details = hits_and_details(12)
    same = {key: {"id": 1, "synopsis": {}} for key in details}  # every answer is identical
    with Server(grants_gov(hits, same)) as server:
        ws = write_sources(home, gg_source(server.url, page_size=50))
        report = run_fetch(ws)
    raw = list((ws.runs_dir / report.run_id / "raw").iterdir())
    assert report.api_calls == 13 and len(raw) == 2  # one page, one distinct detail body


def test_429_with_retry_after_is_honoured(home: Path):
    hits, details = hits_and_details(10)

    def rule(method, path, body, n):
        if path.endswith("search2") and n == 1:
            return 429, {"retry-after": "1"}, b'{"errorcode": 429, "msg": "slow down"}'
        return None

    with Server(faults(grants_gov(hits, details), rule)) as server:
        ws = write_sources(home, gg_source(server.url, extra="details = false\n"))
        started = time.monotonic()
        report = run_fetch(ws)
        waited = time.monotonic() - started
    assert report.retries == 1 and report.total_opportunities == 10
    assert waited >= 0.95  # Retry-After: 1, not the 0.05 s backoff


def test_503_then_success_and_broken_json_then_success(home: Path):
    hits, details = hits_and_details(60)

    def rule(method, path, body, n):
        start = json.loads(body).get("startRecordNum") if path.endswith("search2") else None
        if start == 0 and n == 1:
            return 503, {}, b"Service Unavailable"
        if start == 50 and n == 1:
            return 200, {"content-type": "application/json"}, b'{"data": {"oppHits": [{"id": '
        return None

    with Server(faults(grants_gov(hits, details), rule)) as server:
        ws = write_sources(home, gg_source(server.url, extra="details = false\n"))
        report = run_fetch(ws)
    assert report.retries == 2 and report.total_opportunities == 60


def test_a_slow_answer_times_out_and_is_retried(home: Path):
    hits, details = hits_and_details(5)

    def rule(method, path, body, n):
        return slow(1.5) if path.endswith("search2") and n == 1 else None

    with Server(faults(grants_gov(hits, details), rule)) as server:
        ws = write_sources(home, gg_source(server.url, extra="details = false\n", timeout=0.5))
        report = run_fetch(ws)
    assert report.retries == 1 and report.total_opportunities == 5


def test_a_page_that_stays_broken_fails_the_run_cleanly(home: Path):
    def broken(method, path, body, headers):
        return 200, {"content-type": "application/json"}, b"<html>maintenance</html>"

    with Server(broken) as server:
        ws = write_sources(home, gg_source(server.url))
        with pytest.raises(FetchError) as info:
            run_fetch(ws)
    message = str(info.value)
    assert message.startswith("fetch gg: ") and "not valid JSON" in message and "search2" in message
    assert Queue(ws.queue_dir).stats().pending == 0
    with Store(ws.db_path) as store:
        [run] = store.runs()
    assert run["status"] == "failed" and "not valid JSON" in run["error"]
    record = json.loads((ws.runs_dir / run["run_id"] / "run.json").read_text())
    assert record["status"] == "failed" and record["api_calls"] == 4  # 1 + 3 retries


def test_a_repeating_page_is_detected(home: Path):
    hits, details = hits_and_details(40)
    mirror = grants_gov(hits, details)

    def always_first_page(method, path, body, headers):
        if path.endswith("search2"):
            body = json.dumps({"startRecordNum": 0, "rows": 20}).encode()
        return mirror(method, path, body, headers)

    with Server(always_first_page) as server:
        ws = write_sources(home, gg_source(server.url, page_size=20, extra="details = false\n"))
        report = run_fetch(ws)
    assert report.stop_reason == "pagination_loop"
    assert report.pages == 2 and report.total_opportunities == 20


def test_items_on_two_pages_are_kept_once_and_counted(home: Path):
    hits, details = hits_and_details(30)
    hits = hits[:20] + hits[15:20] + hits[20:]  # five hits shift into the next page
    with Server(grants_gov(hits, details)) as server:
        ws = write_sources(home, gg_source(server.url, page_size=10, extra="details = false\n"))
        report = run_fetch(ws)
    assert report.duplicates_dropped == 5 and report.total_opportunities == 30
    ids = [i["id"] for i in queued_items(ws)]
    assert len(ids) == len(set(ids)) == 30


def test_detail_failures_keep_the_item_and_are_counted(home: Path):
    hits, details = hits_and_details(20)
    broken = {hits[3]["id"], hits[7]["id"], hits[11]["id"]}

    def rule(method, path, body, n):
        if path.endswith("fetchOpportunity") and json.loads(body)["opportunityId"] in {
            int(b) for b in broken
        }:
            return 500, {}, b"boom"
        return None

    with Server(faults(grants_gov(hits, details), rule)) as server:
        ws = write_sources(home, gg_source(server.url))
        report = run_fetch(ws)
    assert report.detail_failures == 3 and report.total_opportunities == 20
    items = {i["id"]: i for i in queued_items(ws)}
    assert {k for k, v in items.items() if "detail_error" in v} == broken
    assert "HTTP 500" in items[hits[3]["id"]]["detail_error"]
    assert all("detail" in v for k, v in items.items() if k not in broken)


def test_a_total_count_that_lies_does_not_stop_or_stretch_the_fetch(home: Path):
    hits, details = hits_and_details(120)
    mirror = grants_gov(hits, details)

    def lying(method, path, body, headers):
        status, h, content = mirror(method, path, body, headers)
        data = json.loads(content)
        if path.endswith("search2"):
            data["data"]["hitCount"] = 10_000
        return status, h, json.dumps(data).encode()

    with Server(lying) as server:
        ws = write_sources(home, gg_source(server.url, extra="details = false\n"))
        report = run_fetch(ws)
    assert report.total_reported == 10_000 and report.total_opportunities == 120
    assert report.stop_reason == "short_page" and report.pages == 3


def test_max_pages_caps_the_fetch(home: Path):
    hits, details = hits_and_details(100)
    with Server(grants_gov(hits, details)) as server:
        ws = write_sources(home, gg_source(server.url, page_size=10, extra="details = false\n"))
        report = run_fetch(ws, max_pages=3, chunk_size=7)
    assert report.stop_reason == "max_pages" and report.total_opportunities == 30
    assert report.jobs_created == 5 and report.chunk_size == 7


def test_simpler_grants_with_an_api_key_that_is_never_written(home: Path):
    key = "sk-simpler-test-4f9c2a7e1b"
    items = simpler_items(130)
    with Server(simpler(items, key)) as server:
        write_sources(
            home,
            f'[sources.simpler]\ntype = "simpler_grants"\nbase_url = "{server.url}"\n{FAST}'
            "[sources.simpler.pagination]\npage_size = 50\n",
        )
        result = run_cli(
            home, "fetch", "simpler", "--json", env=cli_env(SIMPLER_GRANTS_API_KEY=key)
        )
        missing = run_cli(home, "fetch", "simpler")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["total_opportunities"] == 130 and report["jobs_created"] == 26
    pages = [json.loads(b)["pagination"]["page_offset"] for m, p, b, h in server.requests if b]
    assert pages[:3] == [1, 2, 3]
    assert missing.returncode == 1
    assert "SIMPLER_GRANTS_API_KEY is not set" in missing.stderr and "simpler" in missing.stderr
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), f"the key leaked into {path}"


def test_a_fetch_killed_midway_queues_nothing(home: Path):
    hits, details = hits_and_details(400)

    def rule(method, path, body, n):
        return slow(0.2) if path.endswith("search2") else None

    with Server(faults(grants_gov(hits, details), rule)) as server:
        write_sources(home, gg_source(server.url, page_size=10, extra="details = false\n"))
        proc = spawn_cli(home, "fetch", "gg")
        wait_for(lambda: len(server.requests) >= 3, what="a few pages")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    q = Queue(home / "queue")
    assert q.stats().pending == 0 and list(q.dir("pending").iterdir()) == []


def test_the_bundled_sample_goes_through_the_grants_gov_connector(home: Path):
    result = run_cli(home, "fetch", "sample", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source_id"] == "sample" and report["total_opportunities"] >= 300
    assert report["duplicates_dropped"] > 0  # the sample repeats a few records across pages
    assert report["jobs_created"] == -(-report["total_opportunities"] // 5)
    assert report["api_calls"] == report["pages"] + report["total_opportunities"]
    ws = Workspace.resolve(home)
    items = queued_items(ws)
    assert len(items) == report["total_opportunities"]
    assert all("detail" in i for i in items)
    status = json.loads(run_cli(home, "status", "--json").stdout)
    assert status["queue"]["pending"] == report["jobs_created"]
    [run] = status["recent_runs"]
    assert run["run_id"] == report["run_id"] and run["status"] == "queued"


@pytest.mark.parametrize("suffix", ["jsonl", "json"])
def test_file_sources(home: Path, suffix: str):
    items = [{"id": i, "title": f"t{i}"} for i in range(12)] + [{"id": 3, "title": "again"}]
    home.mkdir(exist_ok=True)
    path = home / f"local.{suffix}"
    if suffix == "jsonl":
        path.write_text("".join(json.dumps(i) + "\n" for i in items))
        data_path = ""
    else:
        path.write_text(json.dumps({"results": items}))
        data_path = 'data_path = "results"\n'
    ws = write_sources(
        home, f'[sources.local]\ntype = "file"\nfile = "local.{suffix}"\n{data_path}'
    )
    report = run_fetch(ws, "local", chunk_size=4)
    assert report.total_opportunities == 12 and report.duplicates_dropped == 1
    assert report.jobs_created == 3


def test_a_json_api_with_cursor_paging_in_the_query(home: Path):
    items = [{"key": f"k{i}", "name": f"Program {i}"} for i in range(23)]

    def api(method, path, body, headers):
        from urllib.parse import parse_qs, urlparse

        query = parse_qs(urlparse(path).query)
        start = int(query.get("after", ["0"])[0])
        size = int(query["limit"][0])
        page = items[start : start + size]
        nxt = str(start + size) if start + size < len(items) else None
        data = {"results": page, "paging": {"next": nxt}}
        return 200, {"content-type": "application/json"}, json.dumps(data).encode()

    with Server(api) as server:
        ws = write_sources(
            home,
            f'[sources.portal]\ntype = "json_api"\nbase_url = "{server.url}"\npath = "/programs"\n'
            f'data_path = "results"\nid_path = "key"\n{FAST}'
            '[sources.portal.pagination]\nstyle = "cursor"\ncursor_param = "after"\n'
            'cursor_path = "paging.next"\nsize_param = "limit"\npage_size = 10\n',
        )
        report = run_fetch(ws, "portal")
    assert (
        report.total_opportunities == 23
        and report.pages == 3
        and report.stop_reason == "last_cursor"
    )
    assert [i["key"] for i in queued_items(ws)] == [i["key"] for i in items]
