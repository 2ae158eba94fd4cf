"""apply-memory run by dash against a scratch tree laid out like /sys.

The scratch tree holds the files with the kernel's initial values (THP
choices in `always [madvise] never` form, read-only KSM counters at 0444).
strace records every file the script opens for writing and every byte it
writes, in order, so the tests see the real sequence of writes, not the
script's own account of it.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess

import pytest

from hostspec.backends import Context, apply_script
from hostspec.model import GiB, MiB, from_document

CTX = Context("hv.mem", "0" * 64, "0.0.0", pathlib.Path("."))
KSM_VALUES = {"run": "0", "pages_to_scan": "100", "sleep_millisecs": "20",
              "merge_across_nodes": "1", "use_zero_pages": "0", "max_page_sharing": "256"}
KSM_COUNTERS = {"pages_shared": "0", "pages_sharing": "0", "pages_unshared": "0",
                "pages_volatile": "0", "full_scans": "7", "stable_node_chains": "0",
                "stable_node_dups": "0", "general_profit": "0"}
THP_VALUES = {"enabled": "always [madvise] never",
              "defrag": "always defer defer+madvise [madvise] never"}
WRITABLE = re.compile(r"kernel/mm/ksm/(run|pages_to_scan|sleep_millisecs|merge_across_nodes|use_zero_pages)"
                      r"|kernel/mm/transparent_hugepage/(enabled|defrag)"
                      r"|(kernel/mm|devices/system/node/node\d+)/hugepages/hugepages-\d+kB/nr_hugepages")

FULL_HOST = {
    "numa-nodes": 2, "thp": {"enabled": "never", "defrag": "defer+madvise"},
    "hugepages": {"pools": [{"size": 2 * MiB, "count": 64, "at": "runtime"},
                            {"size": GiB, "count": 2, "nodes": [1], "at": "runtime"}]},
    "ksm": {"run": "on", "pages-to-scan": 1000, "sleep": 50, "merge-across-nodes": False,
            "use-zero-pages": True},
}
FULL_CHANGES = [
    ("kernel/mm/transparent_hugepage/enabled", "madvise", "never"),
    ("kernel/mm/transparent_hugepage/defrag", "madvise", "defer+madvise"),
    ("kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0", "64"),
    ("devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages", "0", "2"),
    ("kernel/mm/ksm/pages_to_scan", "100", "1000"),
    ("kernel/mm/ksm/sleep_millisecs", "20", "50"),
    ("kernel/mm/ksm/use_zero_pages", "0", "1"),
    ("kernel/mm/ksm/run", "0", "2"),
    ("kernel/mm/ksm/merge_across_nodes", "1", "0"),
    ("kernel/mm/ksm/run", "2", "1"),
]


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not installed: apt-get install {package}")
    return found


def write_script(tmp_path: pathlib.Path, host: dict) -> pathlib.Path:
    doc = {"hostspec": 1, "host": {"name": "hv", "cpu": "intel", "memory": 64 * GiB, **host}}
    [artifact], _ = apply_script.apply_memory(from_document(doc), CTX)
    script = tmp_path / "apply-memory"
    script.write_bytes(artifact.data)
    script.chmod(artifact.mode)
    return script


def fake_sysfs(root: pathlib.Path, **ksm: str) -> pathlib.Path:
    """A scratch /sys with kernel-like initial values."""
    def put(path: str, value: str, mode: int = 0o644):
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(value + "\n")
        target.chmod(mode)

    for name, value in {**KSM_VALUES, **ksm}.items():
        put(f"kernel/mm/ksm/{name}", value)
    for name, value in KSM_COUNTERS.items():
        put(f"kernel/mm/ksm/{name}", ksm.get(name, value), 0o444)
    for name, value in THP_VALUES.items():
        put(f"kernel/mm/transparent_hugepage/{name}", value)
    for kb in (2048, 1048576):
        put(f"kernel/mm/hugepages/hugepages-{kb}kB/nr_hugepages", "0")
        put(f"kernel/mm/hugepages/hugepages-{kb}kB/free_hugepages", "0", 0o444)
        for node in (0, 1):
            put(f"devices/system/node/node{node}/hugepages/hugepages-{kb}kB/nr_hugepages", "0")
    return root


def state(root: pathlib.Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def value(root: pathlib.Path, path: str) -> str:
    """What the kernel would report: the bracketed choice, else the text."""
    text = (root / path).read_text().strip()
    found = re.search(r"\[([^\]]*)\]", text)
    return found.group(1) if found else text


class Run:
    def __init__(self, done: subprocess.CompletedProcess, writes: list, opened: list):
        self.returncode, self.stdout, self.stderr = done.returncode, done.stdout, done.stderr
        self.writes, self.opened = writes, opened


def run_script(script, root, *args, env=None, strace_args=()) -> Run:
    """Run under dash inside strace; record (file, bytes) written and files opened to write."""
    log = root.parent / "strace.log"
    argv = [tool("strace", "strace"), "-f", "-qq", "-y", "-s", "256", "-o", str(log),
            "-e", "trace=openat,open,creat,write", *strace_args,
            tool("dash", "dash"), str(script), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HOSTSPEC_SYSFS": str(root), **(env or {})})
    prefix = str(root) + "/"
    trace = log.read_text()
    writes = [(m.group(1)[len(prefix):], m.group(2).encode().decode("unicode_escape"))
              for m in re.finditer(r'write\(\d+<([^>]+)>, "((?:[^"\\]|\\.)*)"', trace)
              if m.group(1).startswith(prefix)]
    opened = [m.group(1)[len(prefix):]
              for m in re.finditer(r'open(?:at)?\((?:AT_FDCWD(?:<[^>]*>)?, )?"([^"]+)", ([A-Z_|]+)', trace)
              if m.group(1).startswith(prefix) and re.search(r"O_WRONLY|O_RDWR|O_CREAT", m.group(2))]
    return Run(done, writes, opened)


def changes_text(root, changes) -> str:
    return "".join(f"{root}/{path}: {old} -> {new}\n" for path, old, new in changes)


@pytest.fixture
def full(tmp_path):
    return write_script(tmp_path, FULL_HOST), fake_sysfs(tmp_path / "sys")


def test_apply_sets_every_value_and_says_each_change_in_order(full):
    script, root = full
    done = run_script(script, root)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == changes_text(root, FULL_CHANGES)
    assert done.writes == [(path, new + "\n") for path, _, new in FULL_CHANGES]
    for path, _, new in FULL_CHANGES[:-3] + FULL_CHANGES[-2:]:
        assert value(root, path) == new


def test_a_second_run_changes_nothing(full):
    script, root = full
    assert run_script(script, root).returncode == 0
    before = state(root)
    again = run_script(script, root)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert again.opened == [] and state(root) == before


def test_check_reports_differences_before_and_nothing_after(full):
    script, root = full
    before = state(root)
    check = run_script(script, root, "--check")
    assert check.returncode == 1 and check.opened == [] and state(root) == before
    reported = {line.split(": ")[0][len(str(root)) + 1:] for line in check.stdout.splitlines()}
    assert reported == {path for path, _, _ in FULL_CHANGES}
    assert f"{root}/kernel/mm/transparent_hugepage/enabled: is madvise, want never\n" in check.stdout
    assert run_script(script, root).returncode == 0
    after = run_script(script, root, "--check")
    assert (after.returncode, after.stdout, after.stderr) == (0, "", "")


def test_the_script_writes_only_the_files_it_may(full):
    script, root = full
    counters = {p: v for p, v in state(root).items() if "ksm/" in p and pathlib.Path(p).name in KSM_COUNTERS}
    done = run_script(script, root)
    assert done.returncode == 0
    assert done.opened and all(WRITABLE.fullmatch(path) for path in done.opened), done.opened
    assert {p: v for p, v in state(root).items() if p in counters} == counters
    assert all(mode & 0o777 == 0o444 for _, mode, _ in counters.values())


@pytest.mark.parametrize("ksm, initial_run, writes", [
    # run pinned by the spec: unmerge, change, then the spec's run
    ({"run": "on", "merge-across-nodes": False}, "1",
     [("run", "2"), ("merge_across_nodes", "0"), ("run", "1")]),
    ({"run": "off", "merge-across-nodes": False}, "1",
     [("run", "2"), ("merge_across_nodes", "0"), ("run", "0")]),
    # run left to the host: it gets back the value it had
    ({"merge-across-nodes": False}, "1", [("run", "2"), ("merge_across_nodes", "0"), ("run", "1")]),
    ({"merge-across-nodes": False}, "0", [("run", "2"), ("merge_across_nodes", "0"), ("run", "0")]),
    # nothing to change: run alone
    ({"run": "on", "merge-across-nodes": True}, "0", [("run", "1")]),
])
def test_merge_across_nodes_is_changed_only_while_unmerged(tmp_path, ksm, initial_run, writes):
    script = write_script(tmp_path, {"numa-nodes": 2, "ksm": ksm})
    root = fake_sysfs(tmp_path / "sys", run=initial_run, pages_shared="1200", pages_sharing="5000")
    done = run_script(script, root)
    assert done.returncode == 0, done.stderr
    assert done.writes == [(f"kernel/mm/ksm/{name}", f"{v}\n") for name, v in writes]


def test_a_missing_file_stops_it_before_anything_is_written(full):
    script, root = full
    (root / "kernel/mm/ksm/merge_across_nodes").unlink()
    shutil.rmtree(root / "devices/system/node/node1")
    before = state(root)
    for args in ((), ("--check",)):
        done = run_script(script, root, *args)
        assert done.returncode == 2 and done.opened == [] and state(root) == before
        assert f"{root}/kernel/mm/ksm/merge_across_nodes is missing" in done.stderr
        assert f"{root}/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages is missing" \
            in done.stderr


def test_fewer_huge_pages_than_asked_fails_loudly(full, tmp_path):
    """A `cat` that reports at most 10 pages stands in for a kernel that found only 10."""
    script, root = full
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cat").write_text('#!/bin/sh\ncase $1 in *nr_hugepages) v=$(/bin/cat "$1"); '
                                 '[ "$v" -gt 10 ] && v=10; echo "$v" ;; *) exec /bin/cat "$@" ;; esac\n')
    (bin_dir / "cat").chmod(0o755)
    done = run_script(script, root, env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert done.returncode == 1
    assert (f"{root}/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages: "
            "the kernel gave 10 huge pages of 64 asked (was 0)") in done.stderr
    assert value(root, "kernel/mm/ksm/run") == "1"  # the rest is still applied


def test_a_refused_write_fails_and_run_is_not_left_at_2(full):
    """strace makes the write to merge_across_nodes fail with EBUSY, as the kernel does."""
    script, root = full
    target = root / "kernel/mm/ksm/merge_across_nodes"
    done = run_script(script, root, strace_args=("-P", str(target), "-e", "inject=write:error=EBUSY"))
    assert done.returncode == 1
    assert f"cannot write 0 to {target} (was 1)" in done.stderr
    # -P traces only the target: its one write, refused.  (The plain file was
    # truncated by the shell's `>`; a sysfs file keeps its value.)
    assert done.writes == [("kernel/mm/ksm/merge_across_nodes", "0\n")]
    assert "run: 0 -> 2" in done.stdout and "run: 2 -> 1" in done.stdout
    assert value(root, "kernel/mm/ksm/run") == "1"


@pytest.mark.parametrize("args", [("--bogus",), ("--check", "extra")])
def test_usage_errors_exit_2_and_write_nothing(full, args):
    script, root = full
    done = run_script(script, root, *args)
    assert done.returncode == 2 and done.opened == [] and "usage: apply-memory" in done.stderr


@pytest.mark.parametrize("redirect", ["exec >&-", "exec >/dev/full"], ids=["closed", "full"])
def test_an_unwritable_stdout_does_not_stop_the_merge_dance_halfway(tmp_path, redirect):
    script = write_script(tmp_path, {"numa-nodes": 2, "ksm": {"run": "on", "merge-across-nodes": False}})
    root = fake_sysfs(tmp_path / "sys", run="1", pages_shared="1200", pages_sharing="5000")
    done = subprocess.run([tool("dash", "dash"), "-c", f'{redirect}; dash "$1"', "sh", str(script)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "HOSTSPEC_SYSFS": str(root)})
    assert done.returncode == 0, done.stderr
    assert value(root, "kernel/mm/ksm/merge_across_nodes") == "0" and value(root, "kernel/mm/ksm/run") == "1"


def test_a_reader_that_goes_away_does_not_stop_it_with_ksm_unmerged(tmp_path):
    script = write_script(tmp_path, {"numa-nodes": 2, "ksm": {"run": "on", "merge-across-nodes": False}})
    root = fake_sysfs(tmp_path / "sys", run="1", pages_shared="1200", pages_sharing="5000")
    status = tmp_path / "status"
    # `true` reads nothing and exits: every line the script prints meets a closed pipe.
    pipeline = f'{{ dash "$1"; echo $? >"{status}"; }} | true'
    subprocess.run([tool("dash", "dash"), "-c", pipeline, "sh", str(script)], capture_output=True,
                   timeout=60, env={**os.environ, "HOSTSPEC_SYSFS": str(root)})
    assert status.read_text().strip() == "0"
    assert value(root, "kernel/mm/ksm/merge_across_nodes") == "0" and value(root, "kernel/mm/ksm/run") == "1"
