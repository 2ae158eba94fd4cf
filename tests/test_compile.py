"""`hostspec compile`: several files, all-or-nothing writes, safety, exit codes."""
from __future__ import annotations

import json
import os
import pathlib
import shutil

import pytest
from hypothesis import given, settings, strategies as st

from hostspec.commands import cli
from hostspec.backends import tree as emit
from hostspec.backends import Artifact

REPO = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.mem"))
LAB = REPO / "examples" / "lab.mem"


def compile_(*args) -> int:
    return cli.main(["compile", *map(str, args)])


def snapshot(root: pathlib.Path) -> dict:
    """Every entry under root with its bytes, mode, mtime and inode."""
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = pathlib.Path(directory, name)
            info = path.lstat()
            data = path.read_bytes() if path.is_file() and not path.is_symlink() else None
            found[str(path.relative_to(root))] = (data, info.st_mode, info.st_mtime_ns, info.st_ino)
    return found


def broken_copy(tmp_path: pathlib.Path, name: str = "broken.mem") -> pathlib.Path:
    """lab.mem with an error: same host, so it would replace lab-01's tree."""
    path = tmp_path / name
    path.write_text(LAB.read_text().replace("cpu intel", "cpu intell"))
    return path


def test_writes_one_tree_per_host_and_nothing_else(tmp_path):
    out = tmp_path / "out"
    assert compile_(*EXAMPLES, "--out", out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["amd-fleet-03", "hv-intel-07", "lab-01"]
    for host in out.iterdir():
        assert (host / emit.MANIFEST).is_file()
        assert oct(host.stat().st_mode & 0o777) == oct(0o755)


def test_failed_compile_leaves_existing_tree_exactly_as_it_was(tmp_path, capsys):
    out = tmp_path / "out"
    assert compile_(LAB, "--out", out) == 0
    before = snapshot(out)
    assert compile_(broken_copy(tmp_path), "--out", out) == 1
    assert "HS0202" in capsys.readouterr().err
    assert snapshot(out) == before


def test_an_error_in_one_file_writes_nothing_for_any_host(tmp_path):
    out = tmp_path / "out"
    assert compile_(EXAMPLES[0], broken_copy(tmp_path), EXAMPLES[1], "--out", out) == 1
    assert not out.exists()


def test_a_warning_with_strict_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    warned = tmp_path / "warned.mem"  # HS0320: `ratio` without `policy never`
    warned.write_text((REPO / "examples" / "hv-intel-2node.mem").read_text()
                      .replace("policy heuristic\n", "policy heuristic\n        ratio 50\n"))
    assert compile_(warned, "--out", out, "--strict") == 1
    assert "warning[" in capsys.readouterr().err
    assert not out.exists()
    assert compile_(warned, "--out", out) == 0


def test_users_own_files_in_dir_survive_every_compile(tmp_path):
    out = tmp_path / "out"
    (out / "other-host").mkdir(parents=True)
    (out / "notes.txt").write_text("mine\n")
    (out / "other-host" / "keep.conf").write_text("keep\n")
    (out / ".lab-01.tmp-mine").mkdir()
    theirs = snapshot(out)
    for _ in range(2):
        assert compile_(LAB, "--out", out) == 0
        assert compile_(broken_copy(tmp_path), "--out", out) == 1
        now = snapshot(out)
        assert {k: now[k] for k in theirs} == theirs


def test_recompile_replaces_the_host_tree_as_a_whole(tmp_path):
    out = tmp_path / "out"
    assert compile_(LAB, "--out", out) == 0
    (out / "lab-01" / "stale.conf").write_text("left over\n")
    (out / "lab-01" / "etc" / "hostspec" / "kernel-cmdline").write_text("edited\n")
    assert compile_(LAB, "--out", out) == 0
    fresh = tmp_path / "fresh"
    assert compile_(LAB, "--out", fresh) == 0
    assert emit.read_tree(out / "lab-01") == emit.read_tree(fresh / "lab-01")
    assert sorted(p.name for p in out.iterdir()) == ["lab-01"]  # no staging left behind


def test_a_host_dir_that_is_a_symlink_is_replaced_not_followed(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("x")
    out.mkdir()
    (out / "lab-01").symlink_to(elsewhere)
    assert compile_(LAB, "--out", out) == 0
    assert not (out / "lab-01").is_symlink() and (out / "lab-01" / emit.MANIFEST).is_file()
    assert [p.name for p in elsewhere.iterdir()] == ["precious"]


def test_failure_while_staging_changes_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert compile_(LAB, "--out", out) == 0
    before = snapshot(out)
    real, calls = emit._write_file, []

    def failing(root, relative, file):
        calls.append(relative)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(root / relative))
        real(root, relative, file)

    monkeypatch.setattr(emit, "_write_file", failing)
    assert compile_(LAB, "--out", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err
    assert snapshot(out) == before


def test_unwritable_output_is_exit_2_with_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert compile_(LAB, "--out", blocker / "sub") == 2
    assert compile_(LAB, "--out", blocker) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("hostspec: ") for line in err)


def test_missing_out_is_a_usage_error(capsys):
    assert compile_(LAB) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_two_files_naming_one_host_is_hs0408_and_writes_nothing(tmp_path, capsys):
    first, second = tmp_path / "a.mem", tmp_path / "b.mem"
    shutil.copy(LAB, first)
    shutil.copy(LAB, second)
    assert compile_(first, second, "--out", tmp_path / "out", "--format", "json") == 1
    found = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["code"], pathlib.Path(d["file"]).name) for d in found] == [("HS0408", "b.mem")]
    assert not (tmp_path / "out").exists()


