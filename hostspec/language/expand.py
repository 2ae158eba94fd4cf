"""Templates and guest ranges: from lowered bodies to one document per guest.

A guest takes every key of its template chain and overrides them; `balloon`
merges key by key.  `guest web-{01..20}` declares twenty guests that share
one lowered body (and one span table, so large ranges stay cheap).
"""
from __future__ import annotations

import pathlib
import re
from typing import Optional, Sequence

from hostspec.diagnostics import Diagnostic
from hostspec.diagnostics.codes import duplicate_guest, names_differ_in_case
from hostspec.language.index import SpanIndex
from hostspec.language.lower import MAX_GUESTS, MAX_RANGE, Lowerer, Node, Partial, name_of
from hostspec.language.words import did_you_mean
from hostspec.diagnostics.source import SourceFile

_RANGE_RE = re.compile(r"^(.*?)\{([0-9]+)\.\.([0-9]+)\}(.*)$")


def lower_source(source: SourceFile, base_dir: pathlib.Path, include_paths: Sequence[str],
                 read=None, parse_top=None) -> tuple[Optional[dict], SpanIndex, list[Diagnostic]]:
    """Lower a top-level `.mem` file (and its includes) to a document.

    `read(path) -> bytes` reads an included file and `parse_top(source)` parses
    the top one (defaults: the disk, `parse.parse`)."""
    lowerer = Lowerer(source, base_dir, include_paths, read, parse_top)
    top_path = (base_dir / pathlib.Path(source.name).name).resolve() \
        if source.name != "<stdin>" else None
    lowerer.paths[id(source)] = top_path
    if top_path is not None:
        lowerer.loaded.add(top_path)
    lowerer.lower_file(source, top_path, 0)
    if id(source) in lowerer.unparsed:  # the parser stopped at its first error: nothing more to say
        return None, lowerer.index, lowerer.diagnostics
    host = lowerer.host()
    guests = Expander(lowerer).guests()
    if host is None:
        return None, lowerer.index, lowerer.diagnostics
    document = {"hostspec": 1, "host": host if host is not None else {}, "guests": guests}
    lowerer.index.record((), source.span(0, 0))
    return document, lowerer.index, lowerer.diagnostics


