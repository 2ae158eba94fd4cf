"""Which files a spec may name: one rule for `include` and `base` paths.

A path is resolved from the directory it is relative to (the including file's
for `include`, the spec's for `base`), symbolic links followed, and must land
under the spec's directory or under a directory given with `--include-path`.
A spec from standard input counts the working directory as its own.
"""
from __future__ import annotations

import pathlib
from typing import Optional, Sequence

from hostspec.diagnostics import Diagnostic
from hostspec.diagnostics.codes import diag
from hostspec.diagnostics.source import Span


def allowed_roots(spec_dir: pathlib.Path, include_paths: Sequence[str] = ()) -> list[pathlib.Path]:
    """The directories a spec's files may come from: its own, then each `--include-path`."""
    return [pathlib.Path(spec_dir).resolve()] + [pathlib.Path(p).resolve() for p in include_paths]


def confined(here: pathlib.Path, written: str, roots: Sequence[pathlib.Path]) -> Optional[pathlib.Path]:
    """`written` resolved from `here` (links followed), or None when it lies outside every root.

    Raises ValueError for a path holding a NUL character: no file has one.
    """
    if "\0" in written:
        raise ValueError("embedded null byte")
    target = (pathlib.Path(here) / written).resolve()
    return target if any(target.is_relative_to(root) for root in roots) else None


def outside_tree(what: str, written: str, span: Optional[Span]) -> Diagnostic:
    """HS0224 for an `include` or `base` path that `confined` refused."""
    return diag("HS0224", f"{what} `{written}` is outside the spec's directory tree", span,
                "move the file under the spec's directory, or pass `--include-path DIR`")
