"""Turn a score card into the short paragraph sales reads next to the MQL tag."""

from __future__ import annotations

from mqlsync.connector.model import RuleHit, ScoreCard, Stage

#: CRM text fields hold a few thousand characters at most; sales reads the first lines
MAX_TEXT = 1000


def whole(points: float) -> str:
    """Points as the CRM shows them: whole numbers, so decay moves them only now and
    then, and a run writes only what a person would notice."""
    return str(int(round(points)))


def signed(points: float, show=whole) -> str:
    return ("+" if points >= 0 else "\u2212") + show(abs(points))


def hit_points(hit: RuleHit, show=whole) -> str:
    """"+20", "−10", or "disqualifies" for a hard negative that takes no points."""
    if hit.disqualify:
        return "disqualifies" if hit.points == 0 else f"{signed(hit.points, show)}, disqualifies"
    return signed(hit.points, show)


def hit_phrase(hit: RuleHit) -> str:
    times = f" (\u00d7{hit.occurrences})" if hit.per_occurrence and hit.occurrences > 1 else ""
    if hit.disqualify:
        return f"{hit.label} ({hit_points(hit)})"
    return f"{hit.label} {signed(hit.points)}{times}"


#: how the verdict names a stage sales or a later process owns
STAGE_WORDS = {Stage.SAL: "SAL", Stage.SQL: "SQL", Stage.OPPORTUNITY: "Opportunity", Stage.CUSTOMER: "Customer"}


def verdict(card: ScoreCard, stage: Stage | None = None) -> str:
    """The last sentence of the text: where the person stands, in the same words as
    the stage field and the MQL tag (tagged from MQL on). Without a stage (scoring a
    file), the score's own verdict. The score's gate is still named where it is closed,
    so sales sees why a tagged person would not qualify on the score today."""
    unmet = "; ".join(card.unmet)
    if stage in STAGE_WORDS:
        text = f"{STAGE_WORDS[stage]}: past the MQL stage, with sales."
        return text if card.mql else f"{text} The score alone would not qualify today: {unmet}."
    if stage == Stage.MQL:
        return "MQL." if card.mql else f"MQL; the score would not qualify today: {unmet}."
    if stage == Stage.RECYCLED:
        if card.mql:
            return "Recycled by sales; the score qualifies, new engagement makes it an MQL again."
        return f"Recycled by sales. Not an MQL: {unmet}."
    return "MQL." if card.mql else f"Not an MQL: {unmet}."


def sales_text(card: ScoreCard, stage: Stage | None = None, limit: int = 6) -> str:
    """ "Score 112 (fit 42, grade A; engagement 70): requested a demo +20, …. MQL."
    With the stage mqlsync writes, the last sentence agrees with it (see `verdict`)."""
    head = f"Score {whole(card.total)} (fit {whole(card.fit)}, grade {card.grade}; engagement {whole(card.engagement)}"
    if round(card.negative):
        head += f"; negative {whole(card.negative)}"
    head += ")"
    shown = [h for h in card.hits if h.points != 0 or h.disqualify][:limit]
    rest = len([h for h in card.hits if h.points != 0 or h.disqualify]) - len(shown)
    body = ", ".join(hit_phrase(h) for h in shown)
    if rest > 0:
        body += f" and {rest} more"
    text = f"{head}: {body}." if body else f"{head}: no rule fired."
    if card.category_capped:
        text += " Capped: " + ", ".join(f"{c} {signed(-v)}" for c, v in sorted(card.category_capped.items())) + "."
    text += " " + verdict(card, stage)
    text += f" Model {card.model_version}."
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"