class Expander:
    def __init__(self, lowerer: Lowerer):
        self.lw = lowerer
        self.resolved: dict[str, Optional[Partial]] = {}
        self.names: dict[str, Node] = {}
        self.folded: dict[str, str] = {}  # lower-case name -> the first name written so
        self.case_reported: set[tuple[int, int]] = set()  # (id of node, id of node) already warned
        self.too_many_reported = False

    def template(self, name: str, visiting: tuple[str, ...] = ()) -> Optional[Partial]:
        """A template with its whole chain merged in, or None after an error."""
        if name in self.resolved:
            return self.resolved[name]
        node, parent, partial = self.lw.templates[name]
        if name in visiting:
            cycle = visiting[visiting.index(name):] + (name,)
            self.lw.error("HS0221", f"template `{name}` inherits from itself through "
                          f"{' -> '.join(cycle)}", node.span,
                          "break the cycle: one template must not use `from`")
            self.resolved[name] = None
            return None
        merged = self.with_parent(node, parent, partial, visiting + (name,))
        self.resolved[name] = merged
        return merged

    def with_parent(self, node: Node, parent, partial: Partial, visiting=()) -> Optional[Partial]:
        if parent is None:
            return partial
        parent_name = name_of(parent)
        if parent_name not in self.lw.templates:
            self.lw.error("HS0220", f"unknown template `{parent_name}`", node.tspan(parent),
                          did_you_mean(parent_name, self.lw.templates)
                          or "declare the template, or include the file that does")
            return None
        base = self.template(parent_name, visiting)
        return merge(base, partial) if base is not None else None

    def resolve_templates(self) -> None:
        """Resolve every template's chain once, used or not: an unknown parent
        or a cycle is reported once, at the template that wrote it."""
        for name in self.lw.templates:
            self.template(name)

    def guests(self) -> list[dict]:
        self.resolve_templates()
        documents: list[dict] = []
        for node, parent, partial in self.lw.guests:
            merged = self.with_parent(node, parent, partial)
            if merged is None:
                continue
            first = len(documents)
            for name in self.names_of(node, first):
                self.add(documents, node, name, merged)
            self.lw.index.shared_bodies.update(range(first + 1, len(documents)))
        return documents

    def add(self, documents: list[dict], node: Node, name: str, merged: Partial) -> None:
        if name in self.names:
            self.lw.diagnostics.append(duplicate_guest(name, node.span, self.names[name].span))
            return
        self.names[name] = node
        self.differs_in_case(name, node)
        path = ("guests", len(documents))
        documents.append({"name": name, **merged.doc})
        self.lw.index.mount(path, node.span, node.tspan(node.words[0]), merged.spans)

    def differs_in_case(self, name: str, node: Node) -> None:
        """HS0232 once per pair of declarations (`Web-{1..9}` against `web-{1..9}` is one)."""
        other = self.folded.setdefault(name.lower(), name)
        if other == name:
            return
        first = self.names[other]
        if (id(first), id(node)) in self.case_reported:
            return
        self.case_reported.add((id(first), id(node)))
        self.lw.diagnostics.append(names_differ_in_case(
            name, other, node.tspan(node.words[0]), first.tspan(first.words[0])))

    def names_of(self, node: Node, declared: int) -> list[str]:
        token = node.words[0]
        text, span = name_of(token), node.tspan(token)
        match = _RANGE_RE.match(text) if token.type == "ATOM" else None
        if match is None:
            if declared + 1 > MAX_GUESTS:
                return self.too_many(span)
            return [text] if self.lw.check_name(text, "guest", span) else []
        prefix, low, high, suffix = match.groups()
        if "{" in prefix + suffix:
            self.lw.error("HS0229", "a guest name may hold one range", span, "use one `{A..B}` per name")
            return []
        return self.expand_range(prefix, low, high, suffix, span, declared)

    def expand_range(self, prefix, low, high, suffix, span, declared) -> list[str]:
        if len(prefix) + max(len(low), len(high)) + len(suffix) > 63:  # before int() meets a huge one
            self.lw.error("HS0229", "the range's names would be longer than 63 characters", span,
                          "a guest name has at most 63 characters: shorten the bounds or the name")
            return []
        first, last = int(low), int(high)
        if first > last:
            self.lw.error("HS0229", f"the range `{{{low}..{high}}}` runs backwards", span,
                          f"write `{{{high}..{low}}}`")
            return []
        if last - first + 1 > MAX_RANGE:
            self.lw.error("HS0227", f"the range declares {last - first + 1} guests, more than {MAX_RANGE}",
                          span, "split it into several ranges")
            return []
        if declared + last - first + 1 > MAX_GUESTS:
            return self.too_many(span)
        width = len(low) if low.startswith("0") and len(low) > 1 else 0
        names = [f"{prefix}{n:0{width}d}{suffix}" for n in range(first, last + 1)]
        if not all(self.lw.check_name(name, "guest", span) for name in (names[0], names[-1])):
            return []
        return names


    def too_many(self, span) -> list[str]:
        if not self.too_many_reported:
            self.too_many_reported = True
            self.lw.error("HS0228", f"the host declares more than {MAX_GUESTS} guests", span,
                          "split the fleet over several hosts")
        return []


def merge(base: Partial, over: Partial) -> Partial:
    """`over` on top of `base`: keys replace, `balloon` merges key by key."""
    doc = dict(base.doc)
    spans = dict(base.spans)
    for key, value in over.doc.items():
        if key == "balloon" and _mergeable(doc.get(key), value):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
            spans = {p: s for p, s in spans.items() if p[0] != key}
    spans.update(over.spans)
    return Partial(doc, spans)


def _mergeable(base, over) -> bool:
    return isinstance(base, dict) and base.get("model") != "none" and over.get("model") != "none"
