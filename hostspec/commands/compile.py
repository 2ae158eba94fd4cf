"""`hostspec compile FILE... --out DIR [--check] [-j N]`.

Each file is compiled by `compile_file`, a function of its path alone (path
-> diagnostics and, when clean, the host's tree), so `-j N` compiles files in
worker processes with the same result.  A worker does the whole job of a
file: it compiles it and, when clean, stages its tree beside the target
(`DIR/.<host>.tmp-*`, see hosttree.Staging).  Only after every file compiled
cleanly, and no two name the same host, are the staged trees swapped in;
otherwise they are removed, so a compile with errors writes nothing.
"""
from __future__ import annotations

import functools
import pathlib
import sys
from typing import Optional, Sequence

from hostspec import api, records
from hostspec.version import __version__
from hostspec.backends import tree as hosttree
from hostspec.commands import jobs
from hostspec.backends import Context, build_artifacts
from hostspec.backends.layout import LAYOUTS, pack
from hostspec.diagnostics.codes import diag
from hostspec.diagnostics import Diagnostic, has_errors, sort_diagnostics
from hostspec.diagnostics.source import Span

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


@records.define
class Compiled:
    """One input file: its front-end result (with backend diagnostics) and tree."""

    result: api.Result
    tree: Optional[hosttree.HostTree] = None


@records.define
class Outcome:
    """What the driver needs of one compiled file; small enough to send between processes."""

    name: str
    diagnostics: list[Diagnostic]
    host: Optional[str] = None  # the host's name, when the spec could be read
    host_span: Optional[Span] = None  # where that name was written
    tree: Optional[hosttree.HostTree] = None  # kept only for `--check`
    built: bool = False  # a tree was built: the file and its backends had no error
    staged: Optional[pathlib.Path] = None  # where the worker staged the tree
    write_error: Optional[Exception] = None  # why it could not

    def failed(self, strict: bool = False) -> bool:
        return has_errors(self.diagnostics, strict)


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="a .mem or .json file, or - for stdin")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="where each host's tree is written, as DIR/<host>/")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; print a diff against DIR and exit 1 if it differs")
    parser.add_argument("--layout", choices=LAYOUTS, default="tree",
                        help="tree: the root file system tree (default); mkosi: mkosi.extra/ and "
                             "mkosi.conf.d/; ignition: one Ignition config")
    jobs.add_option(parser)


def context_for(result: api.Result) -> Context:
    """What backends need to know about the source of a checked result."""
    name = result.source.name if result.source is not None else result.name
    return Context(source_name=pathlib.PurePath(name).name,
                   source_sha256=result.source.digest if result.source is not None else "",
                   version=__version__, base_dir=result.base_dir, index=result.index,
                   bases=result.bases)


def compile_file(name: str, include_paths: Sequence[str] = (),
                 stdin: Optional[bytes] = None, layout: str = "tree") -> Compiled:
    """Check one file and, when it has no errors, build its host's tree in memory,
    packed in `layout` (tree, mkosi or ignition)."""
    result = api.check(name, include_paths, stdin)
    if result.spec is None or result.failed():
        return Compiled(result)
    ctx = context_for(result)
    artifacts, problems = build_artifacts(result.spec, ctx)
    if not has_errors(problems):
        tree = hosttree.host_tree(result.spec.host.name, artifacts, ctx, result.spec.host.boot)
        tree, packing = pack(layout, tree, result.spec, ctx)
        problems += packing
    result.diagnostics = sort_diagnostics(result.diagnostics + problems)
    if has_errors(problems):
        return Compiled(result)
    return Compiled(result, tree)


Task = tuple  # (name, include paths, stdin bytes or None, layout)


def compile_outcome(task: Task) -> Outcome:
    """`compile_file` of (name, include paths, stdin bytes, layout), kept to what the driver needs."""
    compiled = compile_file(*task)
    result = compiled.result
    if result.spec is None:
        return Outcome(result.name, result.diagnostics)
    return Outcome(result.name, result.diagnostics, result.spec.host.name,
                   result.index.value(("host", "name")), compiled.tree, compiled.tree is not None)


def compile_and_stage(staging: Optional[hosttree.Staging], strict: bool, task: Task) -> Outcome:
    """A worker's whole job for one file: compile it and, when clean, stage its tree."""
    outcome = compile_outcome(task)
    if staging is not None and outcome.built and not outcome.failed(strict):
        outcome.staged, outcome.write_error = hosttree.stage_tree(staging, outcome.tree)
    outcome.tree = None  # on disk now: not sent back to the driver
    return outcome


