"""Real HTTP servers on 127.0.0.1 for the fetch tests: Grants.gov- and simpler-shaped APIs,
with faults a test can switch on (status codes, Retry-After, slowness, broken JSON, loops)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fundkit.sources.mirror import GrantsGovMirror, Reply

Handle = Callable[[str, str, bytes, dict[str, str]], Reply]


class Server:
    """A threaded HTTP server on 127.0.0.1 (a free port) answering with ``handle``."""

    def __init__(self, handle: Handle):
        self.handle = handle
        self.requests: list[tuple[str, str, bytes, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.command, self.path, body, headers))
                status, out_headers, content = outer.handle(self.command, self.path, body, headers)
                try:
                    self.send_response(status)
                    for name, value in out_headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A short poll interval: shutdown() waits for one, and every test shuts a server down.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def hits_and_details(
    n: int, start_id: int = 100000
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """n small Grants.gov search hits and their details."""
    hits = [
        {
            "id": str(start_id + i),
            "number": f"TEST-{i:05d}",
            "title": f"Test opportunity {i}",
            "agencyCode": "DOE",
            "agencyName": "Department of Energy",
            "openDate": "10/11/2026",
            "closeDate": "",
            "oppStatus": "posted",
            "alnist": ["81.041"],
        }
        for i in range(n)
    ]
    details = {
        h["id"]: {
            "id": int(h["id"]),
            "opportunityTitle": h["title"],
            "synopsis": {"awardCeiling": "1000"},
        }
        for h in hits
    }
    return hits, details


def grants_gov(hits: list[dict[str, Any]], details: dict[str, dict[str, Any]]) -> Handle:
    mirror = GrantsGovMirror(hits, details)
    return lambda method, path, body, headers: mirror.handle(method, path, body)


def faults(app: Handle, rule: Callable[[str, str, bytes, int], Reply | None]) -> Handle:
    """Wrap ``app``: ``rule(method, path, body, n)`` may answer instead (n: the call count of
    that exact request, from 1); return None to let the app answer."""
    calls: Counter[tuple[str, bytes]] = Counter()
    lock = threading.Lock()

    def handle(method: str, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        with lock:
            calls[(path, body)] += 1
            n = calls[(path, body)]
        answer = rule(method, path, body, n)
        return answer if answer is not None else app(method, path, body, headers)

    return handle


def slow(seconds: float) -> Reply | None:
    time.sleep(seconds)
    return None


def simpler(items: list[dict[str, Any]], api_key: str) -> Handle:
    """simpler.grants.gov /v1/opportunities/search: X-API-Key, page_offset from 1."""

    def handle(method: str, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        if headers.get("x-api-key") != api_key:
            return (
                401,
                {"content-type": "application/json"},
                b'{"message": "Unauthorized", "status_code": 401}',
            )
        if method != "POST" or not path.startswith("/v1/opportunities/search"):
            return 404, {}, b"{}"
        request = json.loads(body)
        page = request["pagination"]["page_offset"]
        size = request["pagination"]["page_size"]
        data = items[(page - 1) * size : page * size]
        reply = {
            "message": "Success",
            "status_code": 200,
            "data": data,
            "pagination_info": {
                "page_offset": page,
                "page_size": size,
                "total_records": len(items),
                "total_pages": -(-len(items) // size),
            },
        }
        return 200, {"content-type": "application/json"}, json.dumps(reply).encode()

    return handle


def simpler_items(n: int) -> list[dict[str, Any]]:
    return [
        {
            "opportunity_id": 5000 + i,
            "opportunity_number": f"ABC-{i}",
            "opportunity_title": f"Research into conservation techniques {i}",
            "agency_code": "US-ABC",
            "opportunity_status": "posted",
            "summary": {
                "summary_description": "Über-efficient — “quoted”",
                "award_ceiling": 100000,
            },
        }
        for i in range(n)
    ]
