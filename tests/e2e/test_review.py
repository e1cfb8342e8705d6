"""`mqlsync review` as a manager meets it: on a history of CSV exports whose truth is
known (conversion by origin, days to close, a cycle that lengthens, a deal won before
its first contact, a row that cannot be read), and from a connection's state after a
sync. The HTML report is opened in headless Chromium: its numbers are read from the
page, its history lookup works, and the screenshot shows the funnel chart."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import HubSpot, admin, cli, run, sandbox_process

START = datetime(2025, 1, 6, tzinfo=UTC)
HISTORY = """\
history: acme-past
people:
  file: mqls.csv
  id: lead_id
  mql_at: first_contact
  channel: origin
outcomes:
  file: deals.csv
  id: lead_id
  won_at: won_date
  amount: value
"""


def write_history(folder: Path) -> dict:
    """200 MQLs over 400 days from two origins: 'webinar' wins one in 2 after 20 days,
    later 50 days; 'paid' wins one in 20. One deal won before its lead's first contact;
    one row with a date no one can read."""
    people, deals = ["lead_id,first_contact,origin"], ["lead_id,won_date,value"]
    truth = {"mqls": 0, "won": {"webinar": 0, "paid": 0}}
    for i in range(200):
        origin = "webinar" if i % 2 == 0 else "paid"
        at = START + timedelta(days=2 * i)
        people.append(f"L{i},{at:%Y-%m-%d},{origin}")
        truth["mqls"] += 1
        wins = (i % 4 == 0) if origin == "webinar" else (i % 40 == 1)
        if wins:
            cycle = 20 if i < 100 else 50
            deals.append(f"L{i},{at + timedelta(days=cycle):%Y-%m-%d %H:%M:%S},1000")
            truth["won"][origin] += 1
    people.append("L900,2025-03-01,webinar")
    deals.append("L900,2025-02-01 10:00:00,500")  # won a month before the first contact
    people.append("L901,not a date,paid")
    (folder / "mqls.csv").write_text("\n".join(people) + "\n", encoding="utf-8")
    (folder / "deals.csv").write_text("\n".join(deals) + "\n", encoding="utf-8")
    (folder / "history.yaml").write_text(HISTORY, encoding="utf-8")
    return truth


def mqlsync(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "mqlsync.jobs.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_review_of_a_csv_history_gives_the_known_funnel_and_raises_the_longer_cycle(tmp_path):
    truth = write_history(tmp_path)
    result = mqlsync("review", "--history", "history.yaml", "--horizon", "365", "--days", "120", "--json",
                     cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # a signal is raised
    found = json.loads(result.stdout)
    assert found["funnel"]["mqls"] == truth["mqls"] + 1  # and the out-of-order lead
    assert found["steps"] == ["mql", "won"]  # an export of MQLs and won deals: no SAL or SQL
    by_origin = found["breakdowns"]["channel"]
    # The out-of-order lead's deal was won all the same: it counts, but not in the days.
    assert {k: g["reached"]["won"] for k, g in by_origin.items()} == {"webinar": truth["won"]["webinar"] + 1,
                                                                      "paid": truth["won"]["paid"]}
    assert (truth["won"]["webinar"], truth["won"]["paid"]) == (50, 5)
    assert by_origin["webinar"]["rate_from_mql"]["won"] == pytest.approx(51 / 101)
    assert by_origin["paid"]["median_days_to_won"] == 20 and by_origin["webinar"]["median_days_to_won"] == 35
    assert found["out_of_order"] == ["L900"]
    assert "skipped" in result.stderr and "mqls.csv:203 (L901): Invalid isoformat string" in result.stderr
    cycle = next(s for s in found["signals"] if s["name"] == "sales cycle lengthens")
    assert cycle["status"] == "raised" and cycle["numbers"]["current_median_days"] == 50
    assert cycle["numbers"]["previous_median_days"] == 20
    table = mqlsync("review", "--history", "history.yaml", "--horizon", "365", "--days", "120", cwd=tmp_path)
    assert "! sales cycle lengthens: a won deal took 50 days from MQL (median), against 20 before" in table.stdout
    assert "out of order: 1 won a deal before their first qualification (L900)" in table.stdout
    # Period over period: the last 120 days of MQLs against the 120 before them.
    before, recent = found["periods"]
    assert recent["until"] == found["now"] and before["until"] == recent["since"]
    assert before["mqls"] == 60 and recent["mqls"] == 38  # one every 2 days; the last on day 398 of 443


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the raw RGB(A) rows of an 8-bit, non-interlaced PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, header = 8, b"", None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            data += body
        pos += 12 + length
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0
    size = 3 if color == 2 else 4
    raw, rows, prev = zlib.decompress(data), [], bytes(width * size)
    stride = width * size
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - size] if x >= size else 0
            b, c = prev[x], prev[x - size] if x >= size else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = bytes(line)
    return width, height, [bytes(r[i:i + 3]) for r in rows for i in range(0, stride, size)]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (.ci/run installs Debian's chromium)")
def test_the_html_report_opens_offline_in_chromium_with_its_numbers_chart_and_histories(tmp_path):
    write_history(tmp_path)
    result = mqlsync("review", "--history", "history.yaml", "--horizon", "365", "--days", "120", "--html",
                     "report.html", cwd=tmp_path)
    assert result.returncode == 1 and "wrote report.html" in result.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
    url = (tmp_path / "report.html").as_uri()
    browse = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*browse, "--dump-dom", url + "#who=L4"], capture_output=True, text=True, timeout=60).stdout
    assert '<b id="mqls">201</b>' in dom
    assert '<b id="days-to-won">' in dom and "sales cycle lengthens</b> (raised)" in dom
    assert "<td>webinar</td><td>101</td><td>51</td><td>50.5%</td>" in dom
    # The history lookup ran on load, from the address: L4 qualified and won.
    assert "L4  channel webinar" in dom and "lead -&gt; mql: qualified (history)" in dom and "deal: won 2025-" in dom
    subprocess.run([*browse, "--window-size=1000,900", f"--screenshot={tmp_path / 'shot.png'}", url],
                   capture_output=True, timeout=60, cwd=tmp_path)
    width, height, colors = pixels((tmp_path / "shot.png").read_bytes())
    assert (width, height) == (1000, 900)
    bar = sum(c == bytes((0x3B, 0x6F, 0xB6)) for c in colors)
    assert bar > 2000  # the funnel's bars are drawn, in their colour
    assert sum(c == b"\xff\xff\xff" for c in colors) > len(colors) // 2  # on a page, not an error screen


def test_review_from_a_connections_state_after_a_sync(tmp_path):
    state = tmp_path / "state.db"
    with sandbox_process(HubSpot, 200) as crm:
        assert cli(crm, state, "setup").returncode == 0
        summary = run(crm, state)
        mqls = [json.loads(line)["contact_id"] for line in cli(crm, state, "leads", "--stage", "mql",
                                                                  "--json").stdout.splitlines()]
        # Sales wins a deal with the first MQL, and loses one with the second.
        when = datetime.now(UTC).isoformat()
        admin(crm.url, "/__sandbox/deals", {"contacts": [mqls[0]], "stage": "closedwon", "closedate": when,
                                            "amount": 12000})
        admin(crm.url, "/__sandbox/deals", {"contacts": [mqls[1]], "stage": "closedlost", "closedate": when})
        assert run(crm, state)["outcomes"] == 2
    reviewed = cli(crm, state, "review", "--json")  # the sandbox is gone: the state is enough
    assert reviewed.returncode == 0, reviewed.stderr
    found = json.loads(reviewed.stdout)
    assert found["name"] == "hubspot-main" and found["funnel"]["mqls"] == summary["new_mqls"] > 0
    grades = found["breakdowns"]["grade"]
    assert sum(g["mqls"] for g in grades.values()) == summary["new_mqls"]
    assert set(grades) <= {"A", "B", "C"}  # the grade floor is C: the grade at qualification
    assert found["lift"]["rules"] and all(r["mqls"] <= summary["new_mqls"] for r in found["lift"]["rules"])
    signals = {s["name"]: s["status"] for s in found["signals"]}
    assert signals["MQL→SQL rate falls"] == "no data"  # one day of history says nothing yet
    assert found["steps"][-1] == "won" and found["funnel"]["reached"]["won"] == 1
    assert found["funnel"]["won_amount"] == 12000 and found["funnel"]["median_days_to_won"] < 1
    # explain shows the person's deals beside their stage history.
    told = cli(crm, state, "explain", mqls[0])
    assert " -> mql: " in told.stdout and ": won " in told.stdout and ", 12,000" in told.stdout
    (record,) = [json.loads(line) for line in cli(crm, state, "explain", mqls[1], "--json").stdout.splitlines()]
    assert [(d["won"], d["amount"]) for d in record["deals"]] == [(False, None)]
