"""How well a scoring model would have done on people whose outcome is known: the score
as a ranking (ROC AUC), the MQL flag as a decision (precision, recall, volume), the
conversion of the top-scored shares and of each grade, and the rules that never fired.
Values in, numbers out: the caller scores the people and says which are held out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sklearn.metrics import roc_auc_score

from mqlsync.connector.model import ScoreCard

#: the top-scored shares whose conversion a backtest reports
TOP_SHARES = (0.1, 0.2, 0.3)


@dataclass(frozen=True)
class Scored:
    """One person's card under a model, and what became of them (True: won)."""

    card: ScoreCard
    won: bool


@dataclass(frozen=True)
class Report:
    model: str
    version: str
    people: int
    won: int
    auc: float | None
    mqls: int
    precision: float | None
    recall: float | None
    top: dict[str, float | None]
    by_grade: dict[str, tuple[int, float | None]]
    never_fired: list[str] = field(default_factory=list)

    @property
    def base_rate(self) -> float | None:
        return self.won / self.people if self.people else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def evaluate(model: str, version: str, scored: Sequence[Scored], rule_ids: Sequence[str],
             fired: Counter[str] | None = None) -> Report:
    """The figures of one model on `scored`. `fired` counts the rules that fired over
    every person scored (held out or not): a rule that never fired anywhere is listed."""
    people, won = len(scored), sum(s.won for s in scored)
    labels = [int(s.won) for s in scored]
    totals = [s.card.total for s in scored]
    # AUC needs both outcomes among the people; with one, it says nothing.
    auc = float(roc_auc_score(labels, totals)) if 0 < won < people else None
    mqls = [s for s in scored if s.card.mql]
    won_mqls = sum(s.won for s in mqls)
    ranked = sorted(scored, key=lambda s: -s.card.total)
    top = {}
    for share in TOP_SHARES:
        k = max(1, round(people * share)) if people else 0
        top[f"{share:.0%}"] = _share(sum(s.won for s in ranked[:k]), k)
    grades: dict[str, list[bool]] = {}
    for s in scored:
        grades.setdefault(s.card.grade, []).append(s.won)
    by_grade = {g: (len(v), _share(sum(v), len(v))) for g, v in sorted(grades.items())}
    hits = fired if fired is not None else Counter(h.rule_id for s in scored for h in s.card.hits)
    return Report(model, version, people, won, auc, len(mqls), _share(won_mqls, len(mqls)), _share(won_mqls, won),
                  top, by_grade, [r for r in rule_ids if not hits.get(r)])


def holdout_split(ids_in_order: Sequence[str], share: float) -> tuple[set[str], set[str]]:
    """(fit, held out): the newest `share` of the people, in the order given (newest
    last), is held out; the rest may be fitted on. Nothing is in both."""
    if not 0 <= share < 1:
        raise ValueError(f"the hold-out is a share below 1, not {share}")
    cut = len(ids_in_order) - round(len(ids_in_order) * share)
    return set(ids_in_order[:cut]), set(ids_in_order[cut:])
