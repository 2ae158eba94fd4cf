"""`hostspec audit FILE [--root DIR]`: does the live host match its spec?

Reads `/proc` and `/sys` (under DIR when given) item by item (audit_items)
and says, for each, what the spec expects, what the host holds, and whether
they match.  Exit status: 0 every item matches, 1 an item drifted (or the
spec has errors), 2 nothing drifted but an item could not be read, or the
root itself cannot be read.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Optional

from hostspec import records
from hostspec.version import __version__
from hostspec.backends.boot import STEPS
from hostspec.commands.audit.items import Item, items
from hostspec.commands.explain import Section, Table, own_format_option, to_markdown, to_text
from hostspec.live.root import read_under
from hostspec.model import Spec

EXIT_MATCH, EXIT_DRIFT, EXIT_UNREADABLE = 0, 1, 2
SHOWN = {"ok": "ok", "drift": "DRIFT", "unknown": "unknown"}


@records.frozen
class Finding:
    """One item as the host has it."""

    item: Item
    actual: str
    status: str  # ok | drift | unknown
    error: Optional[str] = None  # why the file could not be read


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`FILE`, `--root DIR`, and `--format` widened to text, markdown and json."""
    parser.add_argument("file", metavar="FILE", help="the host's spec (.mem or .json)")
    parser.add_argument("--root", default="/", metavar="DIR",
                        help="where the host's /proc and /sys are (default: /)")
    own_format_option(parser)


def run(args) -> int:
    """Check the spec, read the host, print every item; the exit status says how it went."""
    from hostspec.commands.cli import EXIT_OK, load_all, report

    root = pathlib.Path(args.root)
    if not root.is_dir():
        why = "not a directory" if root.exists() else "no such directory"
        print(f"hostspec: cannot read `{root}`: {why}", file=sys.stderr)
        return EXIT_UNREADABLE
    (result,) = load_all(args, [args.file])
    status = report(argparse.Namespace(**dict(vars(args), format="text")), [result])
    if status != EXIT_OK or result.spec is None:
        return status or EXIT_DRIFT
    findings = audit(result.spec, root)
    sys.stdout.write(render(result.spec, root, findings, args.format))
    return exit_status(findings)


def audit(spec: Spec, root: pathlib.Path) -> list[Finding]:
    """Every item the spec sets, read under `root`."""
    cache: dict[str, str | OSError] = {}
    return [_check(item, read_under(root, item.path, cache)) for item in items(spec)]


def _check(item: Item, text: str | OSError) -> Finding:
    if isinstance(text, OSError):
        actual = "missing" if isinstance(text, FileNotFoundError) else "unreadable"
        return Finding(item, actual, "unknown", text.strerror or str(text))
    actual = item.actual_of(text)
    return Finding(item, actual, "ok" if item.same(item.expected, actual) else "drift")


def exit_status(findings: list[Finding]) -> int:
    """1 when anything drifted, else 2 when anything could not be read, else 0."""
    statuses = {finding.status for finding in findings}
    if "drift" in statuses:
        return EXIT_DRIFT
    return EXIT_UNREADABLE if "unknown" in statuses else EXIT_MATCH


def verdict(findings: list[Finding]) -> str:
    """One sentence: how the host compares with the spec."""
    counts = {status: sum(f.status == status for f in findings) for status in SHOWN}
    tally = f"{counts['ok']} ok, {counts['drift']} drift, {counts['unknown']} unknown"
    if not findings:
        return "nothing to audit: the spec sets no value the host can be read for"
    if counts["drift"]:
        return f"{tally}: the host has drifted from its spec"
    if counts["unknown"]:
        return f"{tally}: the host could not be read in full"
    return f"{tally}: the host matches its spec"


def render(spec: Spec, root: pathlib.Path, findings: list[Finding], form: str) -> str:
    """The findings as text, markdown or JSON."""
    if form == "json":
        return json.dumps(audit_json(spec, root, findings), indent=2) + "\n"
    sections = audit_sections(spec, root, findings)
    return to_markdown(sections) if form == "markdown" else to_text(sections)


def audit_sections(spec: Spec, root: pathlib.Path, findings: list[Finding]) -> list[Section]:
    """A header, the item table, and what could not be read."""
    rows = tuple((f.item.name, f.item.expected, f.actual, SHOWN[f.status]) for f in findings)
    unread = tuple(dict.fromkeys(f"cannot read {root / f.item.path}: {f.error}"
                                 for f in findings if f.status == "unknown"))  # each file once
    tables = (Table(("item", "expected", "actual", "status"), rows),) if rows else ()
    return [Section(f"Audit of host `{spec.host.name}`", (f"root {root}",)),
            Section("Items", tables=tables, after=unread + boot_step(spec, findings)
                    + capability_notes(spec, findings) + (verdict(findings),))]


def boot_step(spec: Spec, findings: list[Finding]) -> tuple[str, ...]:
    """What puts drifted kernel arguments right, for the spec's boot target."""
    if any(f.status == "drift" and f.item.path == "proc/cmdline" for f in findings):
        return (f"kernel arguments drifted (boot {spec.host.boot}): {STEPS[spec.host.boot]}",)
    return ()


def capability_notes(spec: Spec, findings: list[Finding]) -> tuple[str, ...]:
    """What the drift says about a capability the spec states beyond the kernel's version.

    `kernel 5.14 { per-node-hugepages on }` is a claim about a distribution
    kernel.  A kernel without the node form of `hugepages=` reserves no page
    of a per-node boot pool, so each such pool reads 0 on its nodes.
    """
    if not spec.host.capabilities.per_node_hugepages:
        return ()
    from hostspec.backends.cmdline import boot_pools
    from hostspec.commands.audit.items import per_node_files

    files = {path for pools in boot_pools(spec).values() for pool in pools
             if pool.nodes is not None for path in per_node_files(pool.size, pool.nodes)}
    empty = [f for f in findings if f.item.path in files and f.status == "drift" and f.actual == "0"]
    if not empty:
        return ()
    kernel = f"{spec.host.kernel[0]}.{spec.host.kernel[1]}"
    return (f"{len(empty)} per-node boot pool item{'s' if len(empty) > 1 else ''} read 0: this "
            f"kernel may not have the per-node `hugepages=` form that `kernel {kernel} "
            "{ per-node-hugepages on }` states (check `dmesg | grep -i hugepages`)",)


def audit_json(spec: Spec, root: pathlib.Path, findings: list[Finding]) -> dict:
    """The findings as data; `result` is match, drift or unknown (the exit status in words)."""
    result = {EXIT_MATCH: "match", EXIT_DRIFT: "drift", EXIT_UNREADABLE: "unknown"}
    return {
        "audit": 1, "hostspec": __version__, "host": spec.host.name, "root": str(root),
        "items": [{"item": f.item.name, "file": f.item.path, "expected": f.item.expected,
                   "actual": f.actual, "status": f.status, "error": f.error} for f in findings],
        "result": result[exit_status(findings)],
        "notes": list(capability_notes(spec, findings)),
        "summary": verdict(findings),
        
    }
