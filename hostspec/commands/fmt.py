"""`hostspec fmt FILE... [--check]`: rewrite files in canonical form, atomically."""
from __future__ import annotations

import difflib
import os
import sys
import tempfile

from hostspec.diagnostics import Diagnostic
from hostspec.language.fmt import format_source
from hostspec.language.reader import read_source

EXIT_OK, EXIT_DIFFERS, EXIT_USAGE = 0, 1, 2


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="a .mem file, or - for stdin (printed to stdout)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; print a diff and exit 1 when a file is not canonical")


def run(args) -> int:
    from hostspec.commands.cli import report

    status, problems = EXIT_OK, []
    for name in args.files:
        outcome, diagnostics = _format_one(name, args.check)
        problems += diagnostics
        status = max(status, outcome)
    if problems:
        from hostspec.api import Result
        import pathlib
        # stdout carries the diff (--check) or the formatted text (`-`): diagnostics go beside it
        own_stdout = args.check or "-" in args.files
        status = max(status, report(args, [Result(name="", base_dir=pathlib.Path("."), diagnostics=problems)],
                                    stream=sys.stderr if own_stdout else None))
    return status


def _format_one(name: str, check: bool) -> tuple[int, list[Diagnostic]]:
    source, problems = read_source(name)
    if source is None:
        return EXIT_DIFFERS, problems
    formatted, problems = format_source(source)
    if formatted is None:
        return EXIT_DIFFERS, problems
    if name == "-" and not check:
        sys.stdout.write(formatted)
        return EXIT_OK, []
    if formatted == source.text:
        return EXIT_OK, []
    if check:
        sys.stdout.writelines(difflib.unified_diff(source.text.splitlines(True), formatted.splitlines(True),
                                                   f"{source.name}", f"{source.name} (formatted)"))
        return EXIT_DIFFERS, []
    try:
        _replace(name, formatted)
    except OSError as exc:
        print(f"hostspec: cannot write `{name}`: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE, []
    return EXIT_OK, []


def _replace(name: str, text: str) -> None:
    """Write `text` over `name` atomically, keeping its mode (over a link's target: the link stays)."""
    name = os.path.realpath(name)
    folder = os.path.dirname(name)
    mode = os.stat(name).st_mode & 0o7777
    handle, temp = tempfile.mkstemp(prefix=".hostspec-fmt-", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(temp, mode)
        os.replace(temp, name)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
