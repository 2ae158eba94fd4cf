"""Semantic checks: each topic module yields diagnostics for a checked model.

A check is a small function `check(ctx) -> Iterator[Diagnostic]`; each topic
module lists its checks in `CHECKS`.  They see a schema-valid model only.
"""
from __future__ import annotations

from hostspec.diagnostics import Diagnostic
from hostspec.language.index import SpanIndex
from hostspec.model import Spec
from hostspec.checks import boot, capacity, guests, hugepages, kvm, targets, tuning
from hostspec.checks.context import Context

TOPICS = (kvm, hugepages, tuning, guests, capacity, targets, boot)


def all_checks():
    """Every check function, topic by topic."""
    return [check for topic in TOPICS for check in topic.CHECKS]


def run_checks(spec: Spec, index: SpanIndex) -> list[Diagnostic]:
    """Every semantic check of every topic, in one list."""
    ctx = Context(spec, index)
    return [found for check in all_checks() for found in check(ctx)]
