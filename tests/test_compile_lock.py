"""Compiles into one DIR take turns (flock on DIR), and clean up after killed ones."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

from hostspec.commands import cli
from hostspec.backends import tree as emit

REPO = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "hv-intel-2node.mem"
HOST = "hv-intel-07"
ENV = dict(os.environ, PYTHONPATH=str(REPO))


def hidden(out: pathlib.Path) -> list[str]:
    return sorted(name for name in os.listdir(out) if name.startswith("."))


def test_a_killed_compile_leaves_staging_that_the_next_one_removes(tmp_path):
    out = tmp_path / "out"
    # A real process stages this host's tree and is killed before it swaps it in.
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, pathlib, signal
        from hostspec.commands import compile as compiler
        from hostspec.backends import tree as emit
        staging = emit.begin_staging(pathlib.Path({str(out)!r}))
        tree = compiler.compile_file({str(EXAMPLE)!r}).tree
        path, error = emit.stage_tree(staging, tree)
        assert error is None and path.is_dir()
        os.kill(os.getpid(), signal.SIGKILL)
        """)], env=ENV, cwd=tmp_path)
    assert killed.returncode == -9
    (left,) = hidden(out)
    assert left.startswith(f".{HOST}.tmp-")
    # What is not a leftover of this host's staging stays: another host's, look-alikes.
    keep = [f".{HOST}.tmp-notours", f".{HOST}x.old-0123abcd", ".other.tmp-0123abcd-abcdefgh",
            f".{HOST}.tmp-0123abcd-abcdefgh.bak", "notes.txt"]
    for name in keep:
        (out / name).mkdir() if not name.endswith(".txt") else (out / name).write_text("mine\n")
    stale_old = out / f".{HOST}.old-0123abcd"  # a swap's set-aside tree, killed before removal
    (stale_old / "etc").mkdir(parents=True)

    assert cli.main(["compile", "-q", str(EXAMPLE), "--out", str(out)]) == 0
    assert (out / HOST / emit.MANIFEST).is_file()
    assert sorted(set(os.listdir(out))) == sorted([HOST, *keep])


def test_a_compile_waits_for_one_holding_dir(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import pathlib, sys
            from hostspec.backends import tree as emit
            staging = emit.begin_staging(pathlib.Path({str(out)!r}))
            assert staging.lock is not None
            print("locked", flush=True)
            sys.stdin.read()  # until the test closes it
            emit.release(staging)
            """)],
        env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        waiting = subprocess.Popen([sys.executable, "-m", "hostspec", "compile", str(EXAMPLE),
                                    "--out", str(out)], env=ENV, stderr=subprocess.PIPE, text=True)
        line = waiting.stderr.readline()
        assert line == f"hostspec: waiting for another compile into `{out}` to finish\n"
        assert waiting.poll() is None and not (out / HOST).exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert waiting.wait(timeout=60) == 0
    assert waiting.stderr.read() == ""
    assert (out / HOST / emit.MANIFEST).is_file() and hidden(out) == []


def test_the_lock_is_released_after_every_outcome(tmp_path):
    out = tmp_path / "out"
    broken = tmp_path / "broken.mem"
    broken.write_text(EXAMPLE.read_text().replace("cpu intel", "cpu intell"))
    assert cli.main(["compile", "-q", str(broken), "--out", str(out)]) == 1
    assert cli.main(["compile", "-q", str(EXAMPLE), "--out", str(out)]) == 0
    waited = []
    staging = emit.begin_staging(out, lambda: waited.append(True))
    emit.release(staging)
    assert waited == [] and staging.lock is not None
