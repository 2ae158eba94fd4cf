"""`hostspec compile FILE... --out DIR [--check]`.

Each file is compiled by `compile_file`, a function of its path alone (path
-> diagnostics and, when clean, the host's tree), so files can later be
compiled in parallel with the same result.  Only after every file compiled
cleanly, and no two name the same host, does anything reach the disk.
"""
from __future__ import annotations

import pathlib
import sys
from typing import Optional, Sequence

import attrs

from . import __version__, api, emit
from .backends import Context, build_artifacts
from .codes import diag
from .diagnostics import Diagnostic, has_errors, sort_diagnostics

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


@attrs.define
class Compiled:
    """One input file: its front-end result (with backend diagnostics) and tree."""

    result: api.Result
    tree: Optional[emit.HostTree] = None


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="a .mem or .json file, or - for stdin")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="where each host's tree is written, as DIR/<host>/")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; print a diff against DIR and exit 1 if it differs")


def context_for(result: api.Result) -> Context:
    """What backends need to know about the source of a checked result."""
    name = result.source.name if result.source is not None else result.name
    return Context(source_name=pathlib.PurePath(name).name,
                   source_sha256=result.source.digest if result.source is not None else "",
                   version=__version__, base_dir=result.base_dir, index=result.index)


def compile_file(name: str, include_paths: Sequence[str] = (),
                 stdin: Optional[bytes] = None) -> Compiled:
    """Check one file and, when it has no errors, build its host's tree in memory."""
    result = api.check(name, include_paths, stdin)
    if result.spec is None or result.failed():
        return Compiled(result)
    ctx = context_for(result)
    artifacts, problems = build_artifacts(result.spec, ctx)
    result.diagnostics = sort_diagnostics(result.diagnostics + problems)
    if has_errors(problems):
        return Compiled(result)
    return Compiled(result, emit.host_tree(result.spec.host.name, artifacts, ctx))


def duplicate_hosts(compiled: list[Compiled]) -> None:
    """HS0408 on every file that names a host an earlier file already named."""
    first: dict[str, api.Result] = {}
    for item in compiled:
        spec = item.result.spec
        if spec is None:
            continue
        earlier = first.setdefault(spec.host.name, item.result)
        if earlier is not item.result:
            item.result.diagnostics.append(_duplicate_host(spec.host.name, item.result, earlier))
            item.tree = None


def _duplicate_host(host: str, result: api.Result, earlier: api.Result) -> Diagnostic:
    first_span = earlier.index.value(("host", "name"))
    labels = [(first_span, "first named here")] if first_span is not None else []
    span = result.index.value(("host", "name"))
    return diag("HS0408", f"host `{host}` is also compiled from `{earlier.name}`", span,
                hint="compile each host from one file per call: both would write "
                     f"`{host}/`", labels=labels, file_name=result.name)


def _read_stdin(files: Sequence[str]) -> Optional[bytes]:
    return sys.stdin.buffer.read(api.MAX_SOURCE_BYTES + 1) if "-" in files else None


def run(args) -> int:
    """Compile every file; write (or diff) only when all of them are clean."""
    from .cli import report

    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        return _usage(f"`{out}` is not a directory")
    stdin = _read_stdin(args.files)
    compiled = [compile_file(name, args.include_path, stdin if name == "-" else None)
                for name in args.files]
    duplicate_hosts(compiled)
    status = report(args, [item.result for item in compiled])
    trees = [item.tree for item in compiled]
    if status != EXIT_OK or any(tree is None for tree in trees):
        return EXIT_ERRORS
    return _check(out, trees) if args.check else _write(out, trees)


def _check(out: pathlib.Path, trees: list[emit.HostTree]) -> int:
    try:
        text = emit.diff_trees(out, trees)
    except OSError as exc:
        return _usage(f"cannot read `{exc.filename or out}`: {exc.strerror or exc}")
    sys.stdout.write(text)
    return EXIT_ERRORS if text else EXIT_OK


def _write(out: pathlib.Path, trees: list[emit.HostTree]) -> int:
    try:
        emit.write_trees(out, trees)
    except OSError as exc:
        return _usage(f"cannot write `{exc.filename or out}`: {exc.strerror or exc}")
    return EXIT_OK


def _usage(message: str) -> int:
    print(f"hostspec: {message}", file=sys.stderr)
    return EXIT_USAGE
