"""The same input gives byte-identical trees under any hash seed, locale and working directory."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from hostspec.backends import tree as emit

REPO = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.mem"))


def compile_in(cwd: pathlib.Path, out: pathlib.Path, seed: str, locale: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env.update(PYTHONHASHSEED=seed, LC_ALL=locale, PYTHONPATH=str(REPO), TZ="Pacific/Kiritimati")
    done = subprocess.run([sys.executable, "-m", "hostspec", "compile",
                           *[os.path.relpath(path, cwd) for path in EXAMPLES], "--out", str(out)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_two_runs_in_different_conditions_give_identical_trees(tmp_path):
    elsewhere = tmp_path / "deep" / "cwd"
    elsewhere.mkdir(parents=True)
    compile_in(REPO, tmp_path / "a", "0", "C")
    compile_in(elsewhere, tmp_path / "b", "4242", "C.UTF-8")
    hosts = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert hosts == sorted(p.name for p in (tmp_path / "b").iterdir()) and len(hosts) == len(EXAMPLES)
    for host in hosts:
        first, second = emit.read_tree(tmp_path / "a" / host), emit.read_tree(tmp_path / "b" / host)
        assert first and first == second, host
