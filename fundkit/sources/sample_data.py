"""A deterministic, offline sample of US federal funding opportunities in the Grants.gov formats.

`build_sample` returns what the Grants.gov API would serve: the ordered search2 ``oppHits`` a
client pages through, and the fetchOpportunity ``data`` object of every id. Everything comes from
one ``random.Random(seed)``, so a seed always gives the same sample. The sample is awkward on
purpose: all four statuses; amounts as digit strings, ints, ``""``, ``"none"`` or missing; both
date formats (``MM/DD/YYYY`` in search, ``Mon DD, YYYY hh:mm:ss AM EDT`` in details); no deadline
on some; HTML and non-ASCII descriptions, a few empty and a few very long; near-duplicate titles
under distinct ids; and a few hits served twice about 100 positions apart. Dates agree with each
status as of ``REFERENCE_DATE``. The counts of each oddity are fixed, whatever the seed.
"""

from __future__ import annotations

import copy
import random
import re
import unicodedata
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any, NamedTuple

REFERENCE_DATE = date(2026, 12, 1)
N_BASE = 330  # distinct opportunities before the near-duplicates are added
N_NEAR_DUPLICATES = 10
N_REPEATED_HITS = 6
ID_RANGE = (340_000, 360_000)
STATUS_COUNTS = {"closed": 75, "forecasted": 60, "archived": 45}  # the rest are "posted"
AMOUNT_COUNTS = {"missing": 14, "empty": 12, "none": 10, "int": 14, "funding_only": 12}
DESCRIPTION_COUNTS = {"long": 5, "empty": 5}
N_OPEN_ENDED = 18  # posted or forecasted with no closing date

EM = "\N{EM DASH}"
LQ, RQ = "\N{LEFT DOUBLE QUOTATION MARK}", "\N{RIGHT DOUBLE QUOTATION MARK}"
OKINA = "\N{MODIFIER LETTER TURNED COMMA}"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
Record = dict[str, Any]

# fmt: off
AGENCIES = {  # code: (name, e-mail domain of its contacts)
    "HHS-NIH11": ("National Institutes of Health", "nih.gov"),
    "HHS-HRSA": ("Health Resources & Services Administration", "hrsa.gov"),
    "HHS-ACF": ("Administration for Children and Families", "acf.hhs.gov"),
    "DOE-GFO": ("Department of Energy - Golden Field Office", "ee.doe.gov"),
    "USDA-RUS": ("Rural Utilities Service", "usda.gov"),
    "USDA-FS": ("Forest Service", "usda.gov"),
    "EPA": ("Environmental Protection Agency", "epa.gov"),
    "DOT-FTA": ("DOT - Federal Transit Administration", "dot.gov"),
    "HUD": ("Department of Housing and Urban Development", "hud.gov"),
    "NSF": ("U.S. National Science Foundation", "nsf.gov"),
    "DOC-EDA": ("Economic Development Administration", "eda.gov"),
    "DOI-BOR": ("Bureau of Reclamation", "usbr.gov"),
    "DOL-ETA": ("Employment and Training Administration", "dol.gov"),
}
CATEGORIES = {
    "EN": "Energy", "ENV": "Environment", "HL": "Health", "CD": "Community Development",
    "T": "Transportation", "ELT": "Employment, Labor and Training", "HO": "Housing",
    "ST": "Science and Technology and other Research and Development", "NR": "Natural Resources",
    "RD": "Regional Development", "ISS": "Income Security and Social Services",
    "IIJ": "Infrastructure Investment and Jobs Act (IIJA)",
}
APPLICANT_TYPES = {
    "00": "State governments", "01": "County governments", "02": "City or township governments",
    "04": "Special district governments", "05": "Independent school districts",
    "06": "Public and State controlled institutions of higher education",
    "07": "Native American tribal governments (Federally recognized)",
    "08": "Public housing authorities/Indian housing authorities",
    "11": "Native American tribal organizations (other than Federally recognized tribal governments)",
    "12": "Nonprofits having a 501(c)(3) status with the IRS, other than institutions of higher education",
    "20": "Private institutions of higher education", "23": "Small businesses",
    "25": 'Others (see text field entitled "Additional Information on Eligibility" for clarification)',
}
INSTRUMENTS = {"G": "Grant", "CA": "Cooperative Agreement", "PC": "Procurement Contract", "O": "Other"}
INSTRUMENT_SETS = (("G",), ("G",), ("CA",), ("G", "CA"), ("PC",), ("O",))
OPP_CATEGORIES = (("D", "Discretionary"), ("M", "Mandatory"), ("C", "Continuation"), ("E", "Earmark"))
SMALL = (100_000, 250_000, 500_000, 750_000)
MID = (1_000_000, 2_000_000, 2_500_000, 5_000_000)
LARGE = (5_000_000, 10_000_000, 15_000_000, 25_000_000, 50_000_000)


