"""A Grants.gov-shaped API over a list of records: search2 and fetchOpportunity.

The ``sample`` source is served by it in-process (:class:`MirrorTransport`), so the offline
sample goes through exactly the connector code that talks to the real API: the same request
bodies, pagination, detail calls, retries and raw-page keeping. Tests serve it over real HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

Reply = tuple[int, dict[str, str], bytes]


def _reply(status: int, data: Any) -> Reply:
    return status, {"content-type": "application/json"}, json.dumps(data).encode()


class GrantsGovMirror:
    """Answers ``POST /v1/api/search2`` and ``POST /v1/api/fetchOpportunity``."""

    def __init__(self, hits: list[dict[str, Any]], details: dict[str, dict[str, Any]]):
        self.hits = hits
        self.details = details

    def handle(self, method: str, path: str, body: bytes) -> Reply:
        if method != "POST":
            return _reply(405, {"errorcode": 405, "msg": "Method Not Allowed"})
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return _reply(400, {"errorcode": 400, "msg": "request body is not JSON"})
        if path.endswith("/v1/api/search2"):
            return self.search(request)
        if path.endswith("/v1/api/fetchOpportunity"):
            return self.fetch_opportunity(request)
        return _reply(404, {"errorcode": 404, "msg": f"no such endpoint {path}"})

    def search(self, request: dict[str, Any]) -> Reply:
        start = int(request.get("startRecordNum", 0))
        rows = int(request.get("rows", 25))
        statuses = str(request.get("oppStatuses", "")).split("|")
        hits = [
            h for h in self.hits if not request.get("oppStatuses") or h.get("oppStatus") in statuses
        ]
        page = hits[start : start + rows]
        return _reply(
            200,
            {
                "errorcode": 0,
                "msg": "Webservice Succeeds",
                "token": "sample",
                "data": {
                    "searchParams": {**request, "startRecordNum": start, "rows": rows},
                    "hitCount": len(hits),
                    "startRecord": start,
                    "oppHits": page,
                    "errorMsgs": [],
                },
            },
        )

    def fetch_opportunity(self, request: dict[str, Any]) -> Reply:
        detail = self.details.get(str(request.get("opportunityId")))
        if detail is None:
            return _reply(
                200,
                {"errorcode": 1, "msg": f"Opportunity {request.get('opportunityId')} not found"},
            )
        return _reply(200, {"errorcode": 0, "msg": "Webservice Succeeds", "data": detail})


class MirrorTransport(httpx.BaseTransport):
    """An httpx transport that answers from a handler in this process (no socket)."""

    def __init__(self, handle: Callable[[str, str, bytes], Reply]):
        self.handle = handle

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        status, headers, body = self.handle(request.method, request.url.path, request.read())
        return httpx.Response(status, headers=headers, content=body, request=request)


def sample_transport() -> MirrorTransport:
    """The transport of the built-in ``sample`` source."""
    from fundkit.sources.sample_data import build_sample

    hits, details = build_sample()
    return MirrorTransport(GrantsGovMirror(hits, details).handle)
