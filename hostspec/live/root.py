"""Files under a live root (`/` or a copy of a host's files), read once each."""
from __future__ import annotations

import pathlib


def read_under(root: pathlib.Path, path: str, cache: dict) -> str | OSError:
    """The file's text, or why it cannot be read; each file is read once."""
    if path not in cache:
        try:
            cache[path] = (root / path).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            cache[path] = exc
    return cache[path]
