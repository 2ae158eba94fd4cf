"""docs/diagnostics.md documents every registered code, and its HS03 examples are true."""
from __future__ import annotations

import pathlib
import re

import pytest

from hostspec import api
from hostspec.diagnostics.codes import CODES
from hostspec.diagnostics import Severity

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "diagnostics.md"
HEADING = re.compile(r"^### (HS\d{4}) `([a-z0-9.-]+)` \((error|warning|note)\)$", re.M)


def sections() -> dict[str, str]:
    """Each code's section of the page, by code."""
    text = DOC.read_text("utf-8")
    marks = list(HEADING.finditer(text))
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return {m[1]: text[m.start():end] for m, end in zip(marks, ends)}


def test_every_registered_code_is_documented_with_its_name_and_severity():
    found = {m[1]: (m[2], m[3]) for m in HEADING.finditer(DOC.read_text("utf-8"))}
    assert found == {code: (entry.name, str(entry.severity)) for code, entry in CODES.items()}


def test_every_code_has_an_example():
    assert [code for code, body in sections().items() if "```" not in body] == []


SEMANTIC = sorted(code for code in CODES if code.startswith("HS03"))


@pytest.mark.parametrize("code", SEMANTIC)
def test_semantic_example_fails_and_its_fix_passes(code, tmp_path):
    body = sections()[code]
    blocks = re.findall(r"^```mem-(?:fails|note)\n(.*?)^```", body, re.S | re.M)
    blocks += re.findall(r"^```mem\n(.*?)^```", body, re.S | re.M)
    assert len(blocks) == 2, "a failing example and its fix"
    reported = []
    for i, block in enumerate(blocks):
        path = tmp_path / f"example-{i}.mem"
        path.write_text(block)
        reported.append([(d.code, d.severity) for d in api.check(str(path)).diagnostics])
    assert code in [found for found, _ in reported[0]]
    assert [d for d in reported[1] if d[1] != Severity.NOTE] == [], "the fix is clean"
