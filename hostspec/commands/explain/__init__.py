"""`hostspec explain FILE`: what a spec does, for the person reviewing it.

The explanation is a list of blocks (headings, lines, tables) rendered as plain
text or as a GitHub pull-request comment; `--format json` gives the same facts
as data (schemas/explain-v1.schema.json).  Diagnostics go to stderr, the
explanation to stdout.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from typing import Optional

from hostspec import records
from hostspec.version import __version__
from hostspec.backends import step_of
from hostspec.checks.demand import Capacity, analyse
from hostspec.checks.context import guest_names
from hostspec.diagnostics import has_errors, sort_diagnostics
from hostspec.commands.explain.data import explain_json, most_disruptive
from hostspec.commands.explain.words import posture_lines
from hostspec.model import Guest, Spec
from hostspec.language.units import format_amount, format_nodes, format_ratio, format_size

FORMATS = ("text", "markdown", "json")
EFFECT_WORDS = {
    "boot": "this change needs a reboot (after `update-grub` or your boot loader's tool)",
    "module-reload": "this change needs the KVM module reloaded: every guest stopped, or a reboot",
    "guest-restart": ("this change needs `/usr/libexec/hostspec/apply-domains` run (which "
                      "hostspec-domains.service does at every boot), then the changed running "
                      "guests restarted"),
    "runtime": "this change applies at runtime, without a reboot",
}


@records.frozen
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@records.frozen
class Section:
    title: str
    lines: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    after: tuple[str, ...] = ()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`FILE`, and `--format` widened to text, markdown and json for this command."""
    parser.add_argument("file", metavar="FILE", help="a .mem or .json file, or - for stdin")
    own_format_option(parser)


def own_format_option(parser: argparse.ArgumentParser) -> None:
    """Give this subcommand its own copy of the common `--format` option.

    The common option's choices are for diagnostics (text, json, sarif) and its
    action object is shared by every subcommand, so it is copied before the
    choices change: `check` keeps its own.
    """
    for i, action in enumerate(parser._actions):
        if action.dest != "format":
            continue
        own = copy.copy(action)
        own.choices, own.help = FORMATS, "text, markdown (a pull-request comment) or json"
        parser._actions[i] = own
        for option in own.option_strings:
            parser._option_string_actions[option] = own
        for group in parser._action_groups:
            group._group_actions[:] = [own if a is action else a for a in group._group_actions]


def run(args) -> int:
    """Check the file, print its diagnostics to stderr and its explanation to stdout."""
    from hostspec.commands.cli import EXIT_ERRORS, EXIT_OK, load_all, report

    (result,) = load_all(args, [args.file])
    artifacts: object = "the spec has errors, so nothing was compiled"
    if result.spec is not None and not result.failed():
        artifacts = _artifacts(result)
    status = report(_diagnostics_as_text(args), [result])
    if result.spec is None:
        return status if status != EXIT_OK else EXIT_ERRORS  # 2 for unreadable input
    capacity = analyse(result.spec)
    if args.format == "json":
        data = explain_json(result.spec, capacity, _listed(artifacts), __version__)
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        render = to_markdown if args.format == "markdown" else to_text
        sys.stdout.write(render(explanation(result.spec, capacity, artifacts)))
    return status


def _diagnostics_as_text(args):
    """The same options, but diagnostics always as text on stderr."""
    return argparse.Namespace(**dict(vars(args), format="text"))


def _listed(artifacts) -> Optional[list]:
    return artifacts if isinstance(artifacts, list) else None


def _artifacts(result) -> list | str:
    """The artifacts the spec compiles to, or why there are none to show."""
    try:
        from hostspec.backends import build_artifacts
    except (ImportError, AttributeError):
        return "this installation has no backends"
    from hostspec.commands.compile import context_for

    ctx = context_for(result)
    artifacts, problems = build_artifacts(result.spec, ctx)
    result.diagnostics = sort_diagnostics(result.diagnostics + problems)
    if has_errors(problems):
        return "the artifacts have errors, so nothing was compiled"
    return artifacts


def explanation(spec: Spec, capacity: Capacity, artifacts: list | str) -> list[Section]:
    """The whole explanation as blocks, independent of the output format.

    `artifacts` is what the backends built, or a sentence saying why nothing was.
    """
    sections = [Section(f"Host `{spec.host.name}`", tuple(posture_lines(spec))),
                _capacity_section(spec, capacity),
                Section("Guests", tables=(_guest_table(spec),) if spec.guests else (),
                        lines=() if spec.guests else ("no guests",))]
    if isinstance(artifacts, str):
        sections.append(Section("Artifacts", lines=(f"not shown: {artifacts}",)))
    else:
        sections.append(_artifact_section(artifacts))
    return sections


def _capacity_section(spec: Spec, capacity: Capacity) -> Section:
    budget = Table(("memory", "amount"), tuple(_budget_rows(capacity)))
    tables = [budget]
    if capacity.sizes:
        tables.append(Table(("page size", "node", "reserved", "used", "left", "used by"),
                            tuple(_pool_rows(capacity))))
    after = tuple(_shortfall_lines(spec, capacity))
    return Section("Capacity", tables=tuple(tables), after=after)


