"""The offline Grants.gov sample really has every oddity the pipeline must cope with."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

import pytest

from fundkit.sources.sample_data import build_sample

REFERENCE = date(2026, 12, 1)
Sample = tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def sample() -> Sample:
    return build_sample()


def _distinct(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({hit["id"]: hit for hit in hits}.values())


def _synopses(sample: Sample) -> list[dict[str, Any]]:
    return [detail["synopsis"] for detail in sample[1].values()]


def _short(value: str) -> date:
    return datetime.strptime(value, "%m/%d/%Y").date()


def _long(value: str) -> datetime:
    stamp, zone = value.rsplit(" ", 1)
    assert zone in ("EDT", "EST"), value
    return datetime.strptime(stamp, "%b %d, %Y %I:%M:%S %p")


def _norm_title(title: str) -> str:
    title = re.sub(r"\(modification \d+\)", "", title.lower())
    return re.sub(r"[\W_]+", "", re.sub(r"\b20\d\d\b", "", title))


def test_every_hit_has_a_detail_and_ids_are_distinct_digits(sample: Sample):
    hits, details = sample
    ids = {hit["id"] for hit in hits}
    assert len(ids) >= 320
    assert set(details) == ids
    for hit in _distinct(hits):
        detail = details[hit["id"]]
        assert hit["id"].isdigit() and 340_000 <= int(hit["id"]) < 360_000
        assert detail["id"] == int(hit["id"])  # an int in fetchOpportunity, a string in search2
        assert detail["opportunityNumber"] == hit["number"]
        assert detail["opportunityTitle"] == hit["title"]
        assert detail["owningAgencyCode"] == hit["agencyCode"] == detail["synopsis"]["agencyCode"]
        assert [a["alnNumber"] for a in detail["alns"]] == hit["alnist"]


def test_all_four_statuses_occur_and_posted_is_the_most_common(sample: Sample):
    hits = _distinct(sample[0])
    statuses = Counter(hit["oppStatus"] for hit in hits)
    assert set(statuses) == {"forecasted", "posted", "closed", "archived"}
    assert min(statuses.values()) >= 10
    assert statuses.most_common(1)[0][0] == "posted"
    for hit in hits:
        assert hit["docType"] == ("forecast" if hit["oppStatus"] == "forecasted" else "synopsis")


def test_search_dates_are_mm_dd_yyyy_and_agree_with_the_status(sample: Sample):
    hits = _distinct(sample[0])
    years: set[int] = set()
    for hit in hits:
        opened = _short(hit["openDate"])
        closes = _short(hit["closeDate"]) if hit["closeDate"] else None
        years |= {opened.year} | ({closes.year} if closes else set())
        if closes:
            assert opened < closes
        if hit["oppStatus"] in ("closed", "archived"):
            assert closes is not None and closes < REFERENCE
        elif hit["oppStatus"] == "posted":
            assert opened <= REFERENCE and (closes is None or closes > REFERENCE)
        else:
            assert opened > REFERENCE
    assert years == {2025, 2026, 2027}
    assert sum(hit["closeDate"] == "" for hit in hits) >= 5


def test_detail_dates_are_long_format_in_both_zones_and_match_search(sample: Sample):
    hits, details = sample
    zones = Counter(s["postingDate"][-3:] for s in _synopses(sample))
    assert zones["EDT"] >= 10 and zones["EST"] >= 10
    times = set()
    for hit in _distinct(hits):
        synopsis = details[hit["id"]]["synopsis"]
        assert _long(synopsis["postingDate"]).date() == _short(hit["openDate"])
        assert synopsis["postingDateStr"] == _short(hit["openDate"]).strftime("%Y-%m-%d-00-00-00")
        if hit["closeDate"]:
            assert _long(synopsis["responseDate"]).date() == _short(hit["closeDate"])
        else:
            assert "responseDate" not in synopsis
        _long(synopsis["archiveDate"])
        times.add(_long(synopsis["lastUpdatedDate"]).time())
    assert len(times) > 100  # real clock times, not just midnight


def test_amounts_come_in_every_shape(sample: Sample):
    shapes = Counter()
    for synopsis in _synopses(sample):
        ceiling = synopsis.get("awardCeiling", "<absent>")
        if ceiling == "<absent>":
            shapes["funding only" if "estimatedFunding" in synopsis else "absent"] += 1
        elif isinstance(ceiling, int):
            shapes["int"] += 1
        elif ceiling.isdigit():
            shapes["digits"] += 1
            assert synopsis["awardCeilingFormatted"] == f"{int(ceiling):,}"
            assert synopsis["awardFloor"].isdigit() and synopsis["estimatedFunding"].isdigit()
        else:
            shapes[repr(ceiling)] += 1
    assert shapes["digits"] >= 200
    for shape in ("funding only", "absent", "int", "''", "'none'"):
        assert shapes[shape] >= 5, (shape, shapes)


def test_descriptions_have_html_and_non_ascii_text(sample: Sample):
    descriptions = [s["synopsisDesc"] for s in _synopses(sample)]
    for needle in ("<p>", "<ul><li>", '<a href="', "&amp;", "<br/>", "&nbsp;"):
        assert sum(needle in d for d in descriptions) >= 10, needle
    for needle in ("é", "ñ", "ü", "\u2014", "\u201c", "Hawai\u02bbi", "Utqiaġvik", "en español"):
        assert sum(needle in d for d in descriptions) >= 3, needle
    assert sum(any(ord(c) > 127 for c in hit["title"]) for hit in sample[0]) >= 20


def test_a_few_descriptions_are_very_long_and_a_few_empty(sample: Sample):
    lengths = [len(s["synopsisDesc"]) for s in _synopses(sample)]
    assert sum(n > 5000 for n in lengths) >= 3
    assert lengths.count(0) >= 3


def test_some_hits_are_served_twice_on_different_pages(sample: Sample):
    hits = sample[0]
    positions: dict[str, list[int]] = defaultdict(list)
    for i, hit in enumerate(hits):
        positions[hit["id"]].append(i)
    repeated = {key: pos for key, pos in positions.items() if len(pos) > 1}
    assert 4 <= len(repeated) <= 10
    for first, second in repeated.values():
        assert hits[first] == hits[second] and hits[first] is not hits[second]
        assert all(first // size != second // size for size in (25, 50, 75, 100))


def test_near_duplicate_titles_under_distinct_ids(sample: Sample):
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for hit in _distinct(sample[0]):
        groups[_norm_title(hit["title"])].append(hit)
    pairs = [group for group in groups.values() if len(group) > 1]
    assert 8 <= len(pairs) <= 15
    for group in pairs:
        assert len({hit["id"] for hit in group}) == len(group)
        assert len({hit["title"] for hit in group}) == len(group)
        assert len({hit["agencyCode"] for hit in group}) == 1
    titles = [hit["title"] for group in pairs for hit in group]
    assert any(t.endswith("(Modification 1)") for t in titles)
    assert any(len({h["title"].lower() for h in group}) == 1 for group in pairs)


def test_the_sample_is_deterministic_per_seed_and_leaves_global_random_alone(sample: Sample):
    state = random.getstate()
    assert build_sample() == sample
    other_hits, other_details = build_sample(seed=7)
    assert random.getstate() == state
    assert (other_hits, other_details) != sample
    assert len(set(other_details)) == len(sample[1])  # the counts do not depend on the seed
    assert {h["oppStatus"] for h in other_hits} == {"forecasted", "posted", "closed", "archived"}
