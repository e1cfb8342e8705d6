"""The pure scoring core: values in, values out; no I/O, no clock, no CRM names."""

from mqlsync.connector.scoring.engine import Scorer, fmt, score
from mqlsync.connector.scoring.explain import sales_text
from mqlsync.connector.scoring.lifecycle import Decision, SalesSignals, StageState, decide

__all__ = ["Decision", "SalesSignals", "Scorer", "StageState", "decide", "fmt", "sales_text", "score"]