def _budget_rows(c: Capacity):
    yield "installed RAM", format_amount(c.memory)
    yield "reserve (host OS)", format_amount(c.reserve)
    for fit in c.sizes:
        pages = sum(cell.reserved for cell in fit.cells)
        yield f"pool {format_size(fit.size)}", f"{pages} pages = {format_amount(pages * fit.size)}"
    yield f"guest overhead ({c.overhead_words()})", format_amount(c.overhead_bytes)
    yield "ordinary memory", format_amount(c.ordinary)
    locked = f" ({format_amount(c.locked_demand)} locked)" if c.locked_demand else ""
    yield "guests with normal backing", format_amount(c.normal_demand) + locked
    yield "overcommit ratio", _ratio_words(c)
    yield "reclaim paths", ", ".join(c.reclaim) or "none"


def _ratio_words(c: Capacity) -> str:
    limit = f"limit {c.max_ratio!r}"
    if c.ratio is None:
        return f"none: no ordinary memory ({limit})"
    return f"{format_ratio(c.ratio, 1, c.max_fraction)} ({limit})"


def _pool_rows(c: Capacity):
    for fit in c.sizes:
        for cell in fit.cells:
            used_by = ", ".join(f"{name} {pages}" for name, pages in cell.used_by)
            yield (format_size(fit.size), str(cell.node), str(cell.reserved), str(cell.used),
                   str(cell.left), used_by or "-")


def _shortfall_lines(spec: Spec, c: Capacity):
    for fit in c.sizes:
        for short in fit.shortfalls:
            names = guest_names([spec.guests[i].name for i in short.guests])
            verb = "needs" if len(short.guests) == 1 else "need"
            pages = "page" if short.needed == 1 else "pages"
            yield (f"does not fit: {names} {verb} {short.needed} {pages} of {format_size(fit.size)} "
                   f"on {format_nodes(short.nodes)}, {short.reserved} reserved "
                   f"({short.short} short)")


def _guest_table(spec: Spec) -> Table:
    rows = tuple((g.name, format_size(g.memory), format_size(g.current_memory), str(g.vcpus),
                  backing_words(spec, g), _flags(g)) for g in spec.guests)
    return Table(("guest", "memory", "current", "vcpus", "backing", "options"), rows)


def backing_words(spec: Spec, guest: Guest) -> str:
    """`normal`, or `1GiB pages on node 0` / `2MiB pages on any node`."""
    if not guest.backing.hugepages:
        return "normal"
    size = spec.page_size(guest)
    where = format_nodes(guest.backing.nodes) if guest.backing.nodes else "any node"
    return f"{format_size(size) if size else '?'} pages on {where}"


def _flags(guest: Guest) -> str:
    flags = [f"balloon {guest.balloon.model}"]
    if guest.locked:
        flags.append("locked")
    if not guest.share_pages:
        flags.append("no KSM")
    if guest.base:
        flags.append(f"base {guest.base}")
    return ", ".join(flags)


def _artifact_section(artifacts: list) -> Section:
    rows = tuple((a.path, a.takes_effect, a.summary) for a in artifacts)
    worst = most_disruptive(artifacts)
    words = EFFECT_WORDS.get(worst, "")
    if worst == "boot":  # the boot target's own step: update-grub, apply-boot, bootc upgrade
        step = next((step_of(a) for a in artifacts if a.takes_effect == "boot"), "")
        words = f"this change needs a reboot: {step}"
    after = (f"Most disruptive step ({worst}): {words}",) if worst else ()
    if not artifacts:
        return Section("Artifacts", lines=("nothing to write",))
    return Section("Artifacts", tables=(Table(("path", "takes effect", "what it changes"), rows),),
                   after=after)


def to_text(sections: list[Section]) -> str:
    """Plain text: titles, indented lines, aligned columns."""
    out = []
    for section in sections:
        blocks = [[f"  {line}" for line in section.lines]]
        blocks += [_text_table(table) for table in section.tables]
        blocks += [[f"  {line}" for line in section.after]]
        out.append(section.title.replace("`", ""))
        for block in filter(None, blocks):
            out += block + [""]
    return "\n".join(out).rstrip("\n") + "\n"


def _text_table(table: Table) -> list[str]:
    widths = [max(len(row[i]) for row in (table.header,) + table.rows)
              for i in range(len(table.header))]
    lines = [table.header] + [tuple("-" * w for w in widths)] + list(table.rows)
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in lines]


def to_markdown(sections: list[Section]) -> str:
    """A pull-request comment: headings, bullet lines, GitHub tables."""
    out = []
    for section in sections:
        out += [f"### {section.title}", ""]
        blocks = [[f"- {line}" for line in section.lines]]
        blocks += [_markdown_table(table) for table in section.tables]
        blocks += [[f"**{line}**" if line.startswith("Most") else f"- {line}"
                    for line in section.after]]
        for block in filter(None, blocks):
            out += block + [""]
    return "\n".join(out).rstrip("\n") + "\n"


def _markdown_table(table: Table) -> list[str]:
    def row(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
    return [row(table.header), "| " + " | ".join("---" for _ in table.header) + " |"] + [
        row(cells) for cells in table.rows]
