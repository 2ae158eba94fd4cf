"""Golden trees: each case compiles to its committed expected/ tree, byte for byte.

`--update-golden` (or `python tests/update_golden.py`) rewrites them instead.
"""
from __future__ import annotations

import difflib
import json
import pathlib

import pytest

import update_golden
from hostspec.backends import tree as emit

CASES = update_golden.case_dirs()


def _exec_bit(mode: int) -> bool:
    return bool(mode & 0o100)


def _text_diff(path: str, old: bytes, new: bytes) -> str:
    return "".join(difflib.unified_diff(
        old.decode(errors="replace").splitlines(keepends=True),
        new.decode(errors="replace").splitlines(keepends=True),
        f"expected/{path}", f"compiled/{path}"))


@pytest.fixture
def update(request) -> bool:
    return request.config.getoption("--update-golden")


def test_every_example_has_a_case():
    missing = [case.name for case in update_golden.example_cases() if not (case / "expected").is_dir()]
    assert not missing, f"examples without a golden tree (run tests/update_golden.py): {missing}"


def test_examples_exist():
    names = {case.name for case in update_golden.example_cases()}
    assert {"hv-intel-2node", "amd-ksm-fleet", "lab"} <= names


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case_matches_golden_tree(case: pathlib.Path, update: bool):
    if update:
        update_golden.update(case)
    tree = update_golden.compile_case(case)
    expected_root = case / "expected"
    assert sorted(p.name for p in expected_root.iterdir()) == [tree.host], \
        "expected/ must hold exactly the host's tree"
    on_disk = emit.read_tree(expected_root / tree.host)
    assert sorted(on_disk) == sorted(tree.files), "the set of files differs"
    diffs = [_text_diff(path, on_disk[path].data, file.data)
             for path, file in tree.files.items() if on_disk[path].data != file.data]
    assert not diffs, "".join(diffs)
    # Git keeps only the executable bit; the exact modes are pinned by the
    # manifest (compared above) and by the written tree (below).
    assert {p: _exec_bit(f.mode) for p, f in on_disk.items()} == \
        {p: _exec_bit(f.mode) for p, f in tree.files.items()}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_written_tree_has_manifest_modes(case: pathlib.Path, tmp_path: pathlib.Path):
    tree = update_golden.compile_case(case)
    emit.write_trees(tmp_path, [tree])
    written = emit.read_tree(tmp_path / tree.host)
    manifest = json.loads(written[emit.MANIFEST].data)
    assert {a["path"]: int(a["mode"], 8) for a in manifest["artifacts"]} == \
        {p: f.mode for p, f in written.items() if p != emit.MANIFEST}
    assert written[emit.MANIFEST].mode == 0o644
    assert written == tree.files
