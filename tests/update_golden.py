"""Golden trees under tests/cases/: find the cases, compile them, rewrite them.

A case is a directory tests/cases/<name>/ holding `expected/<host>/...` (the
tree `hostspec compile --out expected` writes) and its input: its own
`input.mem` or `input.json`, or else `examples/<name>.mem`, so every example
is compiled under its real file name.

    python tests/update_golden.py          # rewrite every expected/ tree
    python -m pytest tests/test_compile_golden.py --update-golden

Review the result with `git diff tests/cases` before committing it.
"""
from __future__ import annotations

import pathlib
import shutil
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
CASES = REPO / "tests" / "cases"
EXAMPLES = REPO / "examples"

if __name__ == "__main__":
    sys.path.insert(0, str(REPO))

from hostspec.commands import compile as compiler  # noqa: E402
from hostspec.backends import tree as emit  # noqa: E402
from hostspec.diagnostics import render  # noqa: E402


def case_input(case: pathlib.Path) -> pathlib.Path:
    """The spec a case compiles: its own input file, or the example of its name."""
    for name in ("input.mem", "input.json"):
        if (case / name).is_file():
            return case / name
    return EXAMPLES / f"{case.name}.mem"


def case_dirs() -> list[pathlib.Path]:
    """Every case directory, sorted by name."""
    return sorted(path for path in CASES.iterdir() if path.is_dir() and not path.name.startswith("."))


def example_cases() -> list[pathlib.Path]:
    """The case directory each example compiles into (it may not exist yet)."""
    return [CASES / path.stem for path in sorted(EXAMPLES.glob("*.mem"))]


def compile_case(case: pathlib.Path) -> emit.HostTree:
    """The case's host tree, or AssertionError with the diagnostics when it fails."""
    compiled = compiler.compile_file(str(case_input(case)))
    if compiled.tree is None:
        text = render.render(compiled.result.diagnostics, "text", color=False)
        raise AssertionError(f"{case_input(case)} does not compile:\n{text}")
    return compiled.tree


def update(case: pathlib.Path) -> None:
    """Replace the case's expected/ with what the compiler writes now."""
    tree = compile_case(case)
    expected = case / "expected"
    if expected.exists():
        shutil.rmtree(expected)
    emit.write_trees(expected, [tree])


def main() -> int:
    cases = sorted(set(case_dirs()) | set(example_cases()))
    for case in cases:
        update(case)
        print(f"updated {case.relative_to(REPO)}/expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
