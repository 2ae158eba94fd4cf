#!/usr/bin/env python3
"""Latency of `hostspec check` on a typical example, as a ratio.

Prints the median wall time of `hostspec check examples/amd-ksm-fleet.mem`
divided by the median of `python -c "import lark, attrs, jsonschema"`, both
measured here, interleaved, in this one run.  Target: 1.3 or less.

    python bench/check_latency.py [RUNS]
"""
from __future__ import annotations

import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = 1.3
EXAMPLE = ROOT / "examples" / "amd-ksm-fleet.mem"
BASELINE = [sys.executable, "-c", "import lark, attrs, jsonschema"]
SUBJECT = [sys.executable, "-m", "hostspec", "check", "-q", str(EXAMPLE)]


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return time.perf_counter() - start


def main(runs: int) -> int:
    wall(SUBJECT), wall(BASELINE)  # warm caches (the compiled grammar, the page cache)
    subject, baseline = [], []
    for _ in range(runs):
        subject.append(wall(SUBJECT))
        baseline.append(wall(BASELINE))
    ratio = statistics.median(subject) / statistics.median(baseline)
    print(f"cores: {os.cpu_count()}  runs: {runs}")
    print(f"hostspec check {EXAMPLE.name}: median {statistics.median(subject) * 1000:.1f} ms")
    print(f"import lark, attrs, jsonschema: median {statistics.median(baseline) * 1000:.1f} ms")
    verdict = "pass" if ratio <= TARGET else "FAIL"
    print(f"check-latency ratio {ratio:.2f} (target <= {TARGET}): {verdict}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15))