class Program(NamedTuple):
    area: str
    agency: str
    number: str  # a str.format template with yyyy, yy and n
    n_range: tuple[int, int]
    ceilings: tuple[int, ...]
    applicants: tuple[str, ...]
    categories: tuple[str, ...]
    alns: tuple[tuple[str, str], ...]
    titles: tuple[str, ...]


Style = tuple[str, str, str, bool]  # status, amount style, description style, open-ended
Opp = tuple[Program, Record, Record]  # program, search2 hit, fetchOpportunity data

PROGRAMS = (
    Program("energy efficiency", "DOE-GFO", "DE-FOA-{n:07d}", (3100, 3599), MID, ("00", "01", "02", "07"), ("EN", "IIJ"),
            (("81.128", "Energy Efficiency and Conservation Block Grant Program (EECBG)"),),
            ("Energy Efficiency and Conservation Block Grant Program", "Energy Efficiency Upgrades for Public Buildings")),
    Program("tribal energy", "DOE-GFO", "DE-FOA-{n:07d}", (3100, 3599), MID, ("07", "11"), ("EN",),
            (("81.087", "Renewable Energy Research and Development"),),
            ("Clean Energy Technology Deployment on Tribal Lands", "Tribal Energy Resilience and Sovereignty Program")),
    Program("rural broadband", "USDA-RUS", "USDA-RUS-{yyyy}-TELECOM", (1, 1), LARGE, ("00", "01", "07", "23"), ("CD", "IIJ"),
            (("10.752", "Rural eConnectivity Program"), ("10.863", "Community Connect Grants")),
            ("ReConnect Loan and Grant Program", "Community Connect Grant Program", "Rural Broadband Deployment")),
    Program("water infrastructure", "DOI-BOR", "R{yy}AS{n:05d}", (10, 120), MID, ("00", "04", "07"), ("NR", "IIJ"),
            (("15.507", "WaterSMART Grants"),),
            ("WaterSMART Water and Energy Efficiency Grants", "Drought Resiliency Projects", "Small-Scale Water Projects")),
    Program("drinking water", "EPA", "EPA-OW-OGWDW-{yy}-{n:02d}", (1, 40), MID, ("00", "02", "04", "12"), ("ENV", "IIJ"),
            (("66.468", "Drinking Water State Revolving Fund"),),
            ("Emerging Contaminants in Small or Disadvantaged Communities", "Lead Service Line Replacement Assistance")),
    Program("clean school buses", "EPA", "EPA-OAR-OTAQ-{yy}-{n:02d}", (1, 40), LARGE, ("00", "05", "07", "25"), ("ENV", "T"),
            (("66.051", "Clean School Bus Program"),),
            ("Clean School Bus Grant Program", "Clean School Bus Rebates", "Zero-Emission School Bus Replacement")),
    Program("brownfields", "EPA", "EPA-I-OLEM-OBLR-{yy}-{n:02d}", (1, 40), SMALL, ("01", "02", "07", "12"), ("ENV", "CD"),
            (("66.818", "Brownfields Multipurpose, Assessment, Revolving Loan Fund, and Cleanup Cooperative Agreements"),),
            ("Brownfields Assessment Grants", "Brownfields Cleanup Grants", "Brownfields Revolving Loan Fund Grants")),
    Program("community health", "HHS-HRSA", "HRSA-{yy}-{n:03d}", (1, 150), SMALL, ("01", "07", "11", "12"), ("HL",),
            (("93.224", "Health Center Program"),),
            ("Health Center Program New Access Points", "Rural Communities Opioid Response Program")),
    Program("health research", "HHS-NIH11", "RFA-MD-{yy}-{n:03d}", (1, 60), MID, ("06", "12", "20", "23"), ("HL", "ST"),
            (("93.307", "Minority Health and Health Disparities Research"),),
            ("Community-Level Interventions to Reduce Health Disparities (R01 Clinical Trial Optional)",
             "Rural Health Research Centers (U54)")),
    Program("community services", "HHS-ACF", "HHS-{yyyy}-ACF-OCS-EE-{n:04d}", (1, 150), SMALL, ("07", "11", "12"),
            ("ISS", "CD"), (("93.570", "Community Services Block Grant Discretionary Awards"),),
            ("Community Economic Development", "Rural Community Facilities Development")),
    Program("workforce", "DOL-ETA", "FOA-ETA-{yy}-{n:02d}", (1, 40), MID, ("00", "06", "12", "25"), ("ELT",),
            (("17.268", "H-1B Job Training Grants"),),
            ("Building Pathways to Infrastructure Jobs Grant Program", "Strengthening Community Colleges Training Grants")),
    Program("economic development", "DOC-EDA", "EDA-HDQ-OIEE-{yyyy}-{n:07d}", (2_008_000, 2_009_999), MID,
            ("00", "01", "02", "07", "12"), ("CD", "RD"), (("11.307", "Economic Adjustment Assistance"),),
            ("Economic Adjustment Assistance", "Assistance to Coal Communities", "Recompete Pilot Program")),
    Program("transit", "DOT-FTA", "FTA-{yyyy}-{n:03d}-TPM", (1, 30), LARGE, ("00", "02", "04", "07"), ("T", "IIJ"),
            (("20.526", "Buses and Bus Facilities Formula, Competitive, and Low or No Emissions Programs"),),
            ("Low or No Emission Grant Program", "Areas of Persistent Poverty Program", "Rural Transit Planning")),
    Program("housing rehab", "HUD", "FR-{n:04d}-N-{yy}", (6800, 6999), MID, ("01", "02", "07", "08", "12"), ("HO", "CD"),
            (("14.905", "Lead Hazard Reduction Demonstration Grant Program"), ("14.239", "HOME Investment Partnerships")),
            ("Lead Hazard Reduction Grant Program", "Older Adults Home Modification Program", "Housing Rehabilitation")),
    Program("science", "NSF", "NSF-{yy}-{n:03d}", (500, 620), SMALL, ("06", "20"), ("ST",),
            (("47.041", "Engineering"), ("47.050", "Geosciences")),
            ("Smart and Connected Communities", "Civic Innovation Challenge", "Coastlines and People")),
    Program("wildfire resilience", "USDA-FS", "USDA-FS-{yyyy}-{n:02d}-CWDG", (1, 40), MID, ("01", "04", "07", "12"),
            ("NR", "IIJ"), (("10.720", "Community Wildfire Defense Grants"),),
            ("Community Wildfire Defense Grants", "Wood Innovations Grant Program")),
)
TITLE_SUFFIXES = ("", " for {place}", ", FY {fy}", f" {EM} FY {{fy}}", " in {place}", ": Phase {n}",
                  " ({place})", f" {EM} Round {{n}}", " for Fiscal Year {fy}", f": Track {{letter}} {EM} {{place}}")
