#!/usr/bin/env python3
"""hostspec's performance targets, each a ratio against a baseline timed in this run.

    python bench/run.py [--runs N] [--hosts N] [--sample N] [--only NAME,...]

1. latency: `hostspec compile` of a 20-guest host <= 1.3x
   `python -c "import lark, attrs, jsonschema, lxml.etree"`.
2. fleet: one `hostspec compile -j 2` of HOSTS files (20 guests each) >= 15x
   faster than one `hostspec compile` per file (a sample of them, scaled
   linearly), and >= 1.6x faster than the same call with `-j 1`.
3. scale: a host of 2,000 guests, each its own block, checks and compiles in
   <= 12x the time of one with 200, in at most 250 MiB.
   The same host's `compile` <= 1.2x and `check` <= 1.0x of that import floor.
4. check: bench/check_latency.py (`hostspec check` <= 1.3x its import baseline).
5. lsp: bench/lsp_recheck.py (the language server's re-check of a 200-guest host
   after an edit <= 0.9x a plain parse of the same text, in-process).

Prints medians, ratios and pass/FAIL for each target; exits 1 if any fails.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import platform
import shutil
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import check_latency  # noqa: E402
import generate  # noqa: E402
import lsp_recheck  # noqa: E402
from _common import (HOSTSPEC, PYTHON, Verdicts, interleaved, max_rss_mib,  # noqa: E402
                     milliseconds, parallel_capacity, wall)

IMPORT_BASELINE = [PYTHON, "-c", "import lark, attrs, jsonschema, lxml.etree"]


def fresh_dir(work: pathlib.Path) -> pathlib.Path:
    """A new, not yet existing output directory under `work`.

    Every run writes into its own: removing thousands of files just before a
    timed run makes the file system flush (and discard) during it.  All of
    them are removed with `work` at the end.
    """
    return pathlib.Path(tempfile.mkdtemp(prefix="out-", dir=work)) / "out"


def compile_into(work: pathlib.Path, files: list[str], *options: str, cwd: pathlib.Path) -> float:
    """Seconds of one `hostspec compile` of `files` into a fresh directory."""
    return wall([*HOSTSPEC, "compile", "-q", *options, *files, "--out", str(fresh_dir(work))],
                cwd=cwd)


def latency(work: pathlib.Path, runs: int, verdicts: Verdicts) -> None:
    (host,) = generate.write_fleet(work / "latency", 1, 20)
    medians = interleaved({
        "compile": lambda: compile_into(work, [host.name], cwd=host.parent),
        "check": lambda: wall([*HOSTSPEC, "check", "-q", host.name], cwd=host.parent),
        "imports": lambda: wall(IMPORT_BASELINE),
    }, runs)
    print(f"\n1. latency (runs: {runs})")
    print(f"  hostspec compile, 20 guests: median {milliseconds(medians['compile'])}")
    print(f"  hostspec check, 20 guests: median {milliseconds(medians['check'])}")
    print(f"  import lark, attrs, jsonschema, lxml.etree: median {milliseconds(medians['imports'])}")
    verdicts.at_most("compile latency / import baseline", medians["compile"] / medians["imports"], 1.3)
    # The layout's targets: each command imports only what it runs (check: no lxml).
    verdicts.at_most("compile, 20 guests / import floor", medians["compile"] / medians["imports"], 1.2)
    verdicts.at_most("check, 20 guests / import floor", medians["check"] / medians["imports"], 1.0)


def fleet(work: pathlib.Path, hosts: int, sample: int, runs: int, verdicts: Verdicts) -> None:
    folder = work / "fleet"
    files = [path.name for path in generate.write_fleet(folder, hosts, 20)]
    capacity = parallel_capacity()
    medians = interleaved({
        "-j 2": lambda: compile_into(work, files, "-j", "2", cwd=folder),
        "-j 1": lambda: compile_into(work, files, "-j", "1", cwd=folder),
    }, runs)
    picked = files[:: max(1, len(files) // sample)][:sample]
    one_by_one = sum(compile_into(work, [name], cwd=folder) for name in picked)
    separate = one_by_one * len(files) / len(picked)
    print(f"\n2. fleet: {hosts} hosts of 20 guests (runs: {runs})")
    print(f"  one call, -j 2: median {milliseconds(medians['-j 2'])}")
    print(f"  one call, -j 1: median {milliseconds(medians['-j 1'])}")
    print(f"  one call per file: {milliseconds(separate)} (measured {len(picked)} calls, "
          f"{milliseconds(one_by_one)}, scaled linearly to {len(files)})")
    print(f"  parallel capacity before and after: {capacity:.2f}x, {parallel_capacity():.2f}x "
          "(two CPU-bound processes side by side against in turn: 2.0 on two idle cores, "
          "less when other work holds a core)")
    verdicts.at_least("separate calls / -j 2", separate / medians["-j 2"], 15)
    verdicts.at_least("-j 1 / -j 2", medians["-j 1"] / medians["-j 2"], 1.6)


def scale(work: pathlib.Path, runs: int, verdicts: Verdicts, sizes: tuple[int, int] = (200, 2000)) -> None:
    few, many = sizes
    small = generate.write_host(work / f"big-{few}.mem", few)
    big = generate.write_host(work / f"big-{many}.mem", many)
    subjects = {}
    for path in (small, big):
        subjects[f"check {path.stem}"] = lambda p=path: wall([*HOSTSPEC, "check", "-q", p.name], cwd=work)
        subjects[f"compile {path.stem}"] = lambda p=path: compile_into(work, [p.name], cwd=work)
    medians = interleaved(subjects, runs)
    peak = max_rss_mib([*HOSTSPEC, "compile", "-q", big.name, "--out", str(fresh_dir(work))], cwd=work)
    print(f"\n3. scale: one host, every guest its own block (runs: {runs})")
    for name, seconds in medians.items():
        print(f"  {name}: median {milliseconds(seconds)}")
    for step in ("check", "compile"):
        ratio = medians[f"{step} {big.stem}"] / medians[f"{step} {small.stem}"]
        verdicts.at_most(f"{step} {many} guests / {few} guests", ratio, 12)
    verdicts.at_most(f"peak memory, compile {many} guests", peak, 250, unit=" MiB")


def load() -> str:
    """The load average: other work on the machine shows in every ratio with -j."""
    if not hasattr(os, "getloadavg"):
        return "load average unknown"
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def _sizes(text: str) -> tuple[int, int]:
    few, _, many = text.partition(",")
    if not (few.isdigit() and many.isdigit() and 0 < int(few) < int(many)):
        raise argparse.ArgumentTypeError(f"expected FEW,MANY with 0 < FEW < MANY, not {text!r}")
    return int(few), int(many)


def _work_dir(text: str) -> str:
    """`--work DIR`: an existing directory this user may write in."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory (create it first)")
    if not os.access(text, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not writable")
    return text


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each long measurement (default 3)")
    parser.add_argument("--latency-runs", type=int, default=15, help="runs of each short one (default 15)")
    parser.add_argument("--hosts", type=int, default=500, help="fleet size (default 500)")
    parser.add_argument("--sample", type=int, default=50, help="separate calls timed (default 50)")
    parser.add_argument("--guests", type=_sizes, default=(200, 2000), metavar="FEW,MANY",
                        help="the two host sizes the scale target compares (default 200,2000)")
    parser.add_argument("--only", default="latency,fleet,scale,check,lsp",
                        help="comma-separated subset of latency, fleet, scale, check, lsp")
    parser.add_argument("--work", metavar="DIR", default=None, type=_work_dir,
                        help="where inputs and outputs go (default: the system's temporary "
                             "directory); a tmpfs leaves the disk out of the numbers")
    args = parser.parse_args(argv)
    chosen = set(args.only.split(","))
    print(f"hostspec benchmarks: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.machine()}; targets are for 2 cores; {load()}")
    verdicts = Verdicts()
    work = pathlib.Path(tempfile.mkdtemp(prefix="hostspec-bench-", dir=args.work))
    print(f"working in {work}")
    try:
        if "latency" in chosen:
            latency(work, args.latency_runs, verdicts)
        if "fleet" in chosen:
            fleet(work, args.hosts, args.sample, args.runs, verdicts)
        if "scale" in chosen:
            scale(work, args.runs, verdicts, args.guests)
        if "check" in chosen:
            print()
            check_latency.main(args.latency_runs, verdicts)
        if "lsp" in chosen:
            print()
            lsp_recheck.main(max(args.latency_runs, 31), verdicts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{load()}")
    print(f"{'all targets met' if not verdicts.failed else 'FAILED: ' + ', '.join(verdicts.failed)}")
    return 1 if verdicts.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
