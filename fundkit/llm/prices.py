"""Model prices, in one dated table. USD per million tokens.

Read from the public pricing pages on 2026-12-01 (see shared/reference/anthropic-sdk.md §3).
Change them here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_AS_OF = "2026-12-01"
DEFAULT_MODEL = "claude-haiku-5-5"


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float


PRICES: dict[str, Price] = {
    "claude-haiku-5-5": Price(0.10, 0.50, 0.125, 0.20, 0.01),  # prompts ≤ 100K tokens
    "claude-haiku-5-5@long": Price(0.50, 2.50, 0.625, 1.00, 0.05),  # prompts > 100K tokens
    "claude-haiku-4-5-20251001": Price(1.00, 5.00, 1.25, 2.00, 0.10),
    "claude-sonnet-5-5": Price(2.00, 10.00, 2.50, 4.00, 0.10),
    "claude-opus-5-5": Price(4.00, 20.00, 5.00, 8.00, 0.20),
}


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_5m_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
) -> float:
    """What one call cost; 0.0 for a model not in the table (and it is logged by the caller)."""
    key = model
    if (
        model == "claude-haiku-5-5"
        and input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens
        > 100_000
    ):
        key = "claude-haiku-5-5@long"
    price = PRICES.get(key)
    if price is None:
        return 0.0
    return (
        input_tokens * price.input
        + output_tokens * price.output
        + cache_read_tokens * price.cache_read
        + cache_write_5m_tokens * price.cache_write_5m
        + cache_write_1h_tokens * price.cache_write_1h
    ) / 1e6
