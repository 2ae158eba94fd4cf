"""apply-boot when things go wrong: a read-only or missing place, a full disk,
a run killed between two files.  No file is ever half written, a rerun
converges, and the state file never claims arguments that are not in place.

The places are the `bls` target's (entries written by the real kernel-install,
etc/kernel/cmdline, etc/default/grub).  Read-only and full file systems are real
mounts in a private mount namespace (`unshare -m`); the kill comes from a `mv`
placed first on PATH that runs the real /bin/mv unless it is the Nth call,
where it SIGKILLs the script instead.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import shlex
import shutil

import pytest

from boottools import (APPLY_BOOT, compile_tree, kernel_install_add, kernel_install_root,
                       our_words, run, spec, tool)

ADMIN = "root=/dev/vda1 ro hugepagesz=2M hugepages=16 quiet"
OLD = "pool 1GiB count 1 node 1; pool 2MiB count 64 node 0; pool 2MiB count 32 node 1"
NEW = "pool 1GiB count 2 node 1; pool 2MiB count 10"


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    work = tmp_path_factory.mktemp("trees")
    return compile_tree(spec("bls", OLD), work / "old"), compile_tree(spec("bls", NEW), work / "new")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> pathlib.Path:
    """A bls root as kernel-install and an installer leave it."""
    root = tmp_path_factory.mktemp("template") / "root"
    kernel_install_root(root, ADMIN, versions=("5.14.0-500.el9.x86_64", "5.14.0-501.el9.x86_64"))
    kernel_install_add(root)
    (root / "etc/default").mkdir()
    (root / "etc/default/grub").write_text(f'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="{ADMIN}"\n')
    return root


def fresh(template: pathlib.Path, where: pathlib.Path) -> pathlib.Path:
    root = where / "root"
    shutil.copytree(template, root, symlinks=True)
    return root


def places(root: pathlib.Path) -> dict[str, str]:
    """Each place's argument line."""
    found = {"etc/kernel/cmdline": (root / "etc/kernel/cmdline").read_text().strip()}
    for entry in sorted((root / "boot/loader/entries").glob("*.conf")):
        options = [line for line in entry.read_text().splitlines() if line.startswith("options")]
        found[entry.relative_to(root).as_posix()] = options[0].split(None, 1)[1]
    text = (root / "etc/default/grub").read_text()
    found["etc/default/grub"] = text.split('GRUB_CMDLINE_LINUX="')[1].split('"')[0]
    return found


def everything(root: pathlib.Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()}


def sh(root: pathlib.Path, tree: pathlib.Path, *args: str, env=None):
    return run(tool("dash", "dash"), tree / APPLY_BOOT, *args,
               env=dict(env or os.environ, HOSTSPEC_ROOT=str(root)))


def state_lists(root: pathlib.Path) -> list[str]:
    """The argument lists the state claims each place holds one of."""
    path = root / "var/lib/hostspec/boot-args"
    if not path.exists():
        return [""]
    lines = path.read_text().splitlines()
    assert all(line.split(" ", 1)[0] in ("args", "next") for line in lines)
    return [line.split(" ", 1)[1] if " " in line else "" for line in lines]


def claims_hold(root: pathlib.Path) -> None:
    """Every place is the admin's line plus exactly one list the state names."""
    lists = state_lists(root)
    for name, line in places(root).items():
        assert any(line == (ADMIN + " " + words).strip() for words in lists), (name, line, lists)