ASCII_PLACES = ("Appalachian Ohio", "the Navajo Nation", "the Mississippi Delta", "rural Montana", "coastal Louisiana",
                "northern Minnesota", "the Central Valley of California", "Detroit, Michigan", "Bethel, Alaska",
                "Pine Ridge, South Dakota", "southwest Georgia", "Guam", "the Texas colonias", "eastern Kentucky")
NON_ASCII_PLACES = (f"Hawai{OKINA}i", f"Hilo, Hawai{OKINA}i", f"Moloka{OKINA}i, Hawai{OKINA}i", "Utqiaġvik, Alaska",
                    "the Yukon\N{EN DASH}Kuskokwim Delta", "Española, New Mexico", "Cañon City, Colorado",
                    "Kaktovik (Qaaktuġvik), Alaska", "Mayagüez, Puerto Rico")
PUERTO_RICO_PLACES = ("Puerto Rico", "Mayagüez, Puerto Rico", "Río Piedras, San Juan, Puerto Rico", "Vieques y Culebra, Puerto Rico")
PROJECT_KINDS = ("planning", "construction", "technical assistance", "capacity-building", "demonstration")
INTRO = ("<p>This notice invites applications for the <strong>{title}</strong>, supporting {kind} projects in "
         f"{{place}} {EM} and in communities like it across the country.</p>")