def test_diagnostics_of_several_files_in_argument_order(tmp_path, capsys):
    a, b = broken_copy(tmp_path, "a.mem"), broken_copy(tmp_path, "b.mem")
    b.write_text(b.read_text().replace("lab-01", "lab-02"))
    outputs = []
    for files in ([b, a], [b], [a]):
        compile_(*files, "--out", tmp_path / "out", "--format", "json")
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] + outputs[2]
    assert outputs[1] and outputs[2]


def test_stdin_is_compiled_like_a_file(tmp_path, monkeypatch):
    import io
    import sys
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(LAB.read_bytes())))
    assert compile_("-", "--out", tmp_path / "out") == 0
    assert (tmp_path / "out" / "lab-01" / emit.MANIFEST).is_file()


# -- names can never leave DIR/<host>/ -----------------------------------------

@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "../x", "/etc", "x" * 64, "-x", "a\nb"])
def test_host_dir_refuses_unsafe_names(tmp_path, name):
    with pytest.raises(emit.UnsafePathError):
        emit.host_dir(tmp_path, name)


@settings(derandomize=True, max_examples=300)
@given(st.text(min_size=0, max_size=70))
def test_any_host_name_stays_inside_out(name):
    out = pathlib.Path("/tmp/hostspec-out")
    try:
        target = emit.host_dir(out, name)
    except emit.UnsafePathError:
        return
    assert target.parent == out and os.path.realpath(target).startswith("/tmp/hostspec-out/")


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a//b", "a/./b", "a/../../b", "etc/", "a/.."])
def test_artifact_paths_outside_the_tree_are_refused(path):
    with pytest.raises(emit.UnsafePathError):
        emit.safe_relative(path)


def test_a_tree_with_an_escaping_path_writes_nothing(tmp_path):
    from hostspec.backends import Context
    ctx = Context("x.mem", "0" * 64, "0", tmp_path)
    with pytest.raises(emit.UnsafePathError):
        emit.host_tree("h", [Artifact("../../evil", b"x", "grub", "boot")], ctx)
    tree = emit.HostTree("h", "x.mem", {"../evil": emit.File(b"x", 0o644)})
    with pytest.raises(emit.UnsafePathError):
        emit.write_trees(tmp_path / "out", [tree])
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("source, name", [
    ('hostspec 1\nhost "../etc" { cpu intel; memory 8GiB }\n', "spec.mem"),
    ('hostspec 1\nhost h { cpu intel; memory 8GiB }\nguest "../../x" { memory 1GiB }\n', "spec.mem"),
    ('{"hostspec": 1, "host": {"name": "../../tmp", "cpu": "intel", "memory": 8589934592}}', "spec.json"),
    ('{"hostspec": 1, "host": {"name": "h", "cpu": "intel", "memory": 8589934592},'
     ' "guests": [{"name": "../../evil", "memory": 1073741824}]}', "spec.json"),
])
def test_bad_names_in_the_input_are_errors_and_write_nothing(tmp_path, source, name):
    work = tmp_path / "work"
    work.mkdir()
    (work / name).write_text(source)
    assert compile_(work / name, "--out", work / "out") == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == [name, "work"]


