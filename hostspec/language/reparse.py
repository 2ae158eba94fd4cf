"""Parsing again after an edit, block by block: what an editor needs.

`BlockParser` splits a file at the line breaks that follow a top-level block,
parses each piece on its own and keeps the trees of pieces it has seen; after
an edit only the piece that changed is parsed again.  The tree it returns is
the one `parse.parse` would build (tokens carry offsets into the whole text),
and any syntax error is left to `parse.parse` on the whole text, so that its
diagnostic is exactly the one `hostspec check` reports.
"""
from __future__ import annotations

import re
from typing import Optional

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from hostspec.language import parse as parse_mod
from hostspec.diagnostics import Diagnostic
from hostspec.diagnostics.source import SourceFile

# What moves the brace depth, and what hides braces from it.
_SCAN = re.compile(r'#[^\n]*|"(?:[^"\\\n]|\\.)*"?|\{[0-9]+\.\.[0-9]+\}|[{}\n]')


def pieces(text: str) -> Optional[list[tuple[int, int]]]:
    """(start, end) of each piece: a piece ends at the line break after a
    top-level block closes.  None when the braces do not balance."""
    bounds, start, depth, closed = [], 0, 0, False
    for found in _SCAN.finditer(text):
        token = found.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth < 0:
                return None
            closed = closed or depth == 0
        elif token == "\n" and depth == 0 and closed:
            bounds.append((start, found.end()))
            start, closed = found.end(), False
    if depth:
        return None
    if start < len(text) or not bounds:
        bounds.append((start, len(text)))
    return bounds


def _shifted(tree: Tree, delta: int) -> Tree:
    """A copy of `tree` whose tokens sit `delta` characters further on."""
    children = []
    for child in tree.children:
        if isinstance(child, Token):
            moved = str.__new__(Token, child)  # Token() itself is slower by half
            moved.type, moved.value, moved.line, moved.column = child.type, child.value, child.line, child.column
            moved.end_line, moved.end_column = child.end_line, child.end_column
            moved.start_pos, moved.end_pos = child.start_pos + delta, child.end_pos + delta
            child = moved
        else:
            child = _shifted(child, delta)
        children.append(child)
    return Tree(tree.data, children)


class BlockParser:
    """A drop-in for `parse.parse(source)` that reuses unchanged blocks' trees."""

    def __init__(self) -> None:
        self._trees: dict[str, Tree] = {}  # piece text -> its tree, offsets from the piece's start
        self._placed: dict[tuple[str, int], list] = {}  # (piece, start) -> its tree's children, placed

    def __call__(self, source: SourceFile) -> tuple[Optional[Tree], list[Diagnostic]]:
        text = source.text
        bounds = pieces(text)
        if bounds is None or len(bounds) < 2:
            self._trees = {}
            return parse_mod.parse(source)
        kept: dict[str, Tree] = {}
        placed: dict[tuple[str, int], list] = {}
        children = []
        for start, end in bounds:
            piece = text[start:end]
            tree = kept.get(piece) or self._trees.get(piece)
            if tree is None:
                try:
                    tree = parse_mod.parser().parse(piece)
                except UnexpectedInput:
                    self._trees, self._placed = kept, placed
                    return parse_mod.parse(source)  # the whole text names the error exactly
            kept[piece] = tree
            here = self._placed.get((piece, start))
            if here is None:
                here = _shifted(tree, start).children if start else tree.children
            placed[piece, start] = here
            children += here
        self._trees, self._placed = kept, placed
        return Tree("start", children), []
