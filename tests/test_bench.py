"""bench/run.py, run small: every target gets a verdict, and the exit status follows them.

The numbers of so small a run mean nothing and are not asserted; what is
asserted is what the benchmark promises its users: a pass/FAIL line for each
target, a summary that names the failed ones, exit 1 exactly when one failed,
and nothing left in the work directory.
"""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
TARGETS = ["compile latency / import baseline", "compile, 20 guests / import floor",
           "check, 20 guests / import floor", "separate calls / -j 2", "-j 1 / -j 2",
           "check 4 guests / 2 guests", "compile 4 guests / 2 guests",
           "peak memory, compile 4 guests", "check latency / import baseline",
           "lsp re-check / plain parse"]


def test_every_target_gets_a_verdict(tmp_path):
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--runs", "1", "--latency-runs", "1", "--hosts", "4",
         "--sample", "2", "--guests", "2,4", "--work", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.stderr == "" and done.returncode in (0, 1), done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"hostspec benchmarks: {os.cpu_count()} cores, ")
    verdicts = re.findall(r"^  (pass|FAIL)  (.+?): \d+\.\d\d(?:x| MiB) \(target [<>]= [\d.]+",
                          done.stdout, re.M)
    assert [name for _, name in verdicts] == TARGETS
    failed = [name for outcome, name in verdicts if outcome == "FAIL"]
    assert lines[-1] == ("FAILED: " + ", ".join(failed) if failed else "all targets met")
    assert done.returncode == (1 if failed else 0)
    assert list(tmp_path.iterdir()) == []  # inputs and outputs removed


def test_bad_sizes_are_refused():
    done = subprocess.run([sys.executable, "bench/run.py", "--guests", "20,2"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "0 < FEW < MANY" in done.stderr


def test_a_missing_work_directory_is_a_usage_error_not_a_traceback(tmp_path):
    for work in (tmp_path / "missing", tmp_path / "missing" / "deeper"):
        done = subprocess.run([sys.executable, "bench/run.py", "--work", str(work)],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""
        assert f"--work: '{work}' is not a directory" in done.stderr
