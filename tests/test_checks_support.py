"""Building models for the check tests: a schema-valid document with defaults."""
from __future__ import annotations

from hostspec.language import schema
from hostspec.checks import run_checks
from hostspec.diagnostics import Severity
from hostspec.language.index import SpanIndex
from hostspec.model import GiB, MiB, from_document  # noqa: F401 - GiB, MiB for the tests


def document(guests=(), **host) -> dict:
    """A one-host document; `host` keys use the JSON spelling with `_` for `-`."""
    body = {"name": "h", "cpu": "intel", "memory": 64 * GiB}
    body.update({key.replace("_", "-"): value for key, value in host.items()})
    doc = {"hostspec": 1, "host": body, "guests": [dict(g) for g in guests]}
    problems = schema.validator().iter_errors(doc)
    assert [e.message for e in problems] == [], "the test document must be schema-valid"
    return doc


def guest(name: str, memory: int = 4 * GiB, **keys) -> dict:
    made = {"name": name, "memory": memory}
    made.update({key.replace("_", "-"): value for key, value in keys.items()})
    return made


def hugepage_guest(name: str, memory: int, size=None, nodes=None, **keys) -> dict:
    backing = {"type": "hugepages"}
    if size is not None:
        backing["size"] = size
    if nodes is not None:
        backing["nodes"] = list(nodes)
    keys.setdefault("balloon", {"model": "none"})
    return guest(name, memory, backing=backing, **keys)


def pool(size: int, count: int, nodes=None, at: str = "boot") -> dict:
    made = {"size": size, "count": count, "at": at}
    if nodes is not None:
        made["nodes"] = list(nodes)
    return made


def diagnostics(guests=(), **host):
    """Every semantic diagnostic of the document."""
    return run_checks(from_document(document(guests, **host)), SpanIndex())


def codes(guests=(), **host) -> list[str]:
    """The codes of every error and warning (notes: see `messages`)."""
    return sorted(d.code for d in diagnostics(guests, **host) if d.severity != Severity.NOTE)


def messages(code: str, guests=(), **host) -> list[str]:
    return [d.message for d in diagnostics(guests, **host) if d.code == code]
