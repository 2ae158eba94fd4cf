"""`-j N`: compiling and checking in worker processes gives what `-j 1` gives.

Same trees byte for byte, same diagnostics in the order of the files on the
command line, the same all-or-nothing rule and the same HS0408 across files.
"""
from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

from hostspec.commands import cli
from hostspec.backends import tree as emit

REPO = pathlib.Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("fleet_generator", REPO / "bench" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _generator()


@pytest.fixture
def fleet(tmp_path) -> list[pathlib.Path]:
    """20 clean hosts of 20 guests, listed out of name order (order must come from the command line)."""
    paths = generate.write_fleet(tmp_path / "fleet", 20, 20)
    return paths[7:] + paths[:7]


def run(capsys, *args) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def snapshot(root: pathlib.Path) -> dict:
    """Every entry under root with its bytes, mode, mtime and inode: any rewrite shows."""
    found = {}
    for path in root.rglob("*"):
        info = path.lstat()
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        found[str(path.relative_to(root))] = (data, info.st_mode, info.st_mtime_ns, info.st_ino)
    return found


def trees(out: pathlib.Path) -> dict[str, dict]:
    """Every host directory under `out` as path -> (bytes, mode), and nothing else there."""
    return {entry.name: emit.read_tree(entry) for entry in sorted(out.iterdir())}


def break_some(paths: list[pathlib.Path]) -> list[pathlib.Path]:
    """Four files made wrong in four ways (syntax, structure, capacity, a warning); the broken ones."""
    edits = [("    }\n}\n", "    }\n"),                          # unclosed host block
             ("    reserve 8GiB\n", "    reserve 8GiB\n    colour blue\n"),  # unknown key
             ("count 2323 node 0", "count 1 node 0"),              # hugepage demand exceeds the pool
             ("policy heuristic\n", "policy heuristic\n        ratio 50\n")]  # HS0320: a warning
    broken = [paths[1], paths[6], paths[11], paths[16]]
    for path, (old, new) in zip(broken, edits):
        text = path.read_text()
        assert old in text, (path, old)
        path.write_text(text.replace(old, new, 1))
    return broken


def test_j2_writes_the_same_trees_as_j1(fleet, tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    assert run(capsys, "compile", "-j", "1", *fleet, "--out", one) == (0, "", "")
    assert run(capsys, "compile", "-j", "2", *fleet, "--out", two) == (0, "", "")
    written = trees(one)
    assert sorted(written) == sorted(path.stem for path in fleet)
    assert trees(two) == written
    assert sorted(p.name for p in two.iterdir()) == sorted(written)  # no staging left behind


def test_j0_uses_every_cpu_and_writes_the_same_trees(fleet, tmp_path, capsys):
    assert run(capsys, "compile", *fleet, "--out", tmp_path / "default")[0] == 0
    assert run(capsys, "compile", "-j", "0", *fleet, "--out", tmp_path / "all")[0] == 0
    assert trees(tmp_path / "all") == trees(tmp_path / "default")


def test_j2_replaces_existing_trees_like_j1(fleet, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(capsys, "compile", "-j", "2", *fleet, "--out", out)[0] == 0
    stale = out / fleet[0].stem / "stale.conf"
    stale.write_text("left over\n")
    assert run(capsys, "compile", "-j", "2", *fleet, "--out", out)[0] == 0
    assert not stale.exists()
    assert run(capsys, "compile", "-j", "1", *fleet, "--out", out, "--check") == (0, "", "")


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_errors_in_some_files_write_nothing_and_report_alike(fleet, tmp_path, capsys, fmt):
    broken = break_some(fleet)
    out = tmp_path / "out"
    results = {jobs: run(capsys, "compile", "-j", jobs, "--format", fmt, "--color", "never",
                         *fleet, "--out", out) for jobs in ("1", "2")}
    assert results["2"] == results["1"]
    status, stdout, stderr = results["1"]
    assert status == 1 and not out.exists()
    assert all(path.name in stdout + stderr for path in broken)


def test_diagnostics_follow_the_command_line_order(fleet, tmp_path, capsys):
    broken = break_some(fleet)
    for jobs in ("1", "2"):
        status, stdout, _ = run(capsys, "compile", "-j", jobs, "--format", "json",
                                *fleet, "--out", tmp_path / "out")
        files = [pathlib.Path(json.loads(line)["file"]).name for line in stdout.splitlines()]
        assert status == 1
        assert list(dict.fromkeys(files)) == [path.name for path in broken]


def test_errors_leave_an_existing_dir_untouched(fleet, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(capsys, "compile", "-j", "2", *fleet, "--out", out)[0] == 0
    before = snapshot(out)
    break_some(fleet)
    assert run(capsys, "compile", "-j", "2", *fleet, "--out", out)[0] == 1
    assert snapshot(out) == before


def test_check_j2_reports_like_j1(fleet, capsys):
    break_some(fleet)
    results = {jobs: run(capsys, "check", "-j", jobs, "--format", "json", *fleet) for jobs in ("1", "2")}
    assert results["2"] == results["1"]
    status, stdout, _ = results["1"]
    assert status == 1 and {json.loads(line)["code"] for line in stdout.splitlines()} >= {
        "HS0104", "HS0201", "HS0301", "HS0320"}


def test_check_j2_strict_fails_on_a_warning_only(fleet, capsys):
    break_some(fleet)
    status, _, stderr = run(capsys, "check", "-j", "2", *fleet[12:])  # only fleet[16] is wrong
    assert status == 0 and "warning[HS0320]" in stderr and fleet[16].name in stderr
    assert run(capsys, "check", "-j", "2", "--strict", *fleet[12:])[0] == 1


def test_duplicate_host_across_files_is_hs0408_with_j2(fleet, tmp_path, capsys):
    copy = tmp_path / "again.mem"
    copy.write_text(fleet[3].read_text())
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "fleet.mem").write_text(generate.TEMPLATES)
    files = [*fleet[:10], copy, *fleet[10:]]
    results = {jobs: run(capsys, "compile", "-j", jobs, "--format", "json", *files,
                         "--out", tmp_path / "out") for jobs in ("1", "2")}
    assert results["2"] == results["1"]
    status, stdout, _ = results["2"]
    (found,) = [json.loads(line) for line in stdout.splitlines()]
    assert status == 1 and not (tmp_path / "out").exists()
    assert found["code"] == "HS0408" and pathlib.Path(found["file"]).name == "again.mem"
    assert fleet[3].name in found["message"]


def test_a_staging_failure_in_a_worker_changes_nothing(fleet, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert run(capsys, "compile", "-j", "2", *fleet, "--out", out)[0] == 0
    before = snapshot(out)
    victim, real = fleet[12].stem, emit._write_file

    def failing(root, relative, file):  # workers are forked, so they inherit this
        if root.name.startswith(f".{victim}.tmp-"):
            raise OSError(28, "No space left on device", str(root / relative))
        real(root, relative, file)

    monkeypatch.setattr(emit, "_write_file", failing)
    status, _, stderr = run(capsys, "compile", "-j", "2", *fleet, "--out", out)
    assert status == 2 and stderr.count("\n") == 1 and "No space left on device" in stderr
    assert snapshot(out) == before


@pytest.mark.parametrize("value", ["-1", "x", "1.5", "²"])
def test_a_bad_job_count_is_a_usage_error(value, fleet, tmp_path, capsys):
    status, _, stderr = run(capsys, "compile", "-j", value, *fleet, "--out", tmp_path / "out")
    assert status == 2 and f"expected a number of jobs, 0 or more, not {value!r}" in stderr
    assert run(capsys, "check", "-j", value, *fleet)[0] == 2


def test_stdin_among_files_with_j2(fleet, tmp_path):
    """A real process: stdin is read once by the driver and handed to a worker."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    names = [str(path) for path in fleet[1:]]
    for jobs, out in (("1", "one"), ("2", "two")):
        subprocess.run([sys.executable, "-m", "hostspec", "compile", "-j", jobs, "-", *names,
                        "--out", str(tmp_path / out)], input=fleet[0].read_bytes(), check=True,
                       cwd=fleet[0].parent, env=env, timeout=120)
    assert trees(tmp_path / "two") == trees(tmp_path / "one")
    assert fleet[0].stem in trees(tmp_path / "two")


def test_errors_create_no_output_directory_at_any_depth(fleet, tmp_path, capsys):
    """Workers stage clean trees while others still compile; an error removes them all."""
    break_some(fleet)
    out = tmp_path / "a" / "b" / "out"
    assert run(capsys, "compile", "-j", "2", *fleet, "--out", out)[0] == 1
    assert not (tmp_path / "a").exists()


def test_an_unwritable_dir_reports_the_diagnostics_first(fleet, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, _, stderr = run(capsys, "compile", "-j", "2", *fleet, "--out", blocker / "out")
    assert status == 2 and stderr.startswith("hostspec: cannot write") and stderr.count("\n") == 1
    break_some(fleet)
    status, _, stderr = run(capsys, "compile", "-j", "2", "--color", "never", *fleet,
                            "--out", blocker / "out")
    assert status == 1 and "error[HS0301]" in stderr and "cannot write" not in stderr


@pytest.mark.parametrize("check", [(), ("--check",)])
def test_an_unreadable_file_is_exit_2_as_in_check(fleet, tmp_path, capsys, check):
    files = [*fleet[:5], tmp_path / "missing.mem", *fleet[5:]]
    out = tmp_path / "out"
    results = {jobs: run(capsys, "compile", "-j", jobs, *check, *files, "--out", out) for jobs in ("1", "2")}
    assert results["2"] == results["1"]
    status, _, stderr = results["1"]
    assert status == 2 and "HS0902" in stderr and not out.exists()
    assert run(capsys, "check", *files)[0] == 2


def test_check_mode_prints_the_same_diff_with_j2(fleet, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(capsys, "compile", *fleet, "--out", out)[0] == 0
    (out / fleet[4].stem / emit.MANIFEST).write_text("{}\n")
    (out / fleet[15].stem / "extra.conf").write_text("mine\n")
    before = snapshot(out)
    results = {jobs: run(capsys, "compile", "-j", jobs, "--check", *fleet, "--out", out)
               for jobs in ("1", "2")}
    assert results["2"] == results["1"]
    status, diff, _ = results["1"]
    assert status == 1 and diff.index(fleet[4].stem) < diff.index(fleet[15].stem)
    assert snapshot(out) == before