PRIORITIES = (
    f"projects that benefit {LQ}disadvantaged communities{RQ} as defined in Section I.B",
    "community-driven planning &amp; meaningful public engagement",
    "workforce training tied to good-paying jobs", "climate resilience and hazard mitigation",
    "partnerships with Tribal Nations and Alaska Native villages",
    f"projects that are {LQ}shovel-ready{RQ} within 18 months of award",
    f"measurable outcomes {EM} energy saved, jobs created, people served",
)
SPANISH = ("<p><em>Resumen en español:</em> Este programa apoya proyectos en {place}. Las solicitudes pueden "
           "presentarse en español o en inglés; habrá seminarios web para municipios y pequeñas organizaciones.</p>")
LINKS = ('<p>Full announcement &amp; application package: <a href="https://www.grants.gov/search-results-detail/'
         '{oid}">Grants.gov opportunity {oid}</a>.{brk}Questions:{sep}<a href="mailto:{email}">{email}</a></p>')
LONG_SECTIONS = ("Program Description", "Federal Award Information", "Eligibility Information",
                 "Application and Submission Information", "Application Review Information", "Other Information")
BOILERPLATE = (
    "Applicants must be registered in SAM.gov and hold a Unique Entity Identifier before applying.",
    "Costs incurred before the period of performance begins are unallowable without prior written approval.",
    "Each application is reviewed for technical merit, project readiness, and the capacity of the team.",
    "Recipients must comply with 2 CFR Part 200 and Build America, Buy America requirements where applicable.",
    "Quarterly progress reports and an annual financial report (SF-425) are required throughout the award.",
    "Letters of commitment from partners should state the specific resources each partner provides.",
    "The agency may make fewer awards than anticipated, or none, depending on the availability of funds.",
)
FIRST_NAMES = ("María", "José", "Leilani", "Zoë", "Chen", "Aisha", "Robert", "Emily", "Kekoa", "Siobhán", "Tomás",
               "Dana", "Priya", "Joaquín", "Nathaniel")
LAST_NAMES = ("Ramírez", "Kahananui", "Müller", "Nguyen", "Begay", "Johnson", "Okafor", "Kowalski", "Peña", "Smith",
              "Ahmaogak", "Yazzie", "O'Brien")
# fmt: on


def _title_key(title: str) -> str:
    """The title without case, punctuation, years or "(Modification N)": near-duplicates share it."""
    t = re.sub(r"\(modification \d+\)", "", title.lower())
    return re.sub(r"[\W_]+", "", re.sub(r"\b(19|20)\d\d\b", "", t))


def _is_dst(d: date) -> bool:
    """US daylight saving time: second Sunday of March to first Sunday of November."""
    march8, nov1 = date(d.year, 3, 8), date(d.year, 11, 1)
    start = march8 + timedelta(days=(6 - march8.weekday()) % 7)
    return start <= d < nov1 + timedelta(days=(6 - nov1.weekday()) % 7)


def _long_date(d: date, hour: int = 0, minute: int = 0, second: int = 0) -> str:
    """'Oct 11, 2023 05:17:55 PM EDT', as fetchOpportunity writes dates."""
    clock = f"{hour % 12 or 12:02d}:{minute:02d}:{second:02d} {'AM' if hour < 12 else 'PM'}"
    return f"{MONTHS[d.month - 1]} {d.day:02d}, {d.year} {clock} {'EDT' if _is_dst(d) else 'EST'}"


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


def _quota(rng: random.Random, n: int, counts: dict[str, int], rest: str) -> list[str]:
    """`n` shuffled labels: exactly `counts` of the named ones, `rest` for the others."""
    labels = [label for label, count in counts.items() for _ in range(count)]
    labels += [rest] * (n - len(labels))
    rng.shuffle(labels)
    return labels


