"""The canonical opportunity: one snake_case model for extraction, dedupe, storage and export.

The original system lost its money and date fields between a camelCase extractor and a
snake_case store; here every stage speaks this one model.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["open", "upcoming", "closed"]

#: The fields dedupe compares, in the original's order, and that an UPDATE may write.
CRITICAL_FIELDS = (
    "title",
    "award_floor",
    "award_ceiling",
    "total_funding",
    "open_date",
    "close_date",
    "status",
)


class Opportunity(BaseModel):
    """One funding opportunity, as extracted from a source and, later, analysed."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    source_id: str
    external_id: str = Field(min_length=1)
    opportunity_number: str | None = None
    title: str = Field(min_length=1)
    description: str = ""
    agency_code: str | None = None
    agency_name: str | None = None
    status: Status | None = None
    open_date: date | None = None
    close_date: date | None = None
    award_floor: float | None = Field(None, ge=0)
    award_ceiling: float | None = Field(None, ge=0)
    total_funding: float | None = Field(None, ge=0)
    expected_awards: int | None = Field(None, ge=0)
    cost_sharing: bool | None = None
    applicant_types: list[str] = Field(default_factory=list)
    funding_instruments: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    assistance_listings: list[str] = Field(default_factory=list)
    url: str | None = None
    api_updated_at: datetime | None = None
    # analysis
    relevance_score: float | None = Field(None, ge=0, le=10)
    score_breakdown: dict[str, Any] = Field(default_factory=dict)
    summary: str | None = None
    actionable_summary: str | None = None
    tags: list[str] = Field(default_factory=list)
    concerns: list[str] = Field(default_factory=list)

    def key(self) -> tuple[str, str]:
        return (self.source_id, self.external_id)
