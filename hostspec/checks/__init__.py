"""Semantic checks: each topic module yields diagnostics for a checked model."""
from __future__ import annotations

from ..diagnostics import Diagnostic
from ..index import SpanIndex
from ..model import Spec


def run_checks(spec: Spec, index: SpanIndex) -> list[Diagnostic]:
    """Every semantic check of every topic, in one list."""
    return []
