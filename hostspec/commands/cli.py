"""The `hostspec` command line: argparse, exit codes, output formats.

Exit status: 0 success, 1 errors in the input (or warnings with --strict),
2 usage errors and unreadable or unwritable files, 3 internal errors.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import sys
from typing import Callable, Sequence

from hostspec.version import __version__

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

# Subcommands implemented in their own modules: each has add_arguments(parser)
# and run(args) -> exit status.
EXTERNAL_COMMANDS = {
    "compile": ("hostspec.commands.compile", "write each host's artifact tree",
                "hostspec compile examples/lab.mem --out out/"),
    "explain": ("hostspec.commands.explain", "summarise a host for a reviewer",
                "hostspec explain examples/lab.mem --format markdown"),
    "fmt": ("hostspec.commands.fmt", "rewrite specs in canonical form, comments kept",
            "hostspec fmt --check examples/*.mem"),
    "audit": ("hostspec.commands.audit", "compare a live host with its spec",
              "hostspec audit examples/lab.mem --root /"),
    "import": ("hostspec.commands.import_", "draft a host's spec from the running host and its domains",
               "hostspec import --root / -o hv-07.mem"),
    "plan": ("hostspec.commands.plan", "what changes between two versions of a spec, and what it needs",
             "hostspec plan old/hv-07.mem hv-07.mem"),
    "lsp": ("hostspec.commands.lsp", "a language server for editors, on stdin and stdout (needs hostspec[lsp])",
            "hostspec lsp"),
}


class UsageError(Exception):
    """A usage problem: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                        help="how diagnostics are printed (default: text)")
    common.add_argument("--strict", action="store_true", help="warnings fail the run")
    common.add_argument("--include-path", action="append", default=[], metavar="DIR",
                        help="a directory includes may also come from")
    common.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    common.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour in text output (auto: on a terminal, unless NO_COLOR is set)")
    common.add_argument("--version", action="version", version=f"hostspec {__version__}")
    return common


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; an external command's module is imported only when it is run."""
    wanted = next((a for a in argv if not a.startswith("-")), None)
    parser = _Parser(prog="hostspec", description="KVM host memory posture as code.")
    parser.add_argument("--version", action="version", version=f"hostspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    common = common_options()
    # Only the command that runs needs its parser; `--help` and mistakes get them all.
    known = ("check", "export", *EXTERNAL_COMMANDS)
    only = wanted if wanted in known else None
    _add = functools.partial(_add_command, only)
    _add(sub, common, "check", "parse and validate host specs", "hostspec check examples/*.mem",
         _check_arguments if wanted == "check" else (lambda p: None))
    _add(sub, common, "export", "print the JSON form of a spec", "hostspec export examples/lab.mem > lab.json",
         lambda p: p.add_argument("file", metavar="FILE", help="a .mem or .json file, or - for stdin"))
    for name, (module, summary, example) in EXTERNAL_COMMANDS.items():
        arguments = _external(module, "add_arguments") if name == wanted else (lambda p: None)
        _add(sub, common, name, summary, example, arguments)
    return parser


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    from hostspec.commands.jobs import add_option

    parser.add_argument("files", nargs="+", metavar="FILE", help="a .mem or .json file, or - for stdin")
    add_option(parser)


def _add_command(only, sub, common, name: str, summary: str, example: str, arguments: Callable) -> None:
    if only is not None and name != only:
        return
    parser = sub.add_parser(name, parents=[common], help=summary, description=summary + ".",
                            epilog=f"example:\n  {example}",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments(parser)


def _external(module: str, attr: str) -> Callable:
    return lambda *args: getattr(importlib.import_module(module), attr)(*args)


def load_all(args, names: Sequence[str], run_checks: bool = True):
    """Load (and check) each named file; stdin is read once."""
    from hostspec import api
    from hostspec.commands.jobs import read_stdin

    stdin = read_stdin(names)
    step = api.check if run_checks else api.load
    return [step(name, args.include_path, stdin if name == "-" else None) for name in names]


def report(args, results, stream=None) -> int:
    """Print every diagnostic of every result; the exit status they call for.

    Text goes to stderr, json and sarif to stdout, unless `stream` says where
    (a command whose stdout is its own output).  `-q` leaves out what does not
    fail the run: notes, and warnings unless `--strict` makes them fail it.
    """
    from hostspec.diagnostics import render

    diagnostics = [d for result in results for d in result.diagnostics]
    if args.quiet:
        from hostspec.diagnostics import Severity

        floor = Severity.WARNING if args.strict else Severity.ERROR
        diagnostics = [d for d in diagnostics if d.severity >= floor]
    text = render.render(diagnostics, args.format, color=use_color(args))
    if text:
        stream = stream or (sys.stdout if args.format != "text" else sys.stderr)
        stream.write(text)
    if any(d.code == "HS0902" for d in diagnostics):
        return EXIT_USAGE  # unreadable input is a usage problem, not a spec error
    failed = any(result.failed(args.strict) for result in results)
    return EXIT_ERRORS if failed else EXIT_OK


def use_color(args) -> bool:
    if getattr(args, "color", "auto") == "always":
        return True
    if getattr(args, "color", "auto") == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stderr.isatty()


def run_check(args) -> int:
    from hostspec.commands.jobs import check_files

    return report(args, check_files(args.files, args.include_path, args.jobs))


def run_export(args) -> int:
    """The JSON form on stdout; diagnostics, in any format, on stderr."""
    (result,) = load_all(args, [args.file], run_checks=False)
    status = report(args, [result], stream=sys.stderr)
    if status != EXIT_OK or result.spec is None:
        return status if status != EXIT_OK else EXIT_ERRORS
    sys.stdout.write(json.dumps(result.document, indent=2, sort_keys=False) + "\n")
    return status


COMMANDS = {"check": run_check, "export": run_export}


def main(argv: Sequence[str] | None = None) -> int:
    """The `hostspec` program; without `argv`, the process's own arguments."""
    if argv is None:
        # One command in a process that ends with it: what it builds lives to
        # the end anyway, so the cyclic collector would only walk it, again
        # and again, while the stages import and run, and once more at exit.
        import gc
        gc.disable()
    status = _run(list(sys.argv[1:] if argv is None else argv))
    if argv is None:
        gc.freeze()
    return status


def _run(argv: list[str]) -> int:
    from hostspec.commands.pipes import closed_pipes_ignored

    with closed_pipes_ignored():
        return _dispatch(argv)


def _dispatch(argv: list[str]) -> int:
    try:
        args = build_parser(argv).parse_args(argv)
        if args.command in COMMANDS:
            return COMMANDS[args.command](args)
        return _external(EXTERNAL_COMMANDS[args.command][0], "run")(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 - the last line of defence
        print("hostspec: internal error (this is a bug in hostspec, please report it "
              "with the input that caused it):", file=sys.stderr)
        import traceback
        traceback.print_exc()
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
