"""Generate realistic contacts and activity from a seed: the one data set that feeds
the tests, the demo, the sandbox CRMs and the benchmarks."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mqlsync.connector.model import Activity, Contact, Stage

#: the fixed "today" of the sample data unless a caller gives another
ANCHOR = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
HISTORY_DAYS = 180

# Names from the places the source documents were written (Indonesia, Iran, Hungary)
# and a few more, so non-ASCII names are the normal case, not a test special.
_PEOPLE = {
    "en": (["James", "Mary", "Olivia", "Liam", "Emma", "Noah", "Ava", "Sophia", "Lucas", "Mia", "Grace", "Owen"],
           ["Smith", "Johnson", "Brown", "Taylor", "Walker", "Clark", "Lewis", "Young", "O'Brien", "Hughes"],
           ["US", "US", "US", "GB", "CA", "AU", "IE"]),
    "hu": (["Ágnes", "Zoltán", "Katalin", "Gábor", "Éva", "László", "Zsófia", "Péter", "Réka", "Bálint"],
           ["Kovács", "Szabó", "Tóth", "Horváth", "Nagy", "Varga", "Kiss", "Molnár", "Németh", "Farkas"],
           ["HU", "HU", "HU", "AT"]),
    "id": (["Budi", "Siti", "Agus", "Dewi", "Rizky", "Putri", "Andi", "Wulan", "Eko", "Ratna"],
           ["Santoso", "Wijaya", "Pratama", "Saputra", "Hidayat", "Kusuma", "Lestari", "Nugroho"],
           ["ID", "ID", "ID", "SG"]),
    "fa": (["Ali", "Zahra", "Reza", "Maryam", "Hossein", "Fatemeh", "Mehdi", "Sara", "مریم", "رضا"],
           ["Ahmadi", "Hosseini", "Karimi", "Rezaei", "Mousavi", "Jafari", "احمدی", "کریمی"],
           ["IR", "DE", "CA", "GB"]),
    "de": (["Jürgen", "Anja", "Sören", "Jörg", "Lena", "Max", "Björn", "Käthe"],
           ["Müller", "Schröder", "Weiß", "Groß", "Fischer", "Becker", "Schäfer"],
           ["DE", "DE", "AT", "CH"]),
}
_LOCALES = ["en"] * 4 + ["hu"] * 2 + ["id"] * 2 + ["fa"] + ["de"] * 2

_TITLES = [
    ("VP Marketing", 4), ("Head of Demand Generation", 4), ("Marketing Manager", 8),
    ("Marketing Operations Manager", 5), ("CMO", 2), ("Chief Revenue Officer", 1), ("Sales Director", 3),
    ("Revenue Operations Lead", 3), ("Growth Marketer", 4), ("Content Marketing Specialist", 5),
    ("Founder & CEO", 2), ("Account Executive", 4), ("CRM Administrator", 3), ("IT Manager", 3),
    ("Software Engineer", 6), ("Data Analyst", 4), ("Procurement Specialist", 2), ("Purchasing Manager", 1),
    ("Student", 2), ("Marketing Intern", 2), ("Direktur Pemasaran", 1), ("Marketingvezető", 1),
    ("Office Manager", 2), (None, 8),
]
_INDUSTRIES = [("Software", 12), ("SaaS", 8), ("Technology", 6), ("Financial Services", 5),
               ("Professional Services", 5), ("Manufacturing", 5), ("E-commerce", 4), ("Telecommunications", 2),
               ("Education", 4), ("Government", 2), ("Healthcare", 4), ("Retail", 4), ("Non-profit", 2), (None, 6)]
_ORG_TYPES = [("Private Company", 60), ("Public Company", 15), ("Non-profit", 8), ("Government", 5),
              ("Education", 7), (None, 5)]
_SIZES = [(None, 12), ((1, 10), 14), ((10, 50), 22), ((50, 1000), 36), ((1000, 20000), 16)]
_CHANNELS = [(("inbound_form", "content"), 22), (("inbound_form", "contact"), 9), (("inbound_form", "demo"), 7),
             (("inbound_form", "paid_search"), 7), (("inbound_form", "trial"), 3), (("event", "webinar"), 12),
             (("event", "event"), 4), (("event", "badge_scan"), 4), (("interaction", None), 20),
             (("referral", None), 6), (("other", None), 6)]
_FREEMAIL = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "gmx.de", "freemail.hu", "yahoo.co.id"]
_COMPETITORS = ["leadrank.io", "scorewise.com"]
_WORDS_A = ["North", "Blue", "Bright", "Silver", "Cedar", "Nusa", "Duna", "Alborz", "Rhein", "Maple", "Iron", "Coral"]
_WORDS_B = ["wind", "peak", "stone", "field", "line", "works", "bridge", "gate", "path", "forge"]
_SUFFIX = [("Analytics", ".com"), ("Software", ".io"), ("Kft.", ".hu"), ("Tbk", ".co.id"), ("GmbH", ".de"),
           ("Labs", ".io"), ("Group", ".com"), ("Systems", ".com")]
OWNERS = [str(1000001 + i) for i in range(8)]

_ASSETS = {"guide": 12, "whitepaper": 8, "case_study": 6, "checklist": 4}
_PAGES = ["/", "/blog/what-is-an-mql", "/blog/lead-scoring-101", "/features", "/integrations/hubspot",
          "/integrations/salesforce", "/customers", "/about", "/careers", "/docs/getting-started"]
_WEBINARS = [("web-101", "Lead scoring that sales trusts"), ("web-102", "From MQL to SQL in 30 days"),
             ("web-103", "Funnel metrics for RevOps"), ("web-104", "Recycling leads without annoying them")]
_EVENTS = [("evt-201", "SaaStock trade show", "trade_show"),
           ("evt-202", "Lead-Scoring Masterclass Budapest", "seminar"),
           ("evt-203", "RevOps Summit Jakarta", "in_person"),
           ("evt-204", "Lead-Scoring Masterclass Berlin", "seminar")]


@dataclass
class SampleData:
    contacts: list[Contact]
    activities: list[Activity]


def _weighted(rng: random.Random, table):
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights)[0]


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())


def stream(seed: int = 7, contacts: int = 2000, activities_per_contact: float = 10.0,
           now: datetime = ANCHOR) -> Iterator[tuple[Contact, list[Activity]]]:
    """Each contact with its activities, one at a time (constant memory for large sets)."""
    rng = random.Random(seed)
    for n in range(1, contacts + 1):
        contact, intent = _contact(rng, n, now)
        yield contact, _activities(rng, contact, intent, activities_per_contact, now)


def generate(seed: int = 7, contacts: int = 2000, activities_per_contact: float = 10.0,
             now: datetime = ANCHOR) -> SampleData:
    data = SampleData([], [])
    for contact, acts in stream(seed, contacts, activities_per_contact, now):
        data.contacts.append(contact)
        data.activities.extend(acts)
    return data


def _contact(rng: random.Random, n: int, now: datetime) -> tuple[Contact, float]:
    locale = rng.choice(_LOCALES)
    firsts, lasts, countries = _PEOPLE[locale]
    first, last = rng.choice(firsts), rng.choice(lasts)
    company = f"{rng.choice(_WORDS_A)}{rng.choice(_WORDS_B)}"
    suffix, tld = rng.choice(_SUFFIX)
    domain = _slug(company) + tld
    roll = rng.random()
    if roll < 0.18:
        domain = rng.choice(_FREEMAIL)
    elif roll < 0.19:
        domain = rng.choice(_COMPETITORS)
    local = ".".join(p for p in (_slug(first), _slug(last)) if p) or f"user{n}"
    fake = rng.random() < 0.01
    if fake:
        first, last, local = "Test", "Test", "test"
    size = _weighted(rng, _SIZES)
    channel, form_type = _weighted(rng, _CHANNELS)
    created = now - timedelta(days=rng.uniform(1, HISTORY_DAYS + 180))
    # Intent drives how much and what kind of activity the person shows.
    intent = rng.betavariate(1.2, 3.0)
    status, status_at, criteria, crm_stage = None, None, {}, None
    sales_roll = rng.random()
    if intent > 0.45 and sales_roll < 0.25:
        status, status_at = "accepted", now - timedelta(days=rng.uniform(1, 60))
        if rng.random() < 0.4:
            criteria = {k: True for k in ("buying_cycle", "influencer", "timeframe", "opportunity_size", "next_step")}
            criteria["budget"] = rng.random() < 0.5
        if rng.random() < 0.15:
            crm_stage = rng.choice([Stage.OPPORTUNITY, Stage.CUSTOMER])
    elif sales_roll < 0.05:
        status, status_at = "rejected", now - timedelta(days=rng.uniform(1, 90))
    contact = Contact(
        id=f"c-{n:06d}",
        first_name=first if rng.random() > 0.02 else None,
        last_name=last if rng.random() > 0.04 else None,
        email=f"{local}@{domain}",
        title=_weighted(rng, _TITLES),
        company=f"{company} {suffix}" if rng.random() > 0.05 else None,
        phone=(f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}"
               if rng.random() < 0.7 else None),
        company_size=rng.randint(*size) if size else None,
        industry=_weighted(rng, _INDUSTRIES),
        org_type=_weighted(rng, _ORG_TYPES),
        country=rng.choice(countries) if rng.random() > 0.06 else None,
        city=None,
        linkedin_url=f"https://www.linkedin.com/in/{_slug(first + last)}-{n}" if rng.random() < 0.5 else None,
        channel=channel,
        form_type=form_type,
        unsubscribed=rng.random() < 0.03,
        bounced=rng.random() < 0.02,
        owner_id=rng.choice(OWNERS) if rng.random() > 0.03 else None,
        created_at=created,
        updated_at=now - timedelta(days=rng.uniform(0, 30)),
        crm_stage=crm_stage,
        sales_status=status,
        sales_status_at=status_at,
        sql_criteria=criteria,
    )
    return contact, intent


def _activities(rng: random.Random, contact: Contact, intent: float, mean: float,
                now: datetime) -> list[Activity]:
    # Activity counts are heavy-tailed: most people do little, a few do a lot.
    count = int(rng.expovariate(1.0 / mean) * (0.5 + intent)) if mean > 0 else 0
    out: list[Activity] = []
    cid = contact.id
    k = 0

    def add(type_: str, at: datetime, **attributes) -> None:
        nonlocal k
        k += 1
        out.append(Activity(id=f"a-{cid[2:]}-{k:04d}", contact_id=cid, type=type_, at=at, attributes=attributes))

    def when(max_days: float = HISTORY_DAYS) -> datetime:
        # Recent activity is more likely: engaged people are engaged now.
        return now - timedelta(days=min(max_days, rng.expovariate(1 / 45)), seconds=rng.randint(0, 86399))

    for _ in range(count):
        r = rng.random()
        if r < 0.38:
            page = "/pricing" if rng.random() < 0.08 + intent * 0.3 else rng.choice(_PAGES)
            add("page_view", when(), url=f"https://www.mqlsync.example{page}")
        elif r < 0.58:
            add("email_open", when(), campaign_id=f"nl-{rng.randint(1, 24)}")
        elif r < 0.66:
            add("email_click", when(), campaign_id=f"nl-{rng.randint(1, 24)}",
                url="https://www.mqlsync.example/blog/lead-scoring-101")
        elif r < 0.76:
            asset_type = _weighted(rng, list(_ASSETS.items()))
            asset = rng.randint(1, 5)
            add("form_submission", when(), form_type="content", asset_type=asset_type,
                asset_id=f"{asset_type}-{asset}", form_name=f"Download: {asset_type.replace('_', ' ')} {asset}")
        elif r < 0.80:
            add("video_watch", when(), video_id=f"vid-{rng.randint(1, 6)}", percent=rng.randint(5, 100))
        elif r < 0.85:
            event_id, name = rng.choice(_WEBINARS)
            at = when()
            add("webinar_registration", at - timedelta(days=rng.uniform(1, 10)), event_id=event_id, event_name=name)
            if rng.random() < 0.55:
                add("webinar_attendance", at, event_id=event_id, event_name=name, minutes=rng.randint(3, 60))
        elif r < 0.905:
            event_id, name, kind = rng.choice(_EVENTS)
            at = when()
            add("event_attendance", at, event_id=event_id, event_name=name, event_type=kind)
            if kind == "trade_show" and rng.random() < 0.5:
                add("booth_conversation", at, event_id=event_id)
                if rng.random() < 0.4:
                    add("follow_up_request", at, event_id=event_id)
        elif r < 0.96 and intent > 0.3:
            kind = "demo" if rng.random() < intent else "contact"
            add("form_submission", when(), form_type=kind, form_name=f"{kind.title()} request")
        elif r >= 0.96 and intent > 0.5:
            add("trial_signup", when(), plan=rng.choice(["starter", "pro"]))
        else:
            add("page_view", when(), url=f"https://www.mqlsync.example{rng.choice(_PAGES)}")
    # A repeat delivery of one activity, as CRMs' APIs do across pages: the core counts it once.
    if out and rng.random() < 0.01:
        out.append(out[rng.randrange(len(out))])
    return out
