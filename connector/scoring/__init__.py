"""The pure scoring core: values in, values out; no I/O, no clock, no CRM names."""

from .engine import Scorer, fmt, score
from .explain import sales_text
from .lifecycle import Decision, SalesSignals, StageState, decide

__all__ = ["Decision", "SalesSignals", "Scorer", "StageState", "decide", "fmt", "sales_text", "score"]
