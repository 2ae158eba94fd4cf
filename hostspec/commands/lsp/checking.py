"""Checking open buffers: the CLI's `check`, with unsaved text before the disk.

A document is checked exactly as `hostspec check FILE` checks it, except that
the text of every open buffer stands in for the file of the same path (the
document itself and any file it includes).  Each check records the files it
read, so an edit to an included buffer can re-check the files that include it.
"""
from __future__ import annotations

import pathlib
from typing import Callable, Optional

from lsprotocol import types

from hostspec import api
from hostspec.diagnostics import Diagnostic, Severity
from hostspec.language.reader import read_limited
from hostspec.language.reparse import BlockParser
from .outline import line_starts, to_position

SEVERITY = {Severity.ERROR: types.DiagnosticSeverity.Error,
            Severity.WARNING: types.DiagnosticSeverity.Warning,
            Severity.NOTE: types.DiagnosticSeverity.Information}


class Checked:
    """One check of one document: the CLI's result and the files it read."""

    def __init__(self, path: pathlib.Path, result: api.Result, read: set[pathlib.Path]):
        self.path, self.result, self.read = path, result, read


class Checker:
    """Checks documents; keeps one block parser per document across edits."""

    def __init__(self, include_paths=()):
        self.include_paths = list(include_paths)
        self.parsers: dict[pathlib.Path, BlockParser] = {}

    def check(self, path: pathlib.Path, text: str, buffers: dict[pathlib.Path, str]) -> Checked:
        read: set[pathlib.Path] = set()

        def reader(target: pathlib.Path) -> bytes:
            read.add(target)
            if target in buffers:
                return buffers[target].encode("utf-8", "surrogateescape")
            return read_limited(str(target))

        parser = self.parsers.setdefault(path, BlockParser())
        result = api.check(str(path), self.include_paths, text.encode("utf-8", "surrogateescape"),
                           read=reader, parse_top=parser)
        return Checked(path, result, read)

    def forget(self, path: pathlib.Path) -> None:
        self.parsers.pop(path, None)


# -- diagnostics as the protocol has them ------------------------------------------------

def _file_path(name: str, base: pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(name)
    return path if path.is_absolute() else (base / path)


class Positions:
    """Spans -> LSP ranges, one table of line starts per file text."""

    def __init__(self):
        self._starts: dict[int, tuple[str, list[int]]] = {}

    def range(self, span) -> types.Range:
        return self.between(span.file, span.start, span.end)

    def between(self, file, start: int, end: int) -> types.Range:
        text = file.text
        key = id(file)
        if key not in self._starts or self._starts[key][0] is not text:
            self._starts[key] = (text, line_starts(text))
        starts = self._starts[key][1]
        (l1, c1), (l2, c2) = to_position(text, starts, start), to_position(text, starts, end)
        return types.Range(types.Position(l1, c1), types.Position(l2, c2))


def to_lsp(checked: Checked, uri_of: Callable[[pathlib.Path], str]) -> dict[str, list[types.Diagnostic]]:
    """The check's diagnostics by the URI of the file each one is in.

    A diagnostic in an included file is also shown in the checked document, at
    the `include` line that led to it, with its real place as related
    information: the CLI says the same with `note: included from`.
    """
    base = checked.result.base_dir
    top = uri_of(checked.path)
    found: dict[str, list[types.Diagnostic]] = {top: []}
    positions = Positions()
    for diag in checked.result.diagnostics:
        related = [types.DiagnosticRelatedInformation(
            types.Location(uri_of(_file_path(label.span.file.name, base)), positions.range(label.span)),
            label.message or "related") for label in diag.labels]
        message = diag.message + (f"\nhelp: {diag.hint}" if diag.hint else "")
        data = {"hint": diag.hint, "fixes": [
            {"title": fix["title"], "edits": [[*_flat(positions.between(diag.span.file, start, end)), new]
                                              for start, end, new in fix["edits"]]}
            for fix in fixes(diag)]}
        if diag.span is None:
            found[top].append(_make(diag, types.Range(types.Position(0, 0), types.Position(0, 0)),
                                    message, related, data))
            continue
        uri = uri_of(_file_path(diag.span.file.name, base))
        here = _make(diag, positions.range(diag.span), message, related, data)
        found.setdefault(uri, []).append(here)
        chain = diag.span.file.include_chain()
        if chain:
            outer = chain[-1]  # the include statement in the checked document
            where = types.DiagnosticRelatedInformation(types.Location(uri, positions.range(diag.span)),
                                                       f"{diag.code} is here")
            notes = [types.DiagnosticRelatedInformation(
                types.Location(uri_of(_file_path(s.file.name, base)), positions.range(s)), "included from here")
                for s in chain[:-1]]
            found[top].append(_make(diag, positions.range(outer), message, [where, *related, *notes],
                                    dict(data, fixes=[])))
    return found


def _flat(range_: types.Range) -> list[int]:
    return [range_.start.line, range_.start.character, range_.end.line, range_.end.character]


def _make(diag: Diagnostic, range_: types.Range, message: str, related, data) -> types.Diagnostic:
    return types.Diagnostic(range=range_, message=message, severity=SEVERITY[diag.severity],
                            code=diag.code, source="hostspec", related_information=related or None,
                            data=data)


# -- fixes -------------------------------------------------------------------------------

def fixes(diag: Diagnostic) -> list[dict]:
    """Edits that carry out what a diagnostic's hint says, where it is exact.

    Each is {"title", "edits": [(start, end, new text)]} in the span's file's
    character offsets; the server turns them into code actions.
    """
    span = diag.span
    if span is None:
        return []
    hint = diag.hint or ""
    if hint.startswith("did you mean `") and hint.endswith("`?") and span.text and not any(
            ch.isspace() for ch in span.text):
        word = hint[len("did you mean `"):-2]
        return [{"title": f"Replace `{span.text}` with `{word}`", "edits": [(span.start, span.end, word)]}]
    if diag.code == "HS0214" and diag.message.startswith("the file does not start"):
        return [{"title": "Add `hostspec 1` as the first statement", "edits": [(0, 0, "hostspec 1\n\n")]}]
    if diag.code == "HS0214" and span.text == "hostspec":
        return [{"title": "Write `hostspec 1`", "edits": [(span.end, span.end, " 1")]}]
    if diag.code == "HS0307":
        pools = diag.message.partition("(pools: ")[2].rstrip(")")
        sizes = [size.strip("`") for size in pools.split(", ") if size.startswith("`")]
        value_end = span.file.text.find("\n", span.start)
        line = span.file.text[span.start:value_end if value_end >= 0 else len(span.file.text)]
        words = line.split()
        if len(words) >= 2 and words[0] == "default-size":
            start = span.start + line.index(words[1], len("default-size"))
            return [{"title": f"Set `default-size` to `{size}`", "edits": [(start, start + len(words[1]), size)]}
                    for size in sizes]
    return []
