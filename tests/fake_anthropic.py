"""A fake Anthropic Messages API on 127.0.0.1, for the real SDK to talk to.

It speaks the wire format of ``POST /v1/messages`` (shared/reference/anthropic-sdk.md §2): it
records every request body and headers, and answers from a queue of scripted replies, each a
``(status, headers, body)`` or a function of the request that returns one. Helpers build
messages, errors, and "model" answers computed from the request's own records by the rules
extraction, so a test can also script a model that obeys an injected instruction.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from servers import Server

from fundkit.llm.anthropic import ENHANCE_SYSTEM, EXTRACT_FIELDS
from fundkit.llm.rules import record_from_item

Reply = tuple[int, dict[str, str], bytes]
Answer = Reply | Callable[[dict[str, Any]], Reply]
JSON_HEADERS = {"content-type": "application/json", "request-id": "req_fake"}
RECORD = re.compile(r'<record index="(\d+)">\n(.*?)\n</record>', re.S)
SOURCE = re.compile(r"<source>\n(.*?)\n</source>", re.S)


class FakeAnthropic:
    """``with FakeAnthropic() as fake:`` then ``fake.answer(...)`` and read ``fake.requests``.

    With ``auto=True`` a request that finds no scripted answer gets a faithful one (the rules
    extraction, or neutral enhancements), after ``latency`` seconds, with usage that counts the
    system prompt as a cache write the first time and a cache read after: a stand-in model for
    whole runs and benchmarks.
    """

    def __init__(self, auto: bool = False, latency: float = 0.0) -> None:
        self.auto = auto
        self.latency = latency
        self.systems_seen: set[str] = set()
        self.answers: deque[Answer] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.reported: list[dict[str, Any]] = []  # the usage of every 200 reply sent
        self.lock = threading.Lock()
        self.server = Server(self._handle)

    @property
    def url(self) -> str:
        return self.server.url

    def answer(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def total(self, key: str) -> int:
        return sum(int(usage.get(key) or 0) for usage in self.reported)

    def _handle(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        if (method, path) != ("POST", "/v1/messages"):
            return error(404, "not_found_error", f"no route {method} {path}")
        if not (headers.get("x-api-key") or headers.get("authorization", "").startswith("Bearer ")):
            return error(401, "authentication_error", "missing API key")
        request = json.loads(body)
        with self.lock:
            self.requests.append(request)
            self.headers.append(headers)
            if not self.answers and not self.auto:
                return error(500, "api_error", "the test scripted no answer", should_retry=False)
            answer = self.answers.popleft() if self.answers else self._faithful
        status, out_headers, content = answer(request) if callable(answer) else answer
        if status == 200:
            with self.lock:
                self.reported.append(json.loads(content)["usage"])
        return status, out_headers, content

    def _faithful(self, request: dict[str, Any]) -> Reply:
        time.sleep(self.latency)
        system = system_text(request)
        with self.lock:
            cached = system in self.systems_seen
            self.systems_seen.add(system)
        if system == ENHANCE_SYSTEM:
            payload: dict[str, Any] = {
                "enhancements": [
                    {
                        "external_id": r["external_id"],
                        "summary": f"{r['title']}: who can apply and for what.",
                        "actionable_summary": f"Apply by {r.get('close_date') or 'the deadline'}.",
                        "score_adjustment": 0,
                        "tags": ["funding"],
                        "concerns": [],
                    }
                    for r in records_in(request)
                ]
            }
        else:
            found = SOURCE.search(user_text(request))
            assert found, "an extraction request without a <source> block"
            source = json.loads(found.group(1))
            config = {
                "source_id": "fake",
                "source_type": source["source_type"],
                "mapping": source["mapping"],
            }
            payload = extraction(request, config)
        system_tokens = len(system) // 4
        spent = usage(
            input_tokens=len(user_text(request)) // 4,
            output_tokens=len(json.dumps(payload)) // 4,
            cache_read=system_tokens if cached else 0,
            cache_write=0 if cached else system_tokens,
        )
        return message(payload, usage_=spent)

    def __enter__(self) -> FakeAnthropic:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


def usage(
    input_tokens: int = 1000,
    output_tokens: int = 200,
    cache_read: int = 0,
    cache_write: int = 0,
    cache_1h: int | None = None,
) -> dict[str, Any]:
    """A usage object; with ``cache_1h`` the write is split into 5m and 1h parts."""
    out: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "service_tier": "standard",
    }
    if cache_1h is not None:
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": cache_write - cache_1h,
            "ephemeral_1h_input_tokens": cache_1h,
        }
    return out


def message(
    payload: Any, stop_reason: str = "end_turn", usage_: dict[str, Any] | None = None
) -> Reply:
    """A 200 reply: ``payload`` as the JSON text block (a str is sent as is; None: no text)."""
    content = []
    if payload is not None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        content.append({"type": "text", "text": text})
    body = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-5-5",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage_ or usage(),
    }
    if stop_reason == "refusal":
        body["stop_details"] = {"type": "refusal", "category": "general_harms", "explanation": None}
    return 200, JSON_HEADERS, json.dumps(body).encode()


def error(
    status: int,
    kind: str,
    text: str = "fake error",
    retry_after_ms: int | None = None,
    should_retry: bool | None = None,
) -> Reply:
    headers = dict(JSON_HEADERS)
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    if should_retry is not None:
        headers["x-should-retry"] = "true" if should_retry else "false"
    body = {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_fake"}
    return status, headers, json.dumps(body).encode()


def user_text(request: dict[str, Any]) -> str:
    parts = []
    for turn in request["messages"]:
        content = turn["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        parts += [block["text"] for block in blocks if block["type"] == "text"]
    return "\n".join(parts)


def system_text(request: dict[str, Any]) -> str:
    system = request.get("system") or []
    return system if isinstance(system, str) else "\n".join(block["text"] for block in system)


def records_in(request: dict[str, Any]) -> list[Any]:
    """The records the request carried, parsed back from their delimiters, in index order."""
    found = RECORD.findall(user_text(request))
    assert [int(index) for index, _ in found] == list(range(len(found)))
    return [json.loads(text) for _, text in found]


def extraction(request: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """What a faithful model answers: the rules extraction of each record, with its index."""
    out = []
    for index, item in enumerate(records_in(request)):
        record = record_from_item(item, config)
        out.append({"index": index, **record.model_dump(mode="json", include=set(EXTRACT_FIELDS))})
    return {"opportunities": out}


def extracts(
    config: dict[str, Any],
    change: Callable[[list[dict[str, Any]]], None] | None = None,
    usage_: dict[str, Any] | None = None,
) -> Callable[[dict[str, Any]], Reply]:
    """A scripted answer: the faithful extraction, then ``change`` applied to its records."""

    def answer(request: dict[str, Any]) -> Reply:
        payload = extraction(request, config)
        if change is not None:
            change(payload["opportunities"])
        return message(payload, usage_=usage_)

    return answer


def enhances(
    adjustments: list[int],
    change: Callable[[list[dict[str, Any]]], None] | None = None,
    summary_words: int = 20,
) -> Callable[[dict[str, Any]], Reply]:
    """A scripted enhancement of each record in the request, with the given adjustments."""

    def answer(request: dict[str, Any]) -> Reply:
        out = [
            {
                "external_id": record["external_id"],
                "summary": " ".join(["word"] * summary_words),
                "actionable_summary": f"Apply by {record['close_date']}.",
                "score_adjustment": adjustment,
                "tags": ["energy", " energy ", ""],
                "concerns": [],
            }
            for record, adjustment in zip(records_in(request), adjustments, strict=True)
        ]
        if change is not None:
            change(out)
        return message({"enhancements": out})

    return answer
