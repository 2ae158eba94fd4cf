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
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import HOSTSPEC, PYTHON, ROOT, Verdicts, interleaved, milliseconds, wall  # noqa: E402

TARGET = 1.3
EXAMPLE = ROOT / "examples" / "amd-ksm-fleet.mem"
BASELINE = [PYTHON, "-c", "import lark, attrs, jsonschema"]
SUBJECT = [*HOSTSPEC, "check", "-q", str(EXAMPLE)]


def main(runs: int, verdicts: Verdicts | None = None) -> int:
    """Measure, print the verdict, and return 0 when the target is met."""
    verdicts = verdicts if verdicts is not None else Verdicts()
    medians = interleaved({"subject": lambda: wall(SUBJECT),
                           "baseline": lambda: wall(BASELINE)}, runs)
    print(f"check latency (cores: {os.cpu_count()}, runs: {runs})")
    print(f"  hostspec check {EXAMPLE.name}: median {milliseconds(medians['subject'])}")
    print(f"  import lark, attrs, jsonschema: median {milliseconds(medians['baseline'])}")
    ok = verdicts.at_most("check latency / import baseline",
                          medians["subject"] / medians["baseline"], TARGET)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15))
