"""Is the MQL definition working? The funnel measured from what became of each person,
and the signals that it needs another look. Pure: journeys in, numbers and words out."""

from mqlsync.connector.review.funnel import Breakdown, Funnel, Journey, Outcome, breakdown, funnel
from mqlsync.connector.review.signals import Signal, Thresholds, signals

__all__ = ["Breakdown", "Funnel", "Journey", "Outcome", "Signal", "Thresholds", "breakdown", "funnel", "signals"]
