"""`-j N`: per-file work in worker processes, results in the order of the files.

Each file's job is a function of its own inputs (name, include paths, the
bytes of stdin), so running jobs in workers gives the same results as running
them here one after another; only the time differs.  With one job (the
default) nothing is forked and everything runs in this process.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Callable, Iterable, Iterator, Optional, Sequence, TypeVar

from hostspec import api, records
from hostspec.diagnostics import Diagnostic, has_errors
from hostspec.language.reader import MAX_SOURCE_BYTES

T = TypeVar("T")
R = TypeVar("R")
Mapper = Callable[[Callable[[T], R], Iterable[T]], list]
CHUNK_MAX = 4  # files a worker takes at once: enough to hide the messaging, small enough to balance


def add_option(parser: argparse.ArgumentParser) -> None:
    """The `-j N` option: N worker processes, 0 for one per CPU."""
    parser.add_argument("-j", "--jobs", type=_job_count, default=1, metavar="N",
                        help="handle N files at once in worker processes "
                             "(0: one per CPU; default 1); the output is the same")


def _job_count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):  # not `²`, which isdigit() also accepts
        raise argparse.ArgumentTypeError(f"expected a number of jobs, 0 or more, not {text!r}")
    return int(text)


def worker_count(jobs: int, tasks: int) -> int:
    """How many workers `-j jobs` gives for `tasks` files (at least 1)."""
    if jobs == 0:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(jobs, tasks))


@contextlib.contextmanager
def mapper(jobs: int, tasks: int) -> Iterator[Mapper]:
    """A `map` that returns a list in input order: in this process, or over workers."""
    workers = worker_count(jobs, tasks)
    if workers == 1:
        yield lambda function, items: list(map(function, items))
        return
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    # fork: workers start with everything this process imported, in milliseconds.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_started)
    try:
        yield lambda function, items: _pooled_map(pool, workers, function, list(items))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _pooled_map(pool, workers: int, function: Callable, items: list) -> list:
    chunk = max(1, min(CHUNK_MAX, len(items) // (workers * 4)))
    try:
        return list(pool.map(function, items, chunksize=chunk))
    except BaseException:
        # Let running jobs finish before raising, so that whoever cleans up
        # after the error does not race a worker still writing.
        pool.shutdown(wait=True, cancel_futures=True)
        raise


def _worker_started() -> None:
    # Ctrl-C reaches the whole process group: the parent alone stops the run.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def read_stdin(names: Sequence[str]) -> Optional[bytes]:
    """Standard input, read once, when one of the files is `-`."""
    return sys.stdin.buffer.read(MAX_SOURCE_BYTES + 1) if "-" in names else None


@records.define
class Checked:
    """What `check` prints of one file: small enough to send between processes."""

    name: str
    diagnostics: list[Diagnostic]

    def failed(self, strict: bool = False) -> bool:
        return has_errors(self.diagnostics, strict)


def check_one(task: tuple[str, tuple[str, ...], Optional[bytes]]) -> Checked:
    """One file through the front end and every check (a worker's job)."""
    result = api.check(*task)
    return Checked(result.name, result.diagnostics)


def check_files(names: Sequence[str], include_paths: Sequence[str], jobs: int) -> list[Checked]:
    """Check every file, `jobs` at once, results in the order of `names`."""
    stdin = read_stdin(names)
    tasks = [(name, tuple(include_paths), stdin if name == "-" else None) for name in names]
    with mapper(jobs, len(tasks)) as map_files:
        return map_files(check_one, tasks)
