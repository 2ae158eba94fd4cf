"""Property: any input ends in diagnostics or success, never an exception,
and every span lies inside its source.  Over 10,000 inputs per run, with a
fixed seed so CI is repeatable: random bytes, random token soup, and one-edit
mutations of the bundled examples."""
from __future__ import annotations

import pathlib

from hypothesis import HealthCheck, given, settings, strategies as st

from hostspec import api

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.mem"))
TEXTS = {path: path.read_bytes() for path in EXAMPLES}

TOKENS = ["hostspec", "1", "2", "include", '"templates/fleet.mem"', "host", "guest", "template",
          "from", "{", "}", ";", "\n", "#", " ", "cpu", "intel", "amd", "memory", "4GiB", "4GB",
          "0", "99999999999999999999", "hugepages", "pool", "2MiB", "1GiB", "count", "node", "0-1",
          "at", "runtime", "backing", "balloon", "virtio", "none", "ksm", "run", "on", "off",
          "web-{01..20}", "{1..9999}", '"', "\\", "kvm", "ept", "npt", "thp", "enabled", "never",
          "overcommit", "max-ratio", "1.5", "\t", "\u00e9", "sleep", "20ms", "stats-period", "base"]


def settings_for(count: int):
    return settings(max_examples=count, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def assert_clean_outcome(name: str, data: bytes) -> None:
    result = api.check(name, stdin=data)
    for diagnostic in result.diagnostics:
        spans = [diagnostic.span] + [label.span for label in diagnostic.labels]
        for span in filter(None, spans):
            assert 0 <= span.start <= span.end <= len(span.file.text)
            assert 1 <= span.line <= span.file.line_count
    if result.spec is None:
        assert result.diagnostics, "no model and no diagnostic"


@settings_for(4000)
@given(st.binary(max_size=300))
def test_random_bytes(data):
    assert_clean_outcome(str(EXAMPLES[0]), data)


@settings_for(3000)
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_random_tokens(tokens):
    assert_clean_outcome(str(EXAMPLES[0]), " ".join(tokens).encode())


@st.composite
def one_edit(draw):
    path = draw(st.sampled_from(EXAMPLES))
    text = TEXTS[path]
    at = draw(st.integers(0, len(text)))
    kind = draw(st.sampled_from(["delete", "insert", "replace"]))
    piece = draw(st.sampled_from([t.encode() for t in TOKENS]) | st.binary(min_size=1, max_size=3))
    if kind == "delete":
        edited = text[:at] + text[at + draw(st.integers(1, 8)):]
    elif kind == "insert":
        edited = text[:at] + piece + text[at:]
    else:
        edited = text[:at] + piece + text[at + len(piece):]
    return str(path), edited


@settings_for(3200)
@given(one_edit())
def test_one_edit_mutations_of_examples(case):
    assert_clean_outcome(*case)