def test_a_read_only_entry_stops_the_run_before_anything_is_written(template, trees, tmp_path):
    root = fresh(template, tmp_path)
    before = everything(root)
    entries = shlex.quote(str(root / "boot/loader/entries"))
    script = shlex.quote(str(trees[0] / APPLY_BOOT))
    done = run(tool("unshare", "util-linux"), "-m", "sh", "-c",
               f"mount --bind {entries} {entries} && mount -o remount,ro,bind {entries} && "
               f"HOSTSPEC_ROOT={shlex.quote(str(root))} dash {script}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "read-only" in done.stderr and "nothing was changed" in done.stderr
    assert everything(root) == before  # not one place, no state, no temporary file


@pytest.mark.parametrize("missing", ["boot/loader/entries", "etc/kernel/cmdline", "etc/default/grub"])
def test_a_missing_place_stops_the_run_before_anything_is_written(template, trees, tmp_path, missing):
    root = fresh(template, tmp_path)
    target = root / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    if missing == "boot/loader/entries":
        target.mkdir()
    before = everything(root)
    done = sh(root, trees[0])
    assert done.returncode == 2 and "nothing was changed" in done.stderr
    assert everything(root) == before


def test_an_unreadable_state_file_stops_the_run(template, trees, tmp_path):
    root = fresh(template, tmp_path)
    (root / "var/lib/hostspec/boot-args").mkdir(parents=True)  # a directory where the file goes
    before = everything(root)
    done = sh(root, trees[0])
    assert done.returncode == 2 and "boot-args" in done.stderr
    assert everything(root) == before


def test_a_full_disk_leaves_every_file_whole(template, trees, tmp_path):
    """The root on a 1 MiB tmpfs, filled up: apply-boot cannot write its temporary
    copies in full, says so, and leaves the old files and no temporary one."""
    source = fresh(template, tmp_path)
    mounted = tmp_path / "full"
    mounted.mkdir()
    script = shlex.quote(str(trees[0] / APPLY_BOOT))
    m, s = shlex.quote(str(mounted)), shlex.quote(str(source))
    done = run(tool("unshare", "util-linux"), "-m", "sh", "-c", f"""
        mount -t tmpfs -o size=1m tmpfs {m} && cp -a {s}/. {m}/ &&
        {{ dd if=/dev/zero of={m}/filler bs=4k 2>/dev/null; true; }} &&
        HOSTSPEC_ROOT={m} dash {script} >&2; echo "rc=$?"
        cd {m} && find . -type f ! -name filler | sort | while read -r f; do
            printf '%s %s\\n' "$(sha256sum < "$f" | cut -c1-64)" "$f"; done""")
    assert "rc=2" in done.stdout, done.stdout + done.stderr
    assert "disk full" in done.stderr and "nothing was changed" in done.stderr
    want = sorted(f"{hashlib.sha256(data).hexdigest()} ./{name}" for name, data in everything(source).items())
    assert sorted(line for line in done.stdout.splitlines() if not line.startswith("rc=")) == want


KILLING_MV = r"""#!/bin/sh
# The real mv, except on call number $KILL_AT: then the script that called it dies.
n=$(cat "$MV_COUNT" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" >"$MV_COUNT"
if [ "$n" -eq "$KILL_AT" ]; then
    kill -KILL "$PPID"
    exit 1
fi
exec /bin/mv "$@"
"""


def test_a_run_killed_between_any_two_files_converges(template, trees, tmp_path):
    old_tree, new_tree = trees
    old_words, new_words = " ".join(our_words(old_tree)), " ".join(our_words(new_tree))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mv").write_text(KILLING_MV)
    (bin_dir / "mv").chmod(0o755)
    # renames of one run: the state (pending), 2 entries, cmdline, grub, the state (done)
    for kill_at in range(1, 7):
        work = tmp_path / f"kill-{kill_at}"
        work.mkdir()
        root = fresh(template, work)
        assert sh(root, old_tree).returncode == 0
        claims_hold(root)
        env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", KILL_AT=str(kill_at),
                   MV_COUNT=str(work / "count"))
        killed = sh(root, new_tree, env=env)
        assert killed.returncode != 0, kill_at
        claims_hold(root)  # each place whole, and one of the lists the state names
        for line in places(root).values():
            assert line in (ADMIN + " " + old_words, ADMIN + " " + new_words)
        assert sh(root, new_tree, "--check").returncode == 1
        again = sh(root, new_tree)
        assert again.returncode == 0, again.stderr
        assert set(places(root).values()) == {ADMIN + " " + new_words}
        assert state_lists(root) == [new_words]
        assert sh(root, new_tree, "--check").returncode == 0
        leftovers = [p for p in root.rglob(".*") if "hostspec-" in p.name or "boot-args." in p.name]
        assert leftovers == []  # the killed run's temporary copies are gone after the rerun


def test_a_second_run_waits_for_the_first(template, trees, tmp_path):
    """apply-boot holds flock(2) on etc/kernel while it runs: one that starts
    meanwhile changes nothing until the first lets go, then finishes the job."""
    import fcntl
    import subprocess
    import time

    old_tree, new_tree = trees
    root = fresh(template, tmp_path)
    assert sh(root, old_tree).returncode == 0
    before = everything(root)
    held = os.open(root / "etc/kernel", os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a first apply-boot would
        second = subprocess.Popen([tool("dash", "dash"), str(new_tree / APPLY_BOOT)],
                                  env=dict(os.environ, HOSTSPEC_ROOT=str(root)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert second.poll() is None and everything(root) == before
    finally:
        os.close(held)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert set(places(root).values()) == {ADMIN + " " + " ".join(our_words(new_tree))}


def test_runs_at_the_same_time_take_turns(template, trees, tmp_path):
    old_tree, new_tree = trees
    root = fresh(template, tmp_path)
    assert sh(root, old_tree).returncode == 0
    script = shlex.quote(str(new_tree / APPLY_BOOT))
    runs = " ".join(f"dash {script} >/dev/null & " for _ in range(4))
    done = run("sh", "-c", f"{runs} wait", env=dict(os.environ, HOSTSPEC_ROOT=str(root)))
    assert done.returncode == 0, done.stderr
    new_line = ADMIN + " " + " ".join(our_words(new_tree))
    assert set(places(root).values()) == {new_line}  # once, not four times
    assert state_lists(root) == [" ".join(our_words(new_tree))]
