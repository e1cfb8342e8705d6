"""The `mqlsync` command line: thin commands over jobs/ and connector/, one clear line
and exit code 2 for every error a user can cause."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mqlsync.connector import sample
from mqlsync.connector.adapters.jsonl import dump_line
from mqlsync.connector.config import default_model_path, load_model, validate_file
from mqlsync.connector.errors import ConfigError, MqlsyncError
from mqlsync.connector.model import DealOutcome, Stage, as_utc, iso, odd_values
from mqlsync.connector.redact import RedactingFilter, redact
from mqlsync.connector.registry import crm_kind
from mqlsync.connector.registry import names as crm_names
from mqlsync.connector.scoring import fmt
from mqlsync.connector.scoring.explain import hit_points

from .score import Batch, Scored, Summary, as_json, read_files, sample_batch, score_batch, transition_json

app = typer.Typer(
    name="mqlsync",
    help="Lead scoring and lifecycle sync for Salesforce and HubSpot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
log = logging.getLogger("mqlsync")


def command(*args, **kwargs):
    """Register a command whose user-caused errors print as one line and exit 2."""

    def register(fn):
        @functools.wraps(fn)
        def run(*a, **k):
            try:
                return fn(*a, **k)
            except MqlsyncError as exc:
                for line in redact(str(exc)).splitlines() or [type(exc).__name__]:
                    err.print(line, highlight=False, markup=False)
                raise typer.Exit(exc.exit_code) from None
            except Exception as exc:
                # An answer of the CRM no policy turned into an error of ours (a 404 from a
                # wrong path): one line naming it, the CRM's exit code, no "internal error".
                from mqlsync.connector.errors import CRMUnavailable
                from mqlsync.connector.http import describe, status_of

                if status_of(exc) is None:
                    raise
                where = str(getattr(exc, "url", "") or "").split("?")[0]
                call = f"a call mqlsync makes ({where})" if where else "a call mqlsync makes"
                err.print(redact(f"the CRM answered {describe(exc)} to {call}: check the CRM's address in the "
                                 "environment (a wrong path answers 404); nothing more was done"),
                          highlight=False, markup=False)
                raise typer.Exit(CRMUnavailable.exit_code) from None

        return app.command(*args, **kwargs)(run)

    return register


class Format(StrEnum):
    table = "table"
    jsonl = "jsonl"


# `-m` means --mapping in every command that takes one; --model has no short form.
ModelOpt = Annotated[Path | None, typer.Option("--model", help="Scoring model YAML.",
                                               show_default="mappings/scoring.yaml")]
#: the installed CRM kinds (connector/crms), as a choice
CRM = StrEnum("CRM", {name: name for name in crm_names()})  # type: ignore[misc]
CrmOpt = Annotated[CRM, typer.Option("--crm", help="Which CRM.")]
DEFAULT_CRM = CRM("hubspot")  # the README's demo
NowOpt = Annotated[str | None, typer.Option("--now", help="Score as of this ISO time (naive = UTC).",
                                               show_default="the current time")]


@app.callback()
def _setup(verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                                help="More log output (-vv for debug).")] = 0) -> None:
    from dotenv import load_dotenv

    # Credentials come from the environment or a .env file here; the environment wins.
    load_dotenv(Path.cwd() / ".env", override=False)
    level = logging.WARNING - 10 * min(verbose, 2)
    # A terminal gets rich's columns; a file or a pipe (a scheduler's log) gets one
    # unwrapped line a record, which grep and log shippers read.
    handler: logging.Handler = RichHandler(console=err, show_path=False) if err.is_terminal else \
        logging.StreamHandler(sys.stderr)
    if not err.is_terminal:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())  # secrets never reach a log line, whoever logs it
    logging.basicConfig(level=level, format="%(message)s", datefmt="[%X]", handlers=[handler], force=True)


def _now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. 2026-11-01T09:00:00Z)",
                                 param_hint="--now") from None


def _progress(total: int, label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True, disable=not err.is_terminal or total < 500)


@command()
def validate(files: Annotated[list[Path], typer.Argument(help="Scoring model or mapping files.")]) -> None:
    """Check scoring-model and mapping files: a summary line per good file, or every
    problem as file:line: field: message (exit code 2). A part of the model that can
    never count (a rule that never fires on this mapping's CRM) is a warning: printed,
    exit code 0."""
    failed = False
    for path in files:
        try:
            checked = validate_file(path)
            out.print(checked.summary, highlight=False)
            for warning in checked.warnings:
                err.print(f"warning: {warning}", highlight=False, markup=False)
        except ConfigError as exc:
            failed = True
            for issue in exc.issues:
                err.print(str(issue), highlight=False, markup=False)
    if failed:
        raise typer.Exit(2)


@command()
def score(
    contacts: Annotated[Path, typer.Option("--contacts", "-c", help="Contacts, canonical JSON lines.")],
    activities: Annotated[Path | None, typer.Option("--activities", "-a",
                                                       help="Activities, canonical JSON lines.")] = None,
    model: ModelOpt = None,
    now: NowOpt = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Score contacts from JSON-lines files and decide their stage. Unusable lines are
    reported with their line number and skipped (exit code 1); the rest is scored."""
    loaded = load_model(model or default_model_path())
    for warning in loaded.warnings:  # why nobody may pass the gate, before the table says so
        err.print(f"warning: {warning}", highlight=False, markup=False)
    moment = _now(now)
    batch = read_files(contacts, activities)
    summary = Summary()
    results: list[Scored] = []
    with _progress(len(batch.contacts), "scoring") as bar:
        task = bar.add_task("score", total=len(batch.contacts))
        for result in score_batch(loaded, batch, moment, lambda n: bar.advance(task, n)):
            summary.add(result)
            if format is Format.jsonl:
                # Plain lines: rich's rendering costs more than the scoring on large files.
                sys.stdout.write(json.dumps(as_json(result), ensure_ascii=False) + "\n")
            else:
                results.append(result)
    if format is Format.table:
        # A pipe or a file gets rows that are not wrapped at 80 columns.
        (out if out.is_terminal else Console(width=250)).print(_score_table(results))
    _report_rejected(batch)
    err.print(f"Scored {summary.contacts:,} contacts at {moment:%Y-%m-%dT%H:%MZ} with model "
              f"{loaded.model.name} {loaded.version}: {summary.mqls:,} pass the MQL gate, "
              f"{summary.new_mqls:,} new MQLs; {len(batch.rejected):,} lines skipped.", highlight=False)
    if batch.rejected:
        raise typer.Exit(1)


def _score_table(results: list[Scored]) -> Table:
    table = Table(show_lines=False)
    for name, justify in (("contact", "left"), ("name", "left"), ("total", "right"), ("fit", "right"),
                          ("grade", "center"), ("engagement", "right"), ("negative", "right"),
                          ("stage", "left"), ("why", "left")):
        # An id is never cut or wrapped, in a narrow terminal or a pipe: it names the record.
        table.add_column(name, justify=justify, no_wrap=name == "contact",  # type: ignore[arg-type]
                         min_width=max((len(r.contact.id) for r in results), default=7) if name == "contact" else None)
    for r in results:
        c = r.card
        why = ", ".join(h.rule_id for h in c.hits[:3]) if c.mql else "; ".join(c.unmet)
        table.add_row(r.contact.id, r.contact.name, fmt(c.total), fmt(c.fit), c.grade, fmt(c.engagement),
                      fmt(c.negative), r.decision.stage.value, why)
    return table


def _report_rejected(batch: Batch) -> None:
    odd = [f"{c.id}: {why}" for c in batch.contacts for why in odd_values(c)]
    for line in odd[:50]:
        err.print(f"warning: {line}", highlight=False, markup=False)
    if len(odd) > 50:
        err.print(f"... and {len(odd) - 50:,} more values outside their sets", highlight=False)
    for rejected in batch.rejected[:50]:
        err.print(f"skipped {rejected}", highlight=False, markup=False)
    if len(batch.rejected) > 50:
        err.print(f"... and {len(batch.rejected) - 50:,} more skipped lines", highlight=False)
    if batch.orphans:
        err.print(f"{batch.orphans:,} activities belong to contacts not in the contacts file: ignored",
                  highlight=False)


@command()
def explain(
    contact_ids: Annotated[list[str], typer.Argument(help="Contact ids, e.g. c-000042.", metavar="CONTACT_ID...")],
    mapping: Annotated[Path | None, typer.Option(
        "--mapping", "-m", help="Explain CRM records from this connection's state (no call to the CRM).")] = None,
    contacts: Annotated[Path | None, typer.Option("--contacts", "-c",
                                                     help="Contacts JSON lines (default: the sample data).")] = None,
    activities: Annotated[Path | None, typer.Option("--activities", "-a", help="Activities JSON lines.")] = None,
    model: ModelOpt = None,
    now: NowOpt = None,
    as_json_: Annotated[bool, typer.Option("--json", help="One JSON object per contact.")] = False,
) -> None:
    """Show why a contact has its score: every rule that fired, its points and evidence,
    the MQL gate and the stage decision. With --mapping, a CRM record as the
    connection's state holds it: the stage mqlsync recorded and its history, the
    score as of now; the CRM is not called."""
    if mapping is not None:
        results = _explained_from_state(mapping, contact_ids, _now(now))
    else:
        loaded = load_model(model or default_model_path())
        if contacts is None:
            batch, moment = sample_batch(7, 2000), _now(now) if now else sample.ANCHOR
        else:
            batch, moment = read_files(contacts, activities), _now(now)
        wanted = set(contact_ids)
        batch.contacts = [c for c in batch.contacts if c.id in wanted]
        results = [(r, []) for r in score_batch(loaded, batch, moment)]
    found = set()
    for result, history in results:
        found.add(result.contact.id)
        if as_json_:
            shown = as_json(result) | ({"history": [transition_json(t) for t in history
                                                    if not isinstance(t, DealOutcome)],
                                        "deals": [{"deal_id": d.deal_id, "won": d.won, "closed_at": iso(d.closed_at),
                                                   "amount": d.amount} for d in history
                                                  if isinstance(d, DealOutcome)]} if mapping else {})
            out.print(json.dumps(shown, ensure_ascii=False), highlight=False, markup=False)
        else:
            _print_explanation(result, history if mapping else None)
    missing = [cid for cid in contact_ids if cid not in found]
    if missing:
        where = f" in the state of this connection (run `mqlsync run --mapping {mapping}` first)" if mapping else ""
        err.print(f"not found{where}: {', '.join(missing)}", highlight=False, markup=False)
        raise typer.Exit(2)


def _explained_from_state(mapping: Path, ids: list[str], moment: datetime) -> list[tuple[Scored, list]]:
    from mqlsync.connector.config import load_mapping
    from mqlsync.connector.state import StateStore

    from .leads import from_state

    loaded = load_mapping(mapping)
    store = StateStore.from_env()
    conn = loaded.mapping.connection
    deals = store.outcomes_of(conn, ids)
    return [(lead.scored, [*store.transitions_of(conn, lead.scored.contact.id),
                           *deals.get(lead.scored.contact.id, ())])
            for lead in from_state(loaded, store, moment, ids)]


def _print_explanation(result: Scored, history: list | None = None) -> None:
    c, d = result.card, result.decision
    out.rule(f"{result.contact.id}  {result.contact.name}", style="bold")
    out.print(result.text, highlight=False, markup=False)
    table = Table("rule", "category", "points", "why", show_edge=False)
    for hit in c.hits:
        evidence = []
        for e in hit.evidence[:3]:
            if e.filled:
                evidence.append(f"{e.field} filled")
            elif e.field:
                evidence.append(f"{e.field} = {'(empty)' if e.value in (None, '') else e.value}")
            else:
                evidence.append(f"{e.activity_id} at {e.at:%Y-%m-%d %H:%M}")
        more = f" (+{hit.occurrences - 3} more)" if hit.occurrences > 3 and not hit.evidence[0].field else ""
        table.add_row(hit.rule_id, hit.category, hit_points(hit, fmt), "; ".join(evidence) + more)
    out.print(table)
    for category, removed in sorted(c.category_capped.items()):
        out.print(f"  {category} capped: {fmt(removed)} points over the cap removed", highlight=False)
    gate = "passes" if c.mql else "closed: " + "; ".join(c.unmet)
    out.print(f"  MQL gate {gate}", highlight=False)
    if history is not None:  # from the state: the stage recorded, and how it got there
        since = f" since {d.state.since:%Y-%m-%d %H:%M}" if d.state.since else ""
        qualified = f"; MQL at {d.mql_at:%Y-%m-%d %H:%M}" if d.mql_at else ""
        out.print(f"  stage: {d.stage.value}{since}{qualified}", highlight=False, markup=False)
        for t in history:
            if isinstance(t, DealOutcome):
                state = "open" if t.won is None else "won" if t.won else "lost"
                when = f" {t.closed_at:%Y-%m-%d}" if t.closed_at else ""
                amount = f", {t.amount:,.0f}" if t.amount is not None else ""
                out.print(f"    deal {t.deal_id}: {state}{when}{amount}", highlight=False, markup=False)
                continue
            out.print(f"    {t.at:%Y-%m-%d %H:%M} {t.from_stage.value} -> {t.to_stage.value}: {t.reason}",
                      highlight=False, markup=False)
        return
    moves = " -> ".join([t.from_stage.value for t in d.transitions[:1]] + [t.to_stage.value for t in d.transitions])
    out.print(f"  stage: {d.stage.value}" + (f" ({moves}: {d.transitions[-1].reason})" if d.transitions else ""),
              highlight=False)


@command()
def init(
    folder: Annotated[Path, typer.Argument(help="Folder to write them to (made if missing).")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")] = False,
) -> None:
    """Write the shipped scoring model and mapping files into a folder, to start your own from.
    Files that exist are kept unless --force.

    Example: mqlsync init config && mqlsync validate config/scoring.yaml config/hubspot.yaml"""
    from mqlsync.connector.config.load import MAPPINGS_DIR

    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted(MAPPINGS_DIR.glob("*.yaml")):
        target = folder / source.name
        if target.exists() and not force:
            err.print(f"kept {target} (it exists; --force overwrites it)", highlight=False)
            continue
        target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        out.print(f"wrote {target}", highlight=False)


@command("sample")
def sample_cmd(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for contacts.jsonl and activities.jsonl.")],
    contacts: Annotated[int, typer.Option("--contacts", "-n", min=1, help="How many contacts.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same data.")] = 7,
    per_contact: Annotated[float, typer.Option("--activities-per-contact", min=0,
                                                          help="Average activities per contact.")] = 10.0,
) -> None:
    """Write the bundled sample data set (realistic contacts and activity) as JSON lines."""
    out_dir.mkdir(parents=True, exist_ok=True)
    n_contacts = n_activities = 0
    with (out_dir / "contacts.jsonl").open("w", encoding="utf-8") as cf, \
            (out_dir / "activities.jsonl").open("w", encoding="utf-8") as af, \
            _progress(contacts, "generating") as bar:
        task = bar.add_task("generate", total=contacts)
        for contact, acts in sample.stream(seed=seed, contacts=contacts, activities_per_contact=per_contact):
            cf.write(dump_line(contact))
            af.writelines(dump_line(a) for a in acts)
            n_contacts += 1
            n_activities += len(acts)
            bar.advance(task)
    err.print(f"Wrote {n_contacts:,} contacts and {n_activities:,} activities to {out_dir} "
              f"(seed {seed}, as of {sample.ANCHOR:%Y-%m-%d}).", highlight=False)


@command()
def demo(
    as_json_: Annotated[bool, typer.Option("--json", help="The summary as one JSON object.")] = False,
    contacts: Annotated[int, typer.Option("--contacts", "-n", min=1, help="Sample contacts to seed.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same sample data.")] = 7,
    crm: CrmOpt = DEFAULT_CRM,
) -> None:
    """Run mqlsync against a sandbox CRM in this process: seed it with the sample data,
    create the custom fields, sync twice, and show what was found and written."""
    from .demo import run_demo

    report = run_demo(seed=seed, contacts=contacts, crm=crm.value)
    if as_json_:
        out.print(json.dumps(report, ensure_ascii=False), highlight=False, markup=False)
        return
    first, second = report["runs"]
    label = crm_kind(crm.value).label
    out.rule(f"mqlsync demo: a sandbox {label}, set up and synced twice")
    out.print(f"Sandbox {label} seeded with {report['sandbox_contacts']:,} people (seed {seed}); "
              f"setup created {len(report['setup']['created'])} custom fields.", highlight=False)
    table = Table("run", "contacts", "activity", "changed", "written", "MQLs", "tasks", "requests", "secs",
                  show_edge=False, title="sync runs")
    for i, run_ in enumerate(report["runs"], 1):
        table.add_row(str(i), f"{run_['contacts']:,}", f"{run_['activities']:,}", f"{run_['changed']:,}",
                      f"{run_['writes']:,}", f"{run_['new_mqls']:,}", f"{run_['tasks_created']:,}",
                      f"{run_['requests']:,}", f"{run_['duration_s']:.1f}")
    out.print(table)
    out.print(f"MQLs found: {first['new_mqls']:,}, each with one follow-up task for its owner "
              f"({report['tasks_in_crm']:,} tasks in the CRM). The second run wrote {second['writes']:,} "
              f"changes: nothing had changed.", highlight=False)
    rules = Table("top rules", "contacts", show_edge=False)
    for item in report["top_rules"][:8]:
        rules.add_row(item["rule"], f"{item['contacts']:,}")
    out.print(rules)
    out.print(f"Sandbox: {report['sandbox']['requests']:,} requests served, {report['sandbox']['throttled']} "
              "answered 429.", highlight=False)


MappingOpt = Annotated[Path, typer.Option("--mapping", "-m", help="The connection's mapping file.")]


PLAN_COLUMNS = ["contact_id", "name", "new_mql", "stage_before", "stage_after", "crm_stage_before",
                "crm_stage_after", "score_before", "score_after", "grade_before", "grade_after", "task_subject",
                "task_owner", "task_due"]


def _write_rows(path: Path, rows: list[dict]) -> None:
    """The plan as CSV (one header row) or JSON lines, by the file's suffix."""
    import csv

    with path.open("w", encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".jsonl":
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=PLAN_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)


def _natural(contact_id: str) -> list:
    """c-2 before c-10: digits compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", contact_id)]


def _print_plan(rows: list[dict], out_file: Path | None) -> None:
    """A dry run's changes: the new MQLs first, then the rest, each in natural id order,
    with the values the CRM would show."""
    def line(row: dict) -> str:
        text = f"{row['contact_id']} {row['name']}: {row['stage_before']} → {row['stage_after']}"
        if row["crm_stage_after"] != row["crm_stage_before"]:
            text += f" (CRM: {row['crm_stage_before'] or 'empty'} → {row['crm_stage_after']})"
        text += f", score {row['score_before'] or '-'} → {row['score_after']}, grade {row['grade_after']}"
        if row["task_subject"]:
            text += f"; task {row['task_subject']!r} due {row['task_due']}"
        return text

    for title, group in (("new MQLs", [r for r in rows if r["new_mql"]]),
                         ("other changes", [r for r in rows if not r["new_mql"]])):
        if not group:
            continue
        out.print(f"{title} ({len(group):,}):", highlight=False, markup=False)
        for row in sorted(group, key=lambda r: _natural(r["contact_id"]))[:50]:
            out.print("  " + line(row), highlight=False, markup=False)
        if len(group) > 50:
            out.print(f"  ... and {len(group) - 50:,} more" + (f" (all in {out_file})" if out_file else
                                                                " (all with --out FILE)"), highlight=False)


def _print_summary(summary, as_json_: bool) -> None:
    if as_json_:
        out.print(json.dumps(summary.as_json(), ensure_ascii=False), highlight=False, markup=False)
        return
    mode = "dry run: nothing written" if summary.dry_run else "written"
    err.print(f"{summary.connection}: {summary.contacts:,} contacts and {summary.activities:,} activities pulled, "
              f"{summary.scored:,} scored, {summary.changed:,} changed ({mode}); {summary.writes:,} written, "
              f"{summary.new_mqls:,} new MQLs, {summary.tasks_created:,} tasks "
              f"{'to create' if summary.dry_run else 'created'}; {summary.requests:,} API requests in "
              f"{summary.duration_s:.1f}s.", highlight=False)
    if summary.mode == "shadow":
        err.print("shadow mode: only mqlsync's score fields are written; the MQLs found get no stage, tag or task "
                  "until `write_back.mode: full`", highlight=False, markup=False)
    if summary.transitions:
        moves = sorted(summary.transitions.items(), key=lambda kv: (-kv[1], kv[0]))
        err.print("stage changes: " + "; ".join(f"{move}: {n:,}" for move, n in moves), highlight=False,
                  markup=False)
    if summary.held_back:
        reasons = sorted(summary.held_back.items(), key=lambda kv: (-kv[1], kv[0]))
        err.print(f"held back: {sum(summary.held_back.values()):,} scored over the threshold but not MQLs ("
                  + "; ".join(f"{why}: {n:,}" for why, n in reasons[:5]) + (", ..." if len(reasons) > 5 else "")
                  + "); `mqlsync leads --held` lists them", highlight=False, markup=False)
    if summary.rebuilt:
        err.print(f"{summary.rebuilt:,} people this state did not know (or knew an older story of) taken as the CRM "
                  "shows them: their stage, MQL date and written values.", highlight=False)
    if summary.deleted or summary.merged:
        err.print(f"{summary.deleted:,} deleted in the CRM and forgotten; {summary.merged:,} merged into another "
                  "record (converted leads), their history carried over.", highlight=False)
    for line in summary.verdicts_not_applied[:20]:
        err.print(f"sales verdict not applied, {line}", highlight=False, markup=False)
    for line in summary.skipped_sources:
        err.print(f"warning: activity source not read, {line}", highlight=False, markup=False)
    if summary.outcomes_skipped:
        err.print(f"warning: deal outcomes not read: {summary.outcomes_skipped}", highlight=False, markup=False)
    for line in summary.odd_values[:20]:
        err.print(f"warning: {line}", highlight=False, markup=False)
    if len(summary.odd_values) > 20:
        err.print(f"... and {len(summary.odd_values) - 20:,} more values outside their sets (all in --json)",
                  highlight=False)
    for line in summary.rejected[:20]:
        err.print(f"skipped {line}", highlight=False, markup=False)
    for line in summary.failed[:20]:
        err.print(f"not written {line}", highlight=False, markup=False)
    if len(summary.rejected) + len(summary.failed) > 40:
        err.print("... more in --json", highlight=False)


@command()
def run(
    mapping: MappingOpt,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be written; write nothing.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Read everything, not only what changed.")] = False,
    as_json_: Annotated[bool, typer.Option("--json", help="The run summary as one JSON object.")] = False,
    wait: Annotated[float, typer.Option("--wait", min=0, metavar="SECONDS",
                                        help="Wait this long for another run of the connection to end.")] = 0.0,
    limit: Annotated[int | None, typer.Option("--limit", min=1, metavar="N",
                                              help="A trial: score and write only N of the records; "
                                                   "the next run still reads everything.")] = None,
    only: Annotated[str | None, typer.Option("--only", metavar="ID,...",
                                             help="A trial: score and write only these CRM records.")] = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", help="Every contact that changes (would change, with --dry-run): stages, score, "
                                      "grade and task, as .csv or .jsonl.")] = None,
) -> None:
    """Run one sync: pull what changed, score, decide stages, write what changed.
    Exit code 1 when some records were skipped or refused (listed with reasons); 75
    when another run of the connection holds its lock (this one did nothing)."""
    from mqlsync.connector.config import load_mapping
    from mqlsync.connector.state import StateStore

    from .connect import adapter_for
    from .sync import Scope, run_sync

    loaded = load_mapping(mapping)
    crm = adapter_for(loaded)
    store = StateStore.from_env(dry_run=dry_run)
    counts = {"contacts": 0, "activities": 0, "scored": 0}
    with Progress(TextColumn("{task.description}"), BarColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("pulling", total=None)

        def progress(stage: str, n: int) -> None:
            counts[stage] += n
            bar.update(task, description=f"{loaded.mapping.connection}: {counts['contacts']:,} contacts and "
                                          f"{counts['activities']:,} activities pulled, {counts['scored']:,} scored")

        rows: list[dict] = []
        summary = run_sync(loaded, crm, store, datetime.now(UTC), dry_run=dry_run, full=full,
                           progress=progress, wait=wait,
                           scope=Scope(tuple(i.strip() for i in (only or "").split(",") if i.strip()), limit),
                           on_plan=rows.extend)
    if out_file is not None:
        _write_rows(out_file, rows)
    if dry_run and not as_json_:
        _print_plan(rows, out_file)
    _print_summary(summary, as_json_)
    if summary.status != "ok":
        raise typer.Exit(1)


@command()
def setup(
    mapping: MappingOpt,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be created.")] = False,
    no_grant: Annotated[bool, typer.Option(
        "--no-grant", help="Salesforce: make no permission set; print the field access to grant instead.")] = False,
) -> None:
    """Create the custom fields (HubSpot: the property group and properties) the mapping
    writes to, when missing, and on Salesforce give the integration user access to them
    through a permission set. Nothing that exists is changed."""
    from mqlsync.connector.config import load_mapping

    from .connect import adapter_for

    loaded = load_mapping(mapping)
    report = adapter_for(loaded).ensure_fields(dry_run=dry_run, grant=not no_grant)
    verb = "would create" if dry_run else "created"
    out.print(f"{loaded.mapping.connection}: {verb} {len(report.created)} ({', '.join(report.created) or 'none'}); "
              f"{len(report.existing)} already there.", highlight=False)
    if report.granted:
        out.print(f"{'would give' if dry_run else 'gave'} the integration user read and edit on "
                  f"{len(report.granted)} field(s) ({', '.join(report.granted)})", highlight=False)
    for item in report.todo:
        out.print(f"to do: {item}", highlight=False, markup=False)


@command("check")
def check_cmd(
    mapping: MappingOpt,
    as_json_: Annotated[bool, typer.Option("--json", help="The checklist as one JSON object.")] = False,
) -> None:
    """Check that the CRM is ready for the mapping before a first run: the credentials,
    each activity source under the token's scopes and the account's plan, every field
    the mapping reads and writes with its type (on Salesforce, as the integration user
    may read and edit it), the values it writes, and the MQL list or campaign. Reads
    only. One line an item, ✓ or ✗ with the fix; exit code 0 only when all pass."""
    from mqlsync.connector.adapters.base import Check
    from mqlsync.connector.config import load_mapping
    from mqlsync.connector.errors import CredentialsError

    from .connect import adapter_for

    loaded = load_mapping(mapping)
    try:
        items = adapter_for(loaded).check()
    except CredentialsError as exc:
        items = [Check("credentials: the CRM refused them", False, str(exc))]
    failed = [c for c in items if not c.ok]
    if as_json_:
        out.print(json.dumps({"connection": loaded.mapping.connection, "ok": not failed,
                              "checks": [{"item": c.item, "ok": c.ok, "fix": c.fix} for c in items],
                              "warnings": [str(w) for w in loaded.warnings]},
                             ensure_ascii=False), highlight=False, markup=False)
    else:
        for c in items:
            out.print(f"{'✓' if c.ok else '✗'} {c.item}" + ("" if c.ok else f"\n    fix: {c.fix}"),
                      highlight=False, markup=False)
        for w in loaded.warnings:  # the model's parts this mapping never feeds: worth knowing, not a failure
            out.print(f"! {w}", highlight=False, markup=False)
        out.print(f"{loaded.mapping.connection}: {len(items) - len(failed)} of {len(items)} checks passed"
                  + (f"; {len(failed)} to fix." if failed else "."), highlight=False, markup=False)
    if failed:
        raise typer.Exit(1)


@command()
def status(
    mapping: MappingOpt,
    as_json_: Annotated[bool, typer.Option("--json", help="The status as one JSON object.")] = False,
) -> None:
    """What the connection's state says, without calling the CRM: the last runs, how
    far each source has been read, the records the CRM keeps refusing with its reason,
    and tasks not yet confirmed. Exit code 1 when records are failing or the last run
    failed, so a monitor can alert on it."""
    from mqlsync.connector.config import load_mapping
    from mqlsync.connector.state import StateStore

    from .sync import PERSISTENT

    loaded = load_mapping(mapping)
    report = StateStore.from_env().status(loaded.mapping.connection)
    if as_json_:
        out.print(json.dumps(report, default=iso, ensure_ascii=False), highlight=False, markup=False)
    else:
        out.print(f"{report['connection']}: {report['contacts_known']:,} people known, "
                  f"{report['tasks_unconfirmed']:,} tasks not yet confirmed.", highlight=False)
        runs = Table("started", "status", "contacts", "written", "new MQLs", "failed", "requests", "secs",
                     show_edge=False, title="last runs")
        for r in report["runs"]:
            summary = r["summary"]
            runs.add_row(iso(r["started_at"]) or "", r["status"], f"{summary.get('contacts', 0):,}",
                         f"{summary.get('writes', 0):,}", f"{summary.get('new_mqls', 0):,}",
                         f"{len(summary.get('failed', [])):,}", f"{summary.get('requests', 0):,}",
                         f"{summary.get('duration_s', 0):.1f}")
        # A pipe or a file (a monitor's log) gets whole rows, not cut at 80 columns.
        (out if out.is_terminal else Console(width=250)).print(runs if report["runs"] else "No runs yet.")
        for obj, value in report["watermarks"].items():
            out.print(f"read up to {iso(value)}: {obj}", highlight=False, markup=False)
        for f in report["failures"]:
            note = "failing for good" if f["attempts"] >= PERSISTENT else "retried next run"
            out.print(f"not written {f['contact_id']}: {f['reason']} ({f['attempts']} runs in a row, {note})",
                      highlight=False, markup=False)
    last_failed = bool(report["runs"]) and report["runs"][0]["status"] == "failed"
    if last_failed and not as_json_:
        why = report["runs"][0]["summary"]
        out.print(f"the last run failed: {why.get('reason') or why.get('error') or 'no reason recorded'}",
                  highlight=False, markup=False)
    if report["failures"] or last_failed:
        raise typer.Exit(1)


@command()
def leads(
    mapping: MappingOpt,
    stage: Annotated[list[Stage] | None, typer.Option("--stage", "-s", help="Only these stages; repeat for "
                                                                                "several.")] = None,
    held: Annotated[bool, typer.Option("--held", help="Only leads whose score passes the threshold but the gate "
                                                      "holds back, with why.")] = False,
    since: Annotated[str | None, typer.Option("--since", metavar="DATE", help="Only records that reached their "
                                                                              "stage at or after this ISO date "
                                                                              "or time.")] = None,
    now: NowOpt = None,
    as_json_: Annotated[bool, typer.Option("--json", help="One JSON object per record.")] = False,
) -> None:
    """Every record of the connection by stage, from its state (no call to the CRM):
    stage and since when, score and grade as of now, and why it is not an MQL. --held
    lists the leads sales never hears of: a score over the threshold, held back by the
    grade floor, a required field, a disqualifier, or a sales rejection not yet outlived."""
    from mqlsync.connector.config import load_mapping
    from mqlsync.connector.state import StateStore

    from .leads import SHOWN_ORDER, from_state

    loaded = load_mapping(mapping)
    moment = _now(now)
    after = _now(since) if since else None
    threshold = loaded.model.model.mql.threshold
    wanted = set(stage or ())
    rows = []
    for lead in from_state(loaded, StateStore.from_env(), moment):
        why = lead.held(threshold)
        if (held and why is None) or (wanted and lead.stage not in wanted):
            continue
        if after is not None and (lead.since is None or lead.since < after):
            continue
        rows.append((lead, why))
    rows.sort(key=lambda r: (SHOWN_ORDER.index(r[0].stage), -r[0].scored.card.total, r[0].scored.contact.id))
    if as_json_:
        for lead, why in rows:
            c = lead.scored.card
            out.print(json.dumps({"contact_id": lead.scored.contact.id, "name": lead.scored.contact.name,
                                  "stage": lead.stage.value, "since": iso(lead.since), "mql_at": iso(lead.mql_at),
                                  "total": c.total, "grade": c.grade, "mql": c.mql, "unmet": list(c.unmet),
                                  "held": why}, ensure_ascii=False), highlight=False, markup=False)
        return
    table = Table("record", "name", "stage", "since", "score", "grade", "held back by" if held else "why",
                  show_edge=False)
    for lead, why in rows:
        c = lead.scored.card
        reason = why or ("MQL" if c.mql else "; ".join(c.unmet))
        table.add_row(lead.scored.contact.id, lead.scored.contact.name, lead.stage.value,
                      f"{lead.since:%Y-%m-%d}" if lead.since else "", fmt(c.total), c.grade, reason)
    (out if out.is_terminal else Console(width=250)).print(table if rows else "No records match.")
    counts: dict[str, int] = {}
    for lead, _ in rows:
        counts[lead.stage.value] = counts.get(lead.stage.value, 0) + 1
    what = "held back" if held else "records"
    err.print(f"{loaded.mapping.connection}: {len(rows):,} {what}"
              + (": " + ", ".join(f"{k} {v:,}" for k, v in counts.items()) if counts else "")
              + f"; scores as of {moment:%Y-%m-%d %H:%M}Z, model {loaded.model.version}.", highlight=False)


@command()
def review(
    mapping: Annotated[Path | None, typer.Option("--mapping", "-m", help="Review a connection from its state.")] = None,
    history: Annotated[Path | None, typer.Option("--history", help="Review a history of CSV exports (a history "
                                                                   "mapping file).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="The folder of the history's CSV files.",
                                              show_default="the history file's folder")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="DATE", help="First day of the MQLs reviewed.",
                                              show_default="the first qualification")] = None,
    until: Annotated[str | None, typer.Option("--until", metavar="DATE", help="Day after the last MQL reviewed.",
                                              show_default="now")] = None,
    now: NowOpt = None,
    horizon: Annotated[float, typer.Option("--horizon", min=1, metavar="DAYS",
                                           help="A conversion counts when it came within this many days of "
                                                "qualifying.")] = 90,
    days: Annotated[float, typer.Option("--days", min=7, metavar="DAYS",
                                        help="The length of the two periods the signals compare.")] = 90,
    html: Annotated[Path | None, typer.Option("--html", help="Also write the report to this HTML file (one "
                                                             "file, opens offline).")] = None,
    as_json_: Annotated[bool, typer.Option("--json", help="The report as one JSON object.")] = False,
) -> None:
    """Is the MQL definition working? The funnel of the people qualified in a period
    (MQL, SAL, SQL, opportunity, won: counts, conversion, days in each stage), by
    channel, grade, score band, model version and month; each rule's lift; and the four
    signals that the definition needs another look. From a connection's state, or from
    CSV exports through a history mapping. Exit code 1 when a signal is raised."""
    from .review import default_period, journeys_from_state, report

    if (mapping is None) == (history is None):
        raise typer.BadParameter("give one of --mapping (a connection's state) or --history (CSV exports)",
                                 param_hint="--mapping / --history")
    skipped: list = []
    moment: datetime | None
    if mapping is not None:
        from mqlsync.connector.config import load_mapping
        from mqlsync.connector.state import StateStore

        loaded = load_mapping(mapping)
        name = loaded.mapping.connection
        journeys = journeys_from_state(loaded, StateStore.from_env())
        moment = _now(now)
    else:
        from mqlsync.connector.adapters.history import read_history
        from mqlsync.connector.config.load import load_history

        assert history is not None
        spec = load_history(history)
        read = read_history(spec, data or history.parent)
        name, journeys, skipped = spec.history, read.journeys, read.rejected
        moment = _now(now) if now else None
    period = default_period(journeys, _now(since) if since else None, _now(until) if until else None, moment,
                            horizon, days)
    found = report(name, journeys, period)
    if html is not None:
        from .review_html import render

        html.write_text(render(found, journeys), encoding="utf-8")
    if as_json_:
        out.print(json.dumps(found, ensure_ascii=False, default=str), highlight=False, markup=False)
    else:
        _print_review(found)
        if html is not None:
            err.print(f"wrote {html}", highlight=False, markup=False)
    for line in skipped[:20]:
        err.print(f"skipped {line}", highlight=False, markup=False)
    if any(s["status"] == "raised" for s in found["signals"]):
        raise typer.Exit(1)


def _pct(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}%"


def _days(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _print_review(found: dict) -> None:
    wide = out if out.is_terminal else Console(width=250)
    f = found["funnel"]
    out.print(f"{found['name']}: MQLs of {found['since'][:10]}..{found['until'][:10]} ({f['mqls']:,} of "
              f"{found['people']:,} people); a conversion counts within {found['horizon_days']:g} days.",
              highlight=False, markup=False)
    steps = Table("step", "reached", "from the step before", "from MQL", "median days in stage", show_edge=False,
                  title="funnel")
    known = found["steps"]
    for before, step in zip([None, *known], known, strict=False):
        earlier = f["reached"][before] if before else None
        steps.add_row(step, f"{f['reached'][step]:,}", _pct(f["reached"][step] / earlier) if earlier else "",
                      _pct(f["rate_from_mql"][step]), _days(f["median_days_in_stage"].get(step)))
    wide.print(steps)
    verdicts = "sal" in found["steps"] or f["rejected"]
    reasons = ", ".join(f"{k} {n:,}" for k, n in f["rejection_reasons"].items())
    out.print((f"rejected by sales: {f['rejected']:,} ({_pct(f['rejection_rate']) or '-'}"
               + (f": {reasons}" if reasons else "") + "); " if verdicts else "")
              + f"median days from MQL to a won deal: {_days(f['median_days_to_won']) or '-'}; won amount: "
              f"{f['won_amount']:,.0f}", highlight=False, markup=False)
    for dimension, groups in found["breakdowns"].items():
        if len(groups) < 2:
            continue
        sql = "sql" in found["steps"]
        table = Table(dimension, "MQLs", *(["SQL rate"] if sql else []), "won", "won rate", "median days to won",
                      show_edge=False, title=f"by {dimension}")
        for key, g in list(groups.items())[:24]:
            table.add_row(key, f"{g['mqls']:,}", *([_pct(g["rate_from_mql"]["sql"])] if sql else []),
                          f"{g['reached']['won']:,}", _pct(g["rate_from_mql"]["won"]), _days(g["median_days_to_won"]))
        wide.print(table)
    earlier, later = found["periods"]
    table = Table("period", "MQLs", *[f"to {s}" for s in found["steps"][1:]], "rejected", "median days to won",
                  show_edge=False, title="period over period (each step as a share of the period's MQLs)")
    for p in (earlier, later):
        table.add_row(f"{p['since'][:10]}..{p['until'][:10]}", f"{p['mqls']:,}",
                      *[_pct(p["rate_from_mql"][s]) for s in found["steps"][1:]], _pct(p["rejection_rate"]),
                      _days(p["median_days_to_won"]))
    wide.print(table)
    rules = found["lift"]["rules"]
    if rules:
        table = Table("rule", "MQLs", f"reached {found['lift']['step']}", "rate", "lift", show_edge=False,
                      title=f"rules, by lift ({found['lift']['step']} rate against all MQLs')")
        for r in rules[:10] + ([] if len(rules) <= 15 else rules[-5:]):
            table.add_row(r["rule"], f"{r['mqls']:,}", f"{r['reached']:,}", _pct(r["rate"]),
                          "" if r["lift"] is None else f"{r['lift']:.2f}")
        wide.print(table)
    marks = {"raised": "!", "clear": "✓", "no data": "?"}
    for s in found["signals"]:
        out.print(f"{marks[s['status']]} {s['name']}: {s['text']}", highlight=False, markup=False)
    if found["out_of_order"]:
        shown = ", ".join(found["out_of_order"][:5])
        out.print(f"out of order: {len(found['out_of_order']):,} won a deal before their first qualification "
                  f"({shown}{', ...' if len(found['out_of_order']) > 5 else ''}); left out of the days to won",
                  highlight=False, markup=False)


@command()
def preview(
    mapping: MappingOpt,
    model: Annotated[Path, typer.Option("--model", help="The scoring model to switch to.")],
    now: NowOpt = None,
    as_json_: Annotated[bool, typer.Option("--json", help="The preview as one JSON object.")] = False,
) -> None:
    """What switching the connection to another scoring model would do, from its state
    and without calling the CRM: the MQLs the new model's next run would make, with the
    task each would get, and today's MQLs the new model would not have qualified (they
    stay MQLs: a hand-off is never taken back)."""
    from mqlsync.connector.config import load_mapping
    from mqlsync.connector.state import StateStore

    from .preview import preview as run_preview

    loaded = load_mapping(mapping)
    candidate = load_model(model)
    for warning in candidate.warnings:
        err.print(f"warning: {warning}", highlight=False, markup=False)
    moment = _now(now)
    found = run_preview(loaded, candidate, StateStore.from_env(), moment)
    if as_json_:
        def change(c, lost: bool = False) -> dict:
            task = c.task
            return {"contact_id": c.contact_id, "name": c.name, "score": c.new.total, "grade": c.new.grade,
                    "current_score": c.current.total, **({"unmet": list(c.new.unmet)} if lost else {}),
                    **({"task": {"subject": task.subject, "owner": task.owner_id, "due": iso(task.due_at)}}
                       if task else {})}
        out.print(json.dumps({"current_model": found.current, "new_model": found.new, "people": found.people,
                              "gained": [change(c) for c in found.gained],
                              "lost": [change(c, True) for c in found.lost]}, ensure_ascii=False),
                  highlight=False, markup=False)
        return
    wide = out if out.is_terminal else Console(width=250)
    if found.gained:
        table = Table("record", "name", "score now", "score new", "grade", "task", "owner", "due", show_edge=False,
                      title="new MQLs at the next run")
        for c in found.gained:
            t = c.task
            table.add_row(c.contact_id, c.name, fmt(c.current.total), fmt(c.new.total), c.new.grade,
                          t.subject if t else "", (t.owner_id or "") if t else "",
                          f"{t.due_at:%Y-%m-%d %H:%M}" if t else "")
        wide.print(table)
    if found.lost:
        table = Table("record", "name", "score now", "score new", "why the new model would not qualify it",
                      show_edge=False, title="MQLs today the new model would not make (they stay MQLs)")
        for c in found.lost:
            table.add_row(c.contact_id, c.name, fmt(c.current.total), fmt(c.new.total), "; ".join(c.new.unmet))
        wide.print(table)
    tasks = sum(c.task is not None for c in found.gained)
    err.print(f"{loaded.mapping.connection}: model {found.current} -> {found.new} over {found.people:,} people as of "
              f"{moment:%Y-%m-%d %H:%M}Z: {len(found.gained):,} new MQLs ({tasks:,} tasks would be created), "
              f"{len(found.lost):,} of today's MQLs it would not qualify. Nothing was written.",
              highlight=False, markup=False)


@command()
def backtest(
    models: Annotated[list[Path], typer.Option("--model", help="A scoring model; repeat to compare several.")],
    contacts: Annotated[Path | None, typer.Option("--contacts", "-c", help="Contacts, canonical JSON lines.")] = None,
    outcomes: Annotated[Path | None, typer.Option("--outcomes", help="With --contacts, a CSV: id, outcome (1/0 or "
                                                                     "won/lost), optionally at.")] = None,
    history: Annotated[Path | None, typer.Option("--history", help="Instead of --contacts: a history mapping of a "
                                                                   "CRM's CSV exports (people and won deals), or, "
                                                                   "with --mapping, one CSV export.")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", "-m", help="With --history EXPORT.csv: the history "
                                                                         "mapping that reads it.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="The folder of the history's CSV files.",
                                              show_default="the history file's folder")] = None,
    activities: Annotated[Path | None, typer.Option("--activities", "-a", help="Activities, canonical JSON "
                                                                               "lines.")] = None,
    holdout: Annotated[float, typer.Option("--holdout", min=0, max=0.9, help="Report on the newest share of the "
                                                                            "people only (by created_at, else "
                                                                            "file order).")] = 0.0,
    now: Annotated[str | None, typer.Option("--now", help="Score as of this ISO time (or as of each outcome's "
                                                          "`at`, when earlier).",
                                            show_default="the day after the newest date in the files")] = None,
    suggest: Annotated[Path | None, typer.Option("--suggest", metavar="OUT.yaml",
                                                 help="Fit points on the people not held out and write them as a "
                                                      "model file.")] = None,
    points_to_double: Annotated[float, typer.Option("--points-to-double", min=1,
                                                    help="With --suggest: the points that double the odds.")] = 10,
    mql_share: Annotated[float, typer.Option("--mql-share", min=0.01, max=0.9,
                                             help="With --suggest: the share of people the threshold makes "
                                                  "MQLs.")] = 0.1,
    max_rules: Annotated[int, typer.Option("--max-rules", min=1, help="With --suggest: at most this many "
                                                                      "rules.")] = 30,
    mql_precision: Annotated[float | None, typer.Option("--mql-precision", min=0.01, max=1,
                                                        help="With --suggest: set the threshold for this share of "
                                                             "MQLs won, not for --mql-share.")] = None,
    as_json_: Annotated[bool, typer.Option("--json", help="The figures as one JSON object.")] = False,
) -> None:
    """Replay scoring models over people whose outcome is known, side by side: how well
    the score ranks them (ROC AUC), the MQL flag's precision and recall and the MQL
    volume, the conversion of the top-scored 10/20/30% and of each grade, and the
    rules that never fired. Nothing after a person's outcome counts. With --suggest,
    points learned from the history (the first --model is the one to beat)."""
    from .backtest import backtest as run_backtest
    from .backtest import from_files, from_history
    from .backtest import suggest as run_suggest

    if (contacts is None) == (history is None) or (contacts is not None and outcomes is None):
        raise typer.BadParameter("give --contacts with --outcomes (JSON lines and a CSV), or --history (a history "
                                 "mapping)", param_hint="--contacts / --history")
    loaded = [load_model(m) for m in models]
    if history is not None and mapping is not None:  # one CSV export, read through the history mapping
        people = from_history(mapping, data, export=history)
    elif history is not None:
        people = from_history(history, data)
    else:
        people = from_files(contacts, activities, outcomes)  # type: ignore[arg-type]  # both given: checked above
    if suggest is not None:
        made = run_suggest(people, loaded[0], suggest, holdout or 0.3, _now(now) if now else None,
                           points_to_double, mql_share, max_rules, mql_precision)
        figures = {"written": str(made.path), "rules": made.rules, "fitted": made.fitted, "held_out": made.held_out,
                   "current_auc": made.current.auc, "suggested_auc": made.suggested.auc,
                   "regression_auc": made.regression_auc, "regularisation": made.regularisation,
                   "suggested": {**made.suggested.__dict__}, "current": {**made.current.__dict__}}
        if as_json_:
            out.print(json.dumps(figures, ensure_ascii=False, default=str), highlight=False, markup=False)
            return

        def auc(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f}"
        out.print(f"wrote {made.path}: {made.rules} rules fitted on {made.fitted:,} people. On the {made.held_out:,} "
                  f"held out: ROC AUC {auc(made.suggested.auc)} (the current model {auc(made.current.auc)}, a plain "
                  f"logistic regression on the same candidates {auc(made.regression_auc)}); MQLs "
                  f"{made.suggested.mqls:,} with precision {_pct(made.suggested.precision) or '-'} (current: "
                  f"{made.current.mqls:,}, {_pct(made.current.precision) or '-'}). `mqlsync validate` accepts it; "
                  "review each rule with sales before using it.", highlight=False, markup=False)
        return
    found = run_backtest(people, loaded, holdout, _now(now) if now else None)
    for line in found.rejected[:20]:
        err.print(f"skipped {line}", highlight=False, markup=False)
    if as_json_:
        out.print(json.dumps({"people": found.people, "held_out": found.held_out, "now": iso(found.now),
                              "without_outcome": found.without_outcome, "unknown_outcomes": found.unknown_outcomes,
                              "models": [{**r.__dict__, "base_rate": r.base_rate} for r in found.reports]},
                             ensure_ascii=False, default=str), highlight=False, markup=False)
        return
    names = [f"{Path(r.model).name} {r.version}" for r in found.reports]
    table = Table("", *names, show_edge=False,
                  title=f"backtest on {found.held_out or found.people:,} people"
                        + (f" (the newest {holdout:.0%}, held out)" if holdout else ""))
    rows: list[tuple[str, list[str]]] = [
        ("won", [f"{r.won:,} of {r.people:,} ({_pct(r.base_rate)})" for r in found.reports]),
        ("ROC AUC of the score", ["-" if r.auc is None else f"{r.auc:.3f}" for r in found.reports]),
        ("MQLs", [f"{r.mqls:,} ({_pct(r.mqls / r.people if r.people else None)})" for r in found.reports]),
        ("precision of the MQL flag", [_pct(r.precision) or "-" for r in found.reports]),
        ("recall of the MQL flag", [_pct(r.recall) or "-" for r in found.reports]),
    ]
    for share in found.reports[0].top:
        rows.append((f"won, top {share} by score", [_pct(r.top[share]) or "-" for r in found.reports]))
    grades = sorted({g for r in found.reports for g in r.by_grade})
    for g in grades:
        rows.append((f"won, grade {g}", [(f"{_pct(r.by_grade[g][1])} of {r.by_grade[g][0]:,}" if g in r.by_grade
                                          else "-") for r in found.reports]))
    for label, cells in rows:
        table.add_row(label, *cells)
    (out if out.is_terminal else Console(width=250)).print(table)
    for r in found.reports:
        if r.never_fired:
            out.print(f"{Path(r.model).name}: rules that never fired: {', '.join(r.never_fired)}", highlight=False,
                      markup=False)
    err.print(f"{found.people:,} people with an outcome, scored as of {found.now:%Y-%m-%d %H:%M}Z (or their "
              f"outcome, when earlier); {found.without_outcome:,} contacts without one, {found.unknown_outcomes:,} "
              "outcomes of no contact.", highlight=False, markup=False)


@command()
def schedule(
    mappings: Annotated[list[Path], typer.Option("--mapping", "-m", help="Mapping files; repeat for several.")],
) -> None:
    """Sync on each mapping's schedule (interval or cron) until SIGTERM or Ctrl-C, with
    a daily rescore for decay. A run never overlaps another of the same connection;
    runs missed while busy or down collapse into one; on SIGTERM a run that is writing
    finishes, one that is reading stops, and nothing is lost either way."""
    import threading

    from mqlsync.connector.config import load_mapping
    from mqlsync.connector.state import StateStore

    from .connect import adapter_for
    from .schedule import Connection, run_forever

    loaded = [load_mapping(path) for path in mappings]
    names = [m.mapping.connection for m in loaded]
    if len(set(names)) != len(names):
        raise typer.BadParameter(f"two mapping files name the same connection: {names}", param_hint="--mapping")
    for item in loaded:  # credentials are checked before the first run, not at 3 a.m.
        adapter_for(item)
    store = StateStore.from_env()
    stopping = threading.Event()
    connections = [Connection(item, adapter_for, store, stopping) for item in loaded]
    logging.getLogger("mqlsync").setLevel(logging.INFO)  # a long-lived process reports each run
    for item in loaded:
        spec = item.mapping.schedule
        when = f"cron '{spec.cron}'" if spec.cron else f"every {spec.every_minutes} min"
        zone = datetime.now().astimezone().tzname()  # the scheduler runs on this machine's clock
        err.print(f"{item.mapping.connection}: sync {when}, rescore daily at {spec.rescore_at} ({zone})",
                  highlight=False)
    run_forever(connections, stopping)
    refused = [c for c in connections if c.refused is not None]
    for c in refused:
        err.print(f"schedule stopped: {c.name}: {c.refused}", highlight=False, markup=False)
    if refused:
        raise typer.Exit(2)
    err.print("schedule stopped", highlight=False)


@command()
def sandbox(
    crm: CrmOpt = DEFAULT_CRM,
    port: Annotated[int, typer.Option("--port", "-p", help="Port on 127.0.0.1 (0: any free port).")] = 8765,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same sample data.")] = 7,
    contacts: Annotated[int, typer.Option("--contacts", "-n", min=0, help="Sample contacts to seed.")] = 2000,
    token: Annotated[str, typer.Option("--token", help="The access token (HubSpot) or session id "
                                                       "(Salesforce) the sandbox accepts.")] = "sandbox-token",
    fault_429: Annotated[float, typer.Option("--fault-429", min=0, max=1,
                                             help="Share of requests answered 429.")] = 0.0,
    fault_5xx: Annotated[float, typer.Option("--fault-5xx", min=0, max=1, help="Share answered 502/503.")] = 0.0,
    fault_drop: Annotated[float, typer.Option("--fault-drop", min=0, max=1,
                                              help="Share whose connection drops with no answer.")] = 0.0,
    delay: Annotated[float, typer.Option("--delay", min=0, help="Seconds added to every response.")] = 0.0,
    burst_limit: Annotated[int | None, typer.Option(
        "--burst-limit", min=1, help="HubSpot: requests per 10 s.",
        show_default="the tier's: 100 on Starter, 190 on Professional and Enterprise")] = None,
    now: Annotated[str | None, typer.Option("--now", help="Date the sample's activity relative to this ISO "
                                                             "time, so two sandboxes hold the same data.",
                                               show_default="the current minute")] = None,
    tier: Annotated[str | None, typer.Option("--tier", help="HubSpot: the portal's tier (starter, professional, "
                                                            "enterprise); the Events API needs enterprise.",
                                             show_default="enterprise")] = None,
) -> None:
    """Serve a sandbox CRM on 127.0.0.1, seeded with the sample data, until stopped.
    GET /__sandbox/stats shows the requests it served and the 429s it sent."""
    from mqlsync.connector.sandbox.server import Faults

    from .sandbox import start_sandbox

    # The sample's activity is dated relative to now, so the sandbox looks live any day.
    started = _now(now) if now else datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        running = start_sandbox(crm.value, seed=seed, contacts=contacts, port=port, secret=token, now=started,
                                burst_limit=burst_limit, tier=tier,
                                faults=Faults(rate_429=fault_429, rate_5xx=fault_5xx, rate_drop=fault_drop,
                                              delay_s=delay, seed=seed))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tier") from None
    url = running.server.url
    err.print(f"{crm.value} sandbox on {url} with {len(running.ids):,} people (seed {seed}); "
              f"stats at {url}/__sandbox/stats. Ctrl-C stops it.", highlight=False)
    err.print("To point mqlsync at it: " + " ".join(f"{k}={v}" for k, v in running.env().items()),
              highlight=False)
    import signal

    def stop(signum, frame):  # SIGTERM stops it like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        running.server.serve_forever()
    except KeyboardInterrupt:
        err.print("sandbox stopped", highlight=False)
    finally:
        running.server.httpd.server_close()


def main() -> None:
    """Entry point. Commands turn the errors a user can cause into one line and exit
    code 2, typer does the same for usage errors; this catches the rest, so nobody is
    shown a traceback."""
    try:
        app()
    except SystemExit:
        raise
    except Exception as exc:
        err.print(redact(f"internal error: {type(exc).__name__}: {exc} (please report it; -vv shows more)"),
                  highlight=False, markup=False)
        log.debug("traceback", exc_info=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
