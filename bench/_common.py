"""Timing helpers shared by the benchmarks: child processes, medians, verdicts.

Every benchmark runs hostspec as a user would, in a fresh interpreter, and
compares it with a baseline measured in the same invocation, interleaved, so
that a busy machine slows both sides alike.
"""
from __future__ import annotations

import os
import pathlib
import statistics
import subprocess
import sys
import time
from typing import Callable, Optional, Sequence

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOSTSPEC = [PYTHON, "-m", "hostspec"]


def child_env() -> dict[str, str]:
    """The environment of every measured process: this checkout, bytecode cached.

    An installed hostspec has compiled bytecode; a checkout run with
    PYTHONDONTWRITEBYTECODE would recompile every module on every run, which
    measures the compiler of Python, not hostspec.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def wall(command: Sequence[str], cwd: pathlib.Path = ROOT) -> float:
    """Seconds one run of `command` takes; it must succeed."""
    start = time.perf_counter()
    subprocess.run(list(command), check=True, stdout=subprocess.DEVNULL, cwd=cwd, env=child_env())
    return time.perf_counter() - start


def timed(action: Callable[[], None]) -> float:
    """Seconds one call of `action` takes."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def interleaved(subjects: dict[str, Callable[[], float]], runs: int) -> dict[str, float]:
    """Median seconds of each subject, run in turn `runs` times after one warm-up each."""
    for measure in subjects.values():
        measure()  # warm caches: bytecode, the compiled grammar, the page cache
    samples: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(runs):
        for name, measure in subjects.items():
            samples[name].append(measure())
    return {name: statistics.median(values) for name, values in samples.items()}


def max_rss_mib(command: Sequence[str], cwd: pathlib.Path = ROOT) -> float:
    """Peak resident memory of `command`, in MiB, measured in a fresh wrapper process.

    RUSAGE_CHILDREN reports the largest child a process ever waited for, so a
    wrapper that runs only `command` reports exactly its peak.
    """
    probe = ("import resource, subprocess, sys\n"
             "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    done = subprocess.run([PYTHON, "-c", probe, *command], check=True, capture_output=True,
                          text=True, cwd=cwd, env=child_env())
    return int(done.stdout.strip()) / 1024  # Linux reports KiB


def parallel_capacity(runs: int = 3) -> float:
    """How much faster two CPU-bound processes finish side by side than one after
    the other: 2.0 on two idle cores, less when other work holds a core."""
    loop = [PYTHON, "-c", "s = 0\nfor i in range(3_000_000): s += i * i"]

    def together() -> float:
        start = time.perf_counter()
        for child in [subprocess.Popen(loop) for _ in range(2)]:
            child.wait()
        return time.perf_counter() - start

    def in_turn() -> float:
        return sum(wall(loop) for _ in range(2))

    medians = interleaved({"together": together, "in turn": in_turn}, runs)
    return medians["in turn"] / medians["together"]


class Verdicts:
    """Targets met or missed, printed as they are decided."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def at_most(self, name: str, value: float, limit: float, unit: str = "x",
                detail: Optional[str] = None) -> bool:
        return self._decide(name, value, limit, value <= limit, "<=", unit, detail)

    def at_least(self, name: str, value: float, floor: float, unit: str = "x",
                 detail: Optional[str] = None) -> bool:
        return self._decide(name, value, floor, value >= floor, ">=", unit, detail)

    def _decide(self, name, value, bound, ok, relation, unit, detail) -> bool:
        if not ok:
            self.failed.append(name)
        shown = f"{value:.2f}{unit} (target {relation} {bound}{unit})"
        print(f"  {'pass' if ok else 'FAIL'}  {name}: {shown}" + (f"  [{detail}]" if detail else ""))
        return ok


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"
