"""Analyze NEW records: a deterministic relevance score from the user's interest profile,
then (with a language model) summaries and a score adjustment of −3..+3, clamped to 0..10.

The score follows the original: client relevance (applicant types, 0–3) + project relevance
(keyword tiers in title, description and categories, 0–3) + funding attractiveness (0–3) +
instrument preference (0 / 0.5 / 1), times an activity multiplier by status; one decimal.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fundkit.errors import ConfigError
from fundkit.llm.base import Enhancement
from fundkit.model import Opportunity

DEFAULT_PROFILE = """\
# fundkit interest profile: what makes an opportunity relevant to you. Edit freely.
# Tiers: "hot" scores 3, "strong" 2, "mild" 1 (instruments: hot 1, mild 0.5).

min_score = 2.0   # records scoring below this are stored as filtered out

[applicant_types]
hot = ["City or township governments", "County governments", "State governments",
       "Special district governments", "Independent school districts"]
strong = ["Public and State controlled institutions of higher education",
          "Native American tribal governments (Federally recognized)", "Public housing authorities/Indian housing authorities"]
mild = ["Nonprofits having a 501(c)(3) status with the IRS, other than institutions of higher education",
        "Small businesses", "For profit organizations other than small businesses", "Unrestricted"]

[keywords]
hot = ["energy efficiency", "solar", "hvac", "retrofit", "clean energy", "microgrid", "electric vehicle",
       "building", "decarbonization", "weatherization", "lighting", "battery"]
strong = ["infrastructure", "resilience", "water", "school", "facility", "transit", "broadband", "bus"]
mild = ["planning", "workforce", "technical assistance", "community", "research"]

[funding]   # dollars: (total program funding, largest award) for each tier
hot = [50_000_000, 5_000_000]
strong = [25_000_000, 2_000_000]
mild = [10_000_000, 1_000_000]

[instruments]
hot = ["Grant", "Cooperative Agreement"]
mild = ["Loan", "Procurement Contract", "Other"]

[activity]  # multiplier by status
open = 1.0
upcoming = 0.75
closed = 0.15
"""


@dataclass
class Profile:
    """The interest profile (profile.toml in the workspace)."""

    applicant_types: dict[str, list[str]] = field(default_factory=dict)
    keywords: dict[str, list[str]] = field(default_factory=dict)
    funding: dict[str, list[float]] = field(default_factory=dict)
    instruments: dict[str, list[str]] = field(default_factory=dict)
    activity: dict[str, float] = field(default_factory=dict)
    min_score: float = 2.0

    @classmethod
    def load(cls, path: Path | None) -> Profile:
        text = (
            path.read_text(encoding="utf-8")
            if path is not None and path.exists()
            else DEFAULT_PROFILE
        )
        try:
            data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", path=path) from None
        known = {"applicant_types", "keywords", "funding", "instruments", "activity", "min_score"}
        for key in data:
            if key not in known:
                raise ConfigError("unknown field", field=key, path=path)
        try:
            return cls(
                applicant_types={
                    k: [str(x) for x in v] for k, v in data.get("applicant_types", {}).items()
                },
                keywords={
                    k: [str(x).casefold() for x in v] for k, v in data.get("keywords", {}).items()
                },
                funding={k: [float(x) for x in v] for k, v in data.get("funding", {}).items()},
                instruments={
                    k: [str(x) for x in v] for k, v in data.get("instruments", {}).items()
                },
                activity={k: float(v) for k, v in data.get("activity", {}).items()},
                min_score=float(data.get("min_score", 2.0)),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"invalid value: {exc}", path=path) from None


TIER_POINTS = {"hot": 3.0, "strong": 2.0, "mild": 1.0}


def _tier(values: list[str], tiers: dict[str, list[str]]) -> str | None:
    lowered = {v.casefold() for v in values}
    for tier in ("hot", "strong", "mild"):
        if lowered & {t.casefold() for t in tiers.get(tier, [])}:
            return tier
    return None


def score(record: Opportunity, profile: Profile) -> tuple[float, dict[str, Any], list[str]]:
    """The deterministic score (0–10), its breakdown, and concerns."""
    concerns: list[str] = []
    client = _tier(record.applicant_types, profile.applicant_types)
    if not record.applicant_types:
        concerns.append("eligible applicants not stated")
    text = " ".join([record.title, record.description, *record.categories]).casefold()
    project = next(
        (
            t
            for t in ("hot", "strong", "mild")
            if any(k in text for k in profile.keywords.get(t, []))
        ),
        None,
    )
    total, ceiling = record.total_funding, record.award_ceiling
    funding = 0.0
    for tier in ("hot", "strong", "mild"):
        limits = profile.funding.get(tier)
        if limits and ((total or 0) >= limits[0] or (ceiling or 0) >= limits[1]):
            funding = TIER_POINTS[tier]
            break
    if total is None and ceiling is None:
        funding = 1.0
        concerns.append("award amounts not stated")
    instrument = _tier(record.funding_instruments, profile.instruments)
    instrument_points = {"hot": 1.0, "mild": 0.5}.get(instrument or "", 0.0)
    multiplier = profile.activity.get(record.status or "", 0.5)
    if record.status == "closed":
        concerns.append("closed")
    breakdown = {
        "client_relevance": TIER_POINTS.get(client or "", 0.0),
        "project_relevance": TIER_POINTS.get(project or "", 0.0),
        "funding_attractiveness": funding,
        "funding_type": instrument_points,
        "activity_multiplier": multiplier,
    }
    base = sum(v for k, v in breakdown.items() if k != "activity_multiplier")
    value = round(min(10.0, base * multiplier), 1)
    return value, breakdown, concerns


def analyze(records: list[Opportunity], profile: Profile) -> list[Opportunity]:
    """Score each record in place (and return them)."""
    for record in records:
        value, breakdown, concerns = score(record, profile)
        record.score_breakdown = breakdown
        record.relevance_score = value
        record.concerns = concerns
    return records


def apply_enhancements(records: list[Opportunity], enhancements: dict[str, Enhancement]) -> None:
    """Merge a model's summaries and clamped score adjustment into scored records."""
    for record in records:
        extra = enhancements.get(record.external_id)
        if extra is None:
            continue
        adjustment = max(-3, min(3, int(extra.score_adjustment)))
        base = record.relevance_score or 0.0
        record.score_breakdown = {
            **record.score_breakdown,
            "deterministic": base,
            "llm_adjustment": adjustment,
        }
        record.relevance_score = max(0.0, min(10.0, round(base + adjustment, 1)))
        record.summary = extra.summary
        record.actionable_summary = extra.actionable_summary
        record.tags = list(extra.tags)
        record.concerns = [*record.concerns, *extra.concerns]