def duplicate_hosts(outcomes: list[Outcome]) -> None:
    """HS0408 on every file that names a host an earlier file already named."""
    first: dict[str, Outcome] = {}
    for item in outcomes:
        if item.host is None:
            continue
        earlier = first.setdefault(item.host, item)
        if earlier is not item:
            item.diagnostics.append(_duplicate_host(item, earlier))
            item.tree, item.built = None, False


def _duplicate_host(item: Outcome, earlier: Outcome) -> Diagnostic:
    labels = [(earlier.host_span, "first named here")] if earlier.host_span is not None else []
    return diag("HS0408", f"host `{item.host}` is also compiled from `{earlier.name}`", item.host_span,
                hint="compile each host from one file per call: both would write "
                     f"`{item.host}/`", labels=labels, file_name=item.name)


def run(args) -> int:
    """Compile every file; write (or diff) only when all of them are clean."""
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        return _usage(f"`{out}` is not a directory")
    stdin = jobs.read_stdin(args.files)
    tasks = [(name, tuple(args.include_path), stdin if name == "-" else None, args.layout)
             for name in args.files]
    if args.check:
        with jobs.mapper(args.jobs, len(tasks)) as map_files:
            return _compile_and_diff(args, out, tasks, map_files)
    try:
        staging, problem = hosttree.begin_staging(out, functools.partial(_waiting, args, out)), None
    except OSError as exc:  # reported after the diagnostics, which come first
        staging, problem = None, exc
    try:
        with jobs.mapper(args.jobs, len(tasks)) as map_files:
            outcomes = map_files(functools.partial(compile_and_stage, staging, args.strict), tasks)
        return _swap_in(args, out, staging, problem, outcomes)
    except BaseException:
        if staging is not None:
            hosttree.abandon(staging)
        raise
    finally:
        hosttree.release(staging)


def _waiting(args, out: pathlib.Path) -> None:
    if not args.quiet:
        print(f"hostspec: waiting for another compile into `{out}` to finish", file=sys.stderr)


def _swap_in(args, out: pathlib.Path, staging: Optional[hosttree.Staging],
             problem: Optional[OSError], outcomes: list[Outcome]) -> int:
    from hostspec.commands.cli import report

    duplicate_hosts(outcomes)
    status = report(args, outcomes)
    if status != EXIT_OK or not all(item.built for item in outcomes):
        if staging is not None:
            hosttree.abandon(staging)
        return status if status == EXIT_USAGE else EXIT_ERRORS
    try:
        problem = problem or next((o.write_error for o in outcomes if o.write_error), None)
        if problem is not None:
            raise problem
        hosttree.commit(staging, [(item.host, item.staged) for item in outcomes])
    except OSError as exc:
        if staging is not None:
            hosttree.abandon(staging)
        return _usage(f"cannot write `{exc.filename or out}`: {exc.strerror or exc}")
    return EXIT_OK


def _compile_and_diff(args, out: pathlib.Path, tasks: list, map_files: jobs.Mapper) -> int:
    from hostspec.commands.cli import report

    outcomes = map_files(compile_outcome, tasks)
    duplicate_hosts(outcomes)
    status = report(args, outcomes, stream=sys.stderr)  # stdout is the diff's
    if status != EXIT_OK or not all(item.built for item in outcomes):
        return status if status == EXIT_USAGE else EXIT_ERRORS
    return _check(out, [item.tree for item in outcomes], map_files)


def _check(out: pathlib.Path, trees: list[hosttree.HostTree], map_files: jobs.Mapper) -> int:
    try:
        text = hosttree.diff_trees(out, trees, map_files)
        moved = hosttree.old_manifests(out, trees)
    except OSError as exc:
        return _usage(f"cannot read `{exc.filename or out}`: {exc.strerror or exc}")
    for path in moved:
        print(f"hostspec: note: `{path}` is where earlier compiles kept the manifest; it is now "
              f"`{hosttree.MANIFEST}` in the tree, and a compile removes the old one",
              file=sys.stderr)
    sys.stdout.write(text)
    return EXIT_ERRORS if text else EXIT_OK


def _usage(message: str) -> int:
    print(f"hostspec: {message}", file=sys.stderr)
    return EXIT_USAGE