def _dates(rng: random.Random, status: str, open_ended: bool) -> tuple[date, date | None, date]:
    """(open, close or None, archive) dates that agree with `status` on REFERENCE_DATE."""
    ref, day = REFERENCE_DATE, timedelta(days=1)
    if status == "archived":
        opened = _day(rng, date(2025, 1, 2), date(2026, 3, 31))
        closes = opened + rng.randint(30, 150) * day
        return opened, closes, min(closes + rng.randint(30, 90) * day, ref - day)
    if status == "closed":
        opened = _day(rng, date(2025, 3, 1), date(2026, 8, 31))
        closes = _day(rng, opened + 30 * day, min(opened + 180 * day, ref - day))
        return opened, closes, ref + rng.randint(1, 120) * day
    if status == "posted":
        opened = _day(rng, date(2026, 1, 5), ref - 3 * day)
        closes = _day(rng, max(opened + 30 * day, ref + day), date(2027, 9, 30))
    else:  # forecasted: the agency's estimated dates
        opened = _day(rng, ref + 7 * day, date(2027, 8, 31))
        closes = opened + rng.randint(30, 120) * day
    if open_ended:
        return opened, None, max(opened, ref) + rng.randint(180, 400) * day
    return opened, closes, closes + 30 * day


def _amounts(rng: random.Random, style: str, ceilings: tuple[int, ...]) -> Record:
    """The award fields in one of the shapes the API really returns."""
    if style == "missing":
        return {}
    ceiling, awards = rng.choice(ceilings), rng.randint(2, 40)
    floor = (
        0 if rng.random() < 0.1 else max(ceiling // rng.choice((4, 5, 10, 20)) // 1000, 5) * 1000
    )
    funding = int(ceiling * awards * rng.choice((0.5, 0.6, 0.75, 1.0))) // 100_000 * 100_000
    if style == "funding_only":
        return {"estimatedFunding": str(funding), "expectedNumberOfAwards": str(awards)}
    if style in ("empty", "none"):
        blank = "" if style == "empty" else "none"
        fields = ("awardCeiling", "awardCeilingFormatted", "awardFloor", "awardFloorFormatted")
        return dict.fromkeys(fields, blank) | {
            "estimatedFunding": blank if style == "empty" else str(funding),
            "expectedNumberOfAwards": "",
        }
    as_type: type[int] | type[str] = int if style == "int" else str
    return {
        "awardCeiling": as_type(ceiling),
        "awardCeilingFormatted": f"{ceiling:,}",
        "awardFloor": as_type(floor),
        "awardFloorFormatted": f"{floor:,}",
        "estimatedFunding": as_type(funding),
        "expectedNumberOfAwards": str(awards),
    }


def _place(rng: random.Random, i: int) -> str:
    """Every 11th record is in Puerto Rico, every 5th elsewhere with a non-ASCII name."""
    if i % 11 == 0:
        return rng.choice(PUERTO_RICO_PLACES)
    return rng.choice(NON_ASCII_PLACES if i % 5 == 0 else ASCII_PLACES + NON_ASCII_PLACES)


def _title(rng: random.Random, program: Program, place: str, fy: int, seen: set[str]) -> str:
    """A title whose `_title_key` is not in `seen` (then added to it)."""
    for attempt in range(100):
        suffix = rng.choice(TITLE_SUFFIXES)
        suffix = suffix.format(place=place, fy=fy, n=rng.randint(2, 5), letter=rng.choice("ABC"))
        title = rng.choice(program.titles) + (suffix if attempt < 50 else f" (Cohort {attempt})")
        if _title_key(title) not in seen:
            seen.add(_title_key(title))
            return title
    raise RuntimeError("no unused title")  # pragma: no cover


def _number(rng: random.Random, program: Program, fy: int, seen: set[str]) -> str:
    """An opportunity number from the program's template, made unique with a -NN suffix."""
    number = program.number.format(yyyy=fy, yy=f"{fy % 100:02d}", n=rng.randint(*program.n_range))
    candidate, k = number, 1
    while candidate in seen:
        k += 1
        candidate = f"{number}-{k:02d}"
    seen.add(candidate)
    return candidate


def _description(rng: random.Random, i: int, oid: int, title: str, place: str, email: str) -> str:
    """An HTML synopsis; its optional parts depend on `i`, so each certainly occurs."""
    parts = [INTRO.format(title=title, kind=rng.choice(PROJECT_KINDS), place=place)]
    if i % 3:
        items = "".join(f"<li>{p}</li>" for p in rng.sample(PRIORITIES, rng.randint(2, 4)))
        parts.append(f"<p>Priority is given to:</p><ul>{items}</ul>")
    if "Puerto Rico" in place:
        parts.append(SPANISH.format(place=place))
    brk, sep = "<br/>" if i % 4 == 0 else " ", "&nbsp;" if i % 5 == 0 else " "
    parts.append(LINKS.format(oid=oid, brk=brk, sep=sep, email=email))
    return "".join(parts)


def _long_description(rng: random.Random, short: str) -> str:
    """A whole notice of funding opportunity pasted in as the synopsis: over 5,000 characters."""
    parts = [short]
    for k in range(100):
        if sum(map(len, parts)) > 5200:
            break
        parts.append(f"<h3>{k + 1}. {LONG_SECTIONS[k % len(LONG_SECTIONS)]}</h3>")
        parts.append("<p>" + " ".join(rng.sample(BOILERPLATE, 4)) + "</p>")
    return "".join(parts)


def _eligibility(i: int, applicants: list[str]) -> str:
    if i % 17 == 0:
        return ""
    text = "Eligible applicants: " + "; ".join(APPLICANT_TYPES[a] for a in applicants) + "."
    if i % 4 == 1:
        text += (
            f" Native Hawaiian organizations (e.g., on Moloka{OKINA}i) may apply {EM} see III.A."
        )
    return text


def _person(rng: random.Random, domain: str) -> tuple[str, str]:
    """A contact name (often non-ASCII) and its plain-ASCII e-mail address."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore")
    return f"{first} {last}", re.sub(r"[^a-z.]", "", ascii_name.decode().lower()) + "@" + domain


def _coded(codes: Iterable[str], names: dict[str, str]) -> list[dict[str, str]]:
    return [{"id": code, "description": names[code]} for code in codes]


def _opportunity(
    rng: random.Random, i: int, oid: int, style: Style, titles: set[str], numbers: set[str]
) -> Opp:
    """One opportunity as (its program, its search2 hit, its fetchOpportunity data)."""
    status, amount_style, description_style, open_ended = style
    program = rng.choice(PROGRAMS)
    agency_name, domain = AGENCIES[program.agency]
    opened, closes, archived = _dates(rng, status, open_ended)
    fy = opened.year + (opened.month >= 10)
    place = _place(rng, i)
    title = _title(rng, program, place, fy, titles)
    number = _number(rng, program, fy, numbers)
    contact, email = _person(rng, domain)
    description = _description(rng, i, oid, title, place, email)
    if description_style != "normal":
        description = "" if description_style == "empty" else _long_description(rng, description)
    applicants = sorted(rng.sample(program.applicants, rng.randint(1, len(program.applicants))))
    category, category_name = rng.choices(OPP_CATEGORIES, weights=(85, 5, 7, 3))[0]
    if status == "forecasted":
        updated = REFERENCE_DATE - timedelta(days=rng.randint(1, 90))
    else:
        updated = min(opened + timedelta(days=rng.randint(0, 20)), REFERENCE_DATE - timedelta(1))
    hit = {
        "id": str(oid),
        "number": number,
        "title": title,
        "agencyCode": program.agency,
        "agencyName": agency_name,
        "openDate": opened.strftime("%m/%d/%Y"),
        "closeDate": "" if closes is None else closes.strftime("%m/%d/%Y"),
        "oppStatus": status,
        "docType": "forecast" if status == "forecasted" else "synopsis",
        "alnist": [aln for aln, _ in program.alns],
    }
    synopsis: Record = {
        "agencyCode": program.agency,
        "agencyName": agency_name,
        "agencyContactName": contact,
        "agencyContactEmail": email,
        "synopsisDesc": description,
    }
    if closes is not None:
        synopsis["responseDate"] = _long_date(closes)
    synopsis |= {
        "postingDate": _long_date(opened),
        "archiveDate": _long_date(archived),
        "costSharing": rng.random() < 0.35,
        **_amounts(rng, amount_style, program.ceilings),
        "lastUpdatedDate": _long_date(
            updated, *(rng.randint(*r) for r in ((7, 19), (0, 59), (0, 59)))
        ),
        "applicantTypes": _coded(applicants, APPLICANT_TYPES),
        "fundingInstruments": _coded(rng.choice(INSTRUMENT_SETS), INSTRUMENTS),
        "fundingActivityCategories": _coded(program.categories, CATEGORIES),
        "applicantEligibilityDesc": _eligibility(i, applicants),
        "postingDateStr": opened.strftime("%Y-%m-%d-00-00-00"),
    }
    detail = {
        "id": oid,
        "revision": 0,
        "opportunityNumber": number,
        "opportunityTitle": title,
        "owningAgencyCode": program.agency,
        "opportunityCategory": {"category": category, "description": category_name},
        "synopsis": synopsis,
        "alns": [{"alnNumber": n, "programTitle": t} for n, t in program.alns],
    }
    return program, hit, detail


def _near_duplicate(rng: random.Random, k: int, oid: int, original: Opp, numbers: set[str]) -> Opp:
    """`original` posted again under another id, its title changed only by case, punctuation, a
    year or a "(Modification 1)" suffix (so `_title_key` is unchanged); the number is kept for
    a modification, new otherwise."""
    program, hit, detail = original
    title, number, kind = hit["title"], hit["number"], ("case", "punct", "mod", "year")[k % 4]
    opened_year = int(hit["openDate"][-4:])
    if kind == "case":
        title = title.title() if title.title() != title else title.upper()
    elif kind == "punct":
        changed = title.replace(f" {EM} ", " - ").replace(", ", " ").replace(": ", " - ")
        title = changed if changed != title else title + "."
    elif kind == "mod":
        title += " (Modification 1)"
    elif year := re.search(r"\b20\d\d\b", title):
        title = title.replace(year[0], str(int(year[0]) + 1))
    else:
        title = f"{title} {opened_year}"
    if kind != "mod":
        number = _number(rng, program, opened_year, numbers)
    note = (
        "Modification 1: eligibility clarified." if kind == "mod" else "Replaces an earlier notice."
    )
    detail = copy.deepcopy(detail)
    detail |= {"id": oid, "revision": int(kind == "mod"), "opportunityNumber": number}
    detail["opportunityTitle"] = title
    detail["synopsis"]["synopsisDesc"] = (
        f"<p><strong>{note}</strong></p>" + detail["synopsis"]["synopsisDesc"]
    )
    hit = {**hit, "id": str(oid), "number": number, "title": title, "alnist": list(hit["alnist"])}
    return program, hit, detail


def _with_repeats(rng: random.Random, hits: list[Record]) -> list[Record]:
    """Serve N_REPEATED_HITS hits a second time 100-115 positions after the first, as a live
    index does when records are added while a client pages through it."""
    out = list(hits)
    sources = rng.sample(range(5, len(hits) - 120), N_REPEATED_HITS)
    pairs = sorted(((s, s + rng.randint(100, 115)) for s in sources), key=lambda p: -p[1])
    for source, target in pairs:  # highest target first: no later insert moves an earlier one
        out.insert(target, copy.deepcopy(hits[source]))
    return out


def build_sample(seed: int = 20261204) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Return (hits, details): `hits` is the full ordered list of search2 `oppHits` entries the
    sample API pages through; `details` maps each hit's "id" (a string) to its fetchOpportunity
    `data` object."""
    rng = random.Random(seed)
    ids = rng.sample(range(*ID_RANGE), N_BASE + N_NEAR_DUPLICATES)
    statuses = _quota(rng, N_BASE, STATUS_COUNTS, "posted")
    amounts = _quota(rng, N_BASE, AMOUNT_COUNTS, "digits")
    descriptions = _quota(rng, N_BASE, DESCRIPTION_COUNTS, "normal")
    live = [i for i, status in enumerate(statuses) if status in ("posted", "forecasted")]
    open_ended = set(rng.sample(live, N_OPEN_ENDED))
    columns = zip(statuses, amounts, descriptions, strict=True)
    styles: list[Style] = [(*column, i in open_ended) for i, column in enumerate(columns)]
    titles: set[str] = set()
    numbers: set[str] = set()
    opps = [_opportunity(rng, i, ids[i], styles[i], titles, numbers) for i in range(N_BASE)]
    plain = [opps[i] for i in range(N_BASE) if descriptions[i] == "normal"]
    for k, original in enumerate(rng.sample(plain, N_NEAR_DUPLICATES)):
        opps.append(_near_duplicate(rng, k, ids[N_BASE + k], original, numbers))
    rng.shuffle(opps)
    hits = _with_repeats(rng, [hit for _, hit, _ in opps])
    return hits, {hit["id"]: detail for _, hit, detail in opps}
