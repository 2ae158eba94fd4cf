"""The user documentation cites only files a checkout of the project has."""
from __future__ import annotations

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parent.parent
PAGES = sorted([*REPO.glob("docs/*.md"), REPO / "README.md", REPO / "bench" / "README.md",
                REPO / "CHANGELOG.md"])
# What a page cites: another page (`docs/libvirt.md`, `ARTIFACTS.md`), or a file
# of the project by its path (`schemas/hostspec-v1.schema.json`, `bench/run.py`).
CITED = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.md"
                   r"|(?:bench|docs|examples|hostspec|schemas|tests)/[\w./-]*\w)(?![\w/-])")


def test_every_cited_file_exists():
    missing = []
    for page in PAGES:
        for name in CITED.findall(page.read_text("utf-8")):
            if "xxxx" in name:  # a pattern (`tests/errors/HSxxxx-name.mem`), not a file
                continue
            if not ((REPO / name).exists() or (page.parent / name).exists()):
                missing.append(f"{page.relative_to(REPO)}: {name}")
    assert missing == []