# -- --check ---------------------------------------------------------------------

def test_check_on_a_fresh_tree_is_quiet_and_0(tmp_path, capsys):
    out = tmp_path / "out"
    assert compile_(*EXAMPLES, "--out", out) == 0
    before = snapshot(out)
    assert compile_(*EXAMPLES, "--out", out, "--check") == 0
    assert capsys.readouterr().out == ""
    assert snapshot(out) == before


def test_check_reports_a_hand_edit_with_a_diff(tmp_path, capsys):
    out = tmp_path / "out"
    assert compile_(LAB, "--out", out) == 0
    conf = out / "lab-01" / "etc" / "sysctl.d" / "90-hostspec.conf"
    conf.write_text(conf.read_text().replace("vm.nr_hugepages = 1024", "vm.nr_hugepages = 99"))
    before = snapshot(out)
    capsys.readouterr()
    assert compile_(LAB, "--out", out, "--check") == 1
    diff = capsys.readouterr().out
    assert f"--- {conf}\t(on disk, mode 0644)" in diff
    assert "-vm.nr_hugepages = 99\n+vm.nr_hugepages = 1024\n" in diff
    assert snapshot(out) == before


def test_check_reports_missing_extra_and_mode_changes(tmp_path, capsys):
    out = tmp_path / "out"
    assert compile_(LAB, "--out", out) == 0
    host = out / "lab-01"
    (host / "etc" / "hostspec" / "kernel-cmdline").unlink()
    (host / "etc" / "extra.conf").write_text("mine\n")
    (host / "usr" / "libexec" / "hostspec" / "apply-memory").chmod(0o644)
    capsys.readouterr()
    assert compile_(LAB, "--out", out, "--check") == 1
    diff = capsys.readouterr().out
    assert f"--- /dev/null\n+++ {host}/etc/hostspec/kernel-cmdline\t(compiled from lab.mem, mode 0644)\n" \
           "@@ -0,0 +1 @@\n+transparent_hugepage=always\n" in diff
    assert f"--- {host}/etc/extra.conf\t(on disk, mode 0644)\n+++ /dev/null\n@@ -1 +0,0 @@\n-mine\n" in diff
    assert f"--- {host}/usr/libexec/hostspec/apply-memory\t(on disk, mode 0644)\n" \
           f"+++ {host}/usr/libexec/hostspec/apply-memory\t(compiled from lab.mem, mode 0755)\n" in diff


def test_check_without_a_tree_reports_everything_and_creates_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert compile_(LAB, "--out", out, "--check") == 1
    golden = emit.read_tree(REPO / "tests" / "cases" / "lab" / "expected" / "lab-01")
    assert capsys.readouterr().out.count("--- /dev/null\n") == len(golden)
    assert not out.exists()


def test_check_with_errors_is_1_and_prints_no_diff(tmp_path, capsys):
    assert compile_(broken_copy(tmp_path), "--out", tmp_path / "out", "--check") == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "HS0202" in captured.err


def test_swap_exchanges_the_two_trees_in_one_step(tmp_path):
    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir()
    old.mkdir()
    (new / "n").write_text("new")
    (old / "o").write_text("old")
    assert emit._exchange(new, old)
    assert [p.name for p in old.iterdir()] == ["n"] and [p.name for p in new.iterdir()] == ["o"]


def test_without_exchange_two_renames_give_the_same_tree(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert compile_(LAB, "--out", out) == 0
    expected = emit.read_tree(out / "lab-01")
    (out / "lab-01" / "stale").write_text("x")
    monkeypatch.setattr(emit, "_exchange", lambda a, b: False)
    assert compile_(LAB, "--out", out) == 0
    assert emit.read_tree(out / "lab-01") == expected
    assert sorted(p.name for p in out.iterdir()) == ["lab-01"]
