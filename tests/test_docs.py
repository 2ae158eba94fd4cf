"""Every ```mem example in the README and docs/ checks cleanly: documentation
that shows a spec shows one that works."""
from __future__ import annotations

import pathlib
import re

import pytest

from hostspec import api

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```mem\n(.*?)^```", re.S | re.M)
EXAMPLES = [(page, i, text) for page in PAGES for i, text in enumerate(BLOCK.findall(page.read_text()))]


def test_the_docs_have_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("page,number,text", EXAMPLES, ids=lambda x: getattr(x, "name", str(x))[:20])
def test_documented_spec_checks_cleanly(page, number, text, tmp_path):
    spec = tmp_path / f"{page.stem}-{number}.mem"
    spec.write_text(text)
    result = api.check(str(spec))
    assert not result.failed(), [f"{d.code} {d.message}" for d in result.diagnostics]
