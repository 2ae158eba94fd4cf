"""Every HS03xx fixture in tests/errors reports exactly the diagnostics its markers name.

Markers: a trailing `# E: HS0301`, `# W: HS0303` or `# N: HS0322` on each line
that must produce that diagnostic (optionally `@COL`).  Notes are compared only
when the file has a `# N:` marker.  Every other line must stay quiet.
"""
from __future__ import annotations

import pathlib
import re

import pytest

import hostspec
from hostspec.codes import CODES
from hostspec.diagnostics import Severity

ERRORS = pathlib.Path(__file__).parent / "errors"
FIXTURES = sorted(ERRORS.glob("HS03*.mem"))
MARKER = re.compile(r"#\s*([EWN]):\s*(HS\d{4})(?:@(\d+))?")
LETTER = {Severity.ERROR: "E", Severity.WARNING: "W", Severity.NOTE: "N"}


def expected(path: pathlib.Path) -> set[tuple]:
    found = set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        for letter, code, column in MARKER.findall(line):
            found.add((letter, code, number) + ((int(column),) if column else ()))
    return found


def reported(path: pathlib.Path, with_notes: bool, columns: set) -> set[tuple]:
    result = hostspec.check(str(path))
    found = set()
    for d in result.diagnostics:
        if d.severity == Severity.NOTE and not with_notes:
            continue
        where = (d.span.line,) if d.span is not None else (0,)
        key = (LETTER[d.severity], d.code) + where
        found.add(key + ((d.span.column,) if key in columns else ()))
    return found


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_reports_what_its_markers_say(path):
    want = expected(path)
    columns = {w[:3] for w in want if len(w) == 4}
    with_notes = any(w[0] == "N" for w in want)
    assert reported(path, with_notes, columns) == want


def test_every_semantic_code_has_a_fixture():
    covered = {p.name[:6] for p in FIXTURES}
    semantic = {code for code in CODES if code.startswith("HS03")}
    assert semantic - covered == set()


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_markers_name_their_own_code(path):
    assert path.name[:6] in {w[1] for w in expected(path)} or "boundary" in path.name
