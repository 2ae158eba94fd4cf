"""The error corpus: one fixture per diagnostic code, asserting (code, line, column).

A fixture is a `.mem` file under tests/errors/ named `HSxxxx-<name>.mem`.  A
line that must produce a diagnostic ends with `# E: HSxxxx@COL` (or `W:` for a
warning, `N:` for a note; `@COL` is optional).  Other lines are look-alikes
that must pass.  Markers in files the fixture includes count too.  Notes are
compared only when a file carries an `N:` marker.
"""
from __future__ import annotations

import pathlib
import re

import pytest

from hostspec import api
from hostspec.diagnostics.codes import CODES
from hostspec.diagnostics import Severity
from hostspec.diagnostics.render import to_text

ERRORS = pathlib.Path(__file__).parent / "errors"
FIXTURES = sorted(ERRORS.glob("HS*.mem"))
MARKER = re.compile(r"#.*?\b([EWN]): (HS\d{4})(?:@(\d+))?")
INCLUDE = re.compile(r'^\s*include\s+"([^"]+)"', re.M)
# Codes that no single fixture file can show (inputs too large or too deep,
# several files in one call, or a guard that valid input can never reach):
# each is proven by the named test instead, which must exist.
ELSEWHERE = {
    "HS0225": "test_error_corpus.py::test_generated_HS0225_include_depth",
    "HS0228": "test_error_corpus.py::test_generated_HS0228_too_many_guests",
    "HS0901": "test_error_corpus.py::test_generated_HS0901_source_too_large",
    "HS0902": "test_error_corpus.py::test_generated_HS0902_unreadable",
    "HS0401": "test_backends.py::test_unsafe_argument_is_hs0401_and_writes_nothing",
    "HS0408": "test_compile.py::test_two_files_naming_one_host_is_hs0408_and_writes_nothing",
    "HS0409": "test_layouts.py::test_a_repeated_argument_is_hs0409_and_writes_nothing",
    "HS0402": "test_libvirt_hostile.py::test_unreadable_bases",
    "HS0403": "test_libvirt_hostile.py::test_hostile_base_end_to_end",
    "HS0404": "test_libvirt_hostile.py::test_hostile_base_end_to_end",
    "HS0405": "test_libvirt_hostile.py::test_hostile_base_end_to_end",
    "HS0406": "test_libvirt_hostile.py::test_a_100_mib_base_is_refused_before_it_is_read",
    "HS0407": "test_libvirt_merge.py::test_base_settings_that_contradict_the_guest",
}


def expected_markers(fixture: pathlib.Path) -> set[tuple]:
    """Every marker in the fixture and in the files it includes."""
    found, todo, seen = set(), [fixture], set()
    while todo:
        path = todo.pop()
        if path in seen or not path.exists():
            continue
        seen.add(path)
        text = path.read_bytes().decode("utf-8", "replace")
        for number, line in enumerate(text.splitlines(), 1):
            for kind, code, col in MARKER.findall(line):
                found.add((path.name, kind, code, number, int(col) if col else None))
        todo += [(path.parent / inc) for inc in INCLUDE.findall(text)]
    return found


def actual(fixture: pathlib.Path, with_notes: bool) -> list:
    result = api.check(str(fixture))
    kinds = {Severity.ERROR: "E", Severity.WARNING: "W", Severity.NOTE: "N"}
    return [d for d in result.diagnostics if with_notes or d.severity != Severity.NOTE], kinds


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_fixture_reports_exactly_its_markers(fixture):
    markers = expected_markers(fixture)  # none: a look-alike file that must pass
    with_notes = any(kind == "N" for _, kind, *_ in markers)
    diagnostics, kinds = actual(fixture, with_notes)
    wanted_cols = {(f, k, c, n) for f, k, c, n, col in markers if col is None}
    got = set()
    for d in diagnostics:
        key = (pathlib.Path(d.span.file.name).name, kinds[d.severity], d.code, d.span.line)
        got.add(key + ((None,) if key in wanted_cols else (d.span.column,)))
    assert got == markers, "\n".join(to_text(d) for d in diagnostics)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_fixture_code_matches_its_name(fixture):
    code = fixture.name.split("-")[0]
    assert code in CODES
    codes = {c for _, _, c, _, _ in expected_markers(fixture)}
    assert not codes or code in codes


def test_every_registered_code_has_a_fixture():
    covered = {p.name.split("-")[0] for p in FIXTURES} | set(ELSEWHERE)
    assert sorted(set(CODES) - covered) == []


@pytest.mark.parametrize("code", sorted(ELSEWHERE))
def test_codes_proven_elsewhere_name_a_real_test(code):
    module, function = ELSEWHERE[code].split("::")
    text = (pathlib.Path(__file__).parent / module).read_text()
    assert f"def {function}(" in text and code in text


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_rendered_errors_show_location_source_and_caret(fixture):
    for d in api.check(str(fixture)).diagnostics:
        text = to_text(d)
        assert f"{d.span.file.name}:{d.span.line}:{d.span.column}" in text
        assert d.span.file.line_text(d.span.line).rstrip() in text
        assert "^" in text
        if d.span.file.included_from is not None:
            assert "included from" in text


def _write_chain(tmp_path: pathlib.Path, depth: int) -> pathlib.Path:
    for i in range(depth):
        (tmp_path / f"i{i}.mem").write_text(f'hostspec 1\ninclude "i{i + 1}.mem"\n')
    (tmp_path / f"i{depth}.mem").write_text("hostspec 1\ntemplate t { memory 1GiB }\n")
    top = tmp_path / "top.mem"
    top.write_text('hostspec 1\ninclude "i0.mem"\nhost h { cpu intel; memory 4GiB }\n'
                   "guest g from t { }\n")
    return top


def test_generated_HS0225_include_depth(tmp_path):
    assert api.check(str(_write_chain(tmp_path, 31))).diagnostics == []
    codes = [d.code for d in api.check(str(_write_chain(tmp_path, 32))).diagnostics]
    assert "HS0225" in codes


def test_generated_HS0228_too_many_guests(tmp_path):
    ranges = "".join(f"guest r{i}-{{1..4096}} {{ memory 1GiB }}\n" for i in range(16))
    spec = tmp_path / "many.mem"
    spec.write_text("hostspec 1\nhost h { cpu intel; memory 64GiB }\n" + ranges + "guest one-more { memory 1GiB }\n")
    result = api.load(str(spec))
    assert [(d.code, d.span.line) for d in result.diagnostics if d.code == "HS0228"] == [("HS0228", 19)]


def test_generated_HS0901_source_too_large(tmp_path):
    spec = tmp_path / "big.mem"
    spec.write_bytes(b"hostspec 1\n" + b"#" * (16 * 1024 * 1024))
    result = api.check(str(spec))
    assert [d.code for d in result.diagnostics] == ["HS0901"]


def test_generated_HS0902_unreadable(tmp_path):
    result = api.check(str(tmp_path / "absent.mem"))
    assert [d.code for d in result.diagnostics] == ["HS0902"]
