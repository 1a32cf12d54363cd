"""The backend seam: what the pipeline asks of a language model, and what each call cost.

A backend does two things: ``extract`` turns a chunk's raw items into canonical
:class:`~fundkit.model.Opportunity` records (every item becomes a record or an
:class:`ExtractFailure` with its reason: nothing is dropped silently), and ``enhance`` writes
summaries and a bounded score adjustment for NEW records. Each call to a model appends an
:class:`LLMCall` to the list it is given *before* its answer is checked, so tokens that were
paid for are recorded even when the answer is then refused.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple, Protocol

from fundkit.errors import HandlerError, UsageError
from fundkit.model import Opportunity

log = logging.getLogger("fundkit.llm")


class LLMError(HandlerError):
    """A model call failed for good (after the bounded re-asks): the job fails and is retried."""

    def __init__(self, message: str, *, kind: str = "invalid_output"):
        self.kind = (
            kind  # invalid_output | truncated | refusal | count_mismatch | api_error | untrusted
        )
        super().__init__(message)


class ExtractFailure(NamedTuple):
    """An item that could not become a record, and why."""

    item_id: str
    reason: str


@dataclass
class LLMCall:
    """One request to a model, as its response reported it."""

    stage: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    duration_ms: float = 0.0
    outcome: str = (
        "ok"  # ok | invalid_output | truncated | refusal | count_mismatch | untrusted | api_error
    )
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Enhancement:
    """What a model adds to a NEW record: summaries and a score adjustment in [-3, 3]."""

    external_id: str
    summary: str
    actionable_summary: str
    score_adjustment: int = 0
    tags: list[str] = field(default_factory=list)
    concerns: list[str] = field(default_factory=list)


class Backend(Protocol):
    name: str

    def extract(
        self, items: list[dict[str, Any]], config: dict[str, Any], calls: list[LLMCall]
    ) -> tuple[list[Opportunity], list[ExtractFailure]]:
        """Raw items of one chunk → records (same order) and the items that failed."""
        ...

    def enhance(self, records: list[Opportunity], calls: list[LLMCall]) -> dict[str, Enhancement]:
        """Summaries and score adjustments for NEW records, by external_id (may be empty)."""
        ...


def get_backend(name: str) -> Backend:
    """``rules``, ``anthropic`` or ``auto`` (anthropic when ANTHROPIC_API_KEY is set)."""
    if name == "auto":
        name = "anthropic" if os.environ.get("ANTHROPIC_API_KEY") else "rules"
    if name == "rules":
        from fundkit.llm.rules import RulesBackend

        return RulesBackend()
    if name == "anthropic":
        from fundkit.llm.anthropic import AnthropicBackend

        return AnthropicBackend()
    raise UsageError(f"--llm must be rules, anthropic or auto, got {name!r}")
