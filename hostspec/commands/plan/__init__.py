"""`hostspec plan OLD NEW`: what changes between two versions of a spec, and what it needs.

Both specs are compiled in memory with the same neutral header, so a change
that only touches comments (and with them the source sha256 in every header)
changes no artifact.  Artifacts are compared by path and content; each change
is then put in words from the two models (plan_words) and carries its
artifact's `takes_effect`.  The steps are those levels, mildest first, each
with what an operator does; the last is the most disruptive.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from hostspec import api, records
from hostspec.version import __version__
from hostspec.backends import Artifact, Context, apply_domains, apply_script, build_artifacts
from hostspec.backends.boot import STEPS
from hostspec.backends.modprobe import MODULE_KEYS
from hostspec.backends.sysctl import default_page_size, default_runtime_pool
from hostspec.checks.context import guest_names
from hostspec.diagnostics import has_errors, sort_diagnostics
from hostspec.commands.explain import Section, Table, own_format_option, to_markdown, to_text
from hostspec.commands.explain.data import EFFECT_ORDER, most_disruptive
from hostspec.model import Spec
from hostspec.commands.plan.words import change_words
from hostspec.language.units import format_size


@records.frozen
class Change:
    """One artifact that is added, removed or changed."""

    path: str
    kind: str
    change: str  # added | removed | changed
    takes_effect: str
    details: tuple[str, ...]


@records.frozen
class Plan:
    old_host: str
    new_host: str
    changes: tuple[Change, ...]
    guests: dict  # added / removed / changed -> guest names

    def steps(self, spec: Spec) -> list[tuple[str, str]]:
        """(level, what to do) for every level a change needs, mildest first."""
        levels = {change.takes_effect for change in self.changes}
        return [(level, STEP_WORDS[level](self, spec)) for level in EFFECT_ORDER if level in levels]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`OLD NEW`, and `--format` widened to text, markdown and json."""
    parser.add_argument("old", metavar="OLD", help="the spec as it is deployed (.mem or .json)")
    parser.add_argument("new", metavar="NEW", help="the spec as it will be")
    own_format_option(parser)


def run(args) -> int:
    """Check and compile both specs; print their diagnostics, then the plan."""
    from hostspec.commands.cli import EXIT_ERRORS, EXIT_OK, load_all, report

    old, new = load_all(args, [args.old, args.new])
    compiled = [_artifacts(result) for result in (old, new)]
    status = report(argparse.Namespace(**dict(vars(args), format="text")), [old, new])
    if status != EXIT_OK:
        return status
    if None in compiled:
        return EXIT_ERRORS
    plan = compare(old.spec, new.spec, *compiled)
    sys.stdout.write(render(plan, new.spec, args.format, (args.old, args.new)))
    return EXIT_OK


def _artifacts(result: api.Result) -> Optional[dict[str, Artifact]]:
    """The artifacts by path, built with a header that does not depend on the source."""
    if result.spec is None or result.failed():
        return None
    ctx = Context(source_name="spec", source_sha256="-", version=__version__,
                  base_dir=result.base_dir, index=result.index, bases=result.bases)
    artifacts, problems = build_artifacts(result.spec, ctx)
    result.diagnostics = sort_diagnostics(result.diagnostics + problems)
    return None if has_errors(problems) else {a.path: a for a in artifacts}


def compare(old: Spec, new: Spec, before: dict[str, Artifact],
            after: dict[str, Artifact]) -> Plan:
    """Every artifact that differs, in path order, and the guests added, removed or changed."""
    changes = []
    for path in sorted(before.keys() | after.keys()):
        old_art, new_art = before.get(path), after.get(path)
        if old_art is not None and new_art is not None and _same(old_art, new_art):
            continue
        change = "added" if old_art is None else "removed" if new_art is None else "changed"
        shown = new_art or old_art
        words = list(change_words(old, new, old_art, new_art))
        takes_effect = shown.takes_effect
        if _waits_for_the_new_default_size(old, new, new_art):
            takes_effect = "boot"
            words.append(f"`vm.nr_hugepages` counts pages of the default size, which is "
                         f"{format_size(default_page_size(old))} until the reboot makes it "
                         f"{format_size(default_page_size(new))}: apply it after that reboot, "
                         "not with `sysctl --system` now")
        changes.append(Change(path, shown.kind, change, takes_effect, tuple(words)))
    return Plan(old.host.name, new.host.name, tuple(changes), _guests(old, new, changes))


def _waits_for_the_new_default_size(old: Spec, new: Spec, new_art: Optional[Artifact]) -> bool:
    """A new sysctl.d sets vm.nr_hugepages while the default page size changes at
    the next boot: `sysctl --system` before it would count pages of the old size."""
    return (new_art is not None and new_art.kind == "sysctl"
            and default_runtime_pool(new) is not None
            and default_page_size(old) != default_page_size(new))


def _same(a: Artifact, b: Artifact) -> bool:
    return a.data == b.data and a.mode == b.mode


def _guests(old: Spec, new: Spec, changes: list[Change]) -> dict:
    before = [guest.name for guest in old.guests]
    after = [guest.name for guest in new.guests]
    domains = {c.path.rsplit("/", 1)[-1][:-len(".xml")]
               for c in changes if c.kind == "libvirt-domain" and c.change == "changed"}
    return {"added": [name for name in after if name not in before],
            "removed": [name for name in before if name not in after],
            "changed": [name for name in after if name in domains]}


def _boot_words(plan: Plan, spec: Spec) -> str:
    # Only the command line takes effect at boot; the target says how it gets there.
    return f"needs a reboot: {STEPS[spec.host.boot]}"


def _module_words(plan: Plan, spec: Spec) -> str:
    module = MODULE_KEYS[spec.host.cpu][0]
    return (f"needs {module} reloaded: stop every guest, then "
            f"`modprobe -r {module}; modprobe {module}` (or reboot)")


def _guest_words(plan: Plan, spec: Spec) -> str:
    """The apply-domains step: what it defines and undefines, and who then restarts."""
    verbs = (("changed", "redefines {}"), ("added", "defines {}"), ("removed", "undefines {} once shut off"))
    parts = [verb.format(guest_names(plan.guests[key])) for key, verb in verbs if plan.guests[key]]
    words = f"run `{APPLY_DOMAINS}`" + (f" (it {'; '.join(parts)})" if parts else "")
    if plan.guests["changed"]:
        words += f", then restart {guest_names(plan.guests['changed'])} where running"
    return words


def _runtime_words(plan: Plan, spec: Spec) -> str:
    """What to run; a removed artifact has nothing to run, and leaves its values behind."""
    runtime = [c for c in plan.changes if c.takes_effect == "runtime"]
    present = {c.path: c for c in runtime if c.change != "removed"}
    units = [c for c in present.values() if c.kind == "systemd-unit"]
    tools = ["`systemctl daemon-reload`"] if units else []
    added = [c.path.rsplit("/", 1)[-1] for c in units if c.change == "added"]
    if added:  # the tree has no .wants link: the preset enables them
        tools.append(f"`systemctl preset {' '.join(added)}`")
    if any(c.kind == "sysctl" for c in present.values()):
        tools.append("`sysctl --system`")
    if apply_script.PATH in present:
        tools.append(f"`{apply_script.INSTALLED_PATH}`")
    # apply-domains changes with the guests: the guest-restart step runs it.
    words = "applies at runtime" + (f": run {' then '.join(tools)}" if tools else "")
    removed = [c.path for c in runtime if c.change == "removed"]
    if removed:
        words += (f"; {', '.join(removed)} {'is' if len(removed) == 1 else 'are'} removed: "
                  "what they set stays on the running host until reboot")
    return words


APPLY_DOMAINS = apply_domains.INSTALLED_PATH
STEP_WORDS = {"boot": _boot_words, "module-reload": _module_words,
              "guest-restart": _guest_words, "runtime": _runtime_words}


def most_disruptive_step(plan: Plan, spec: Spec) -> tuple[Optional[str], str]:
    """The most disruptive level and what it needs, or (None, "nothing changes")."""
    worst = most_disruptive(list(plan.changes))
    return (worst, STEP_WORDS[worst](plan, spec)) if worst else (None, "nothing changes")


def render(plan: Plan, spec: Spec, form: str, files: tuple[str, str]) -> str:
    """The plan as text, a pull-request comment (markdown) or JSON."""
    if form == "json":
        return json.dumps(plan_json(plan, spec, files), indent=2) + "\n"
    sections = plan_sections(plan, spec, files)
    return to_markdown(sections) if form == "markdown" else to_text(sections)


def plan_sections(plan: Plan, spec: Spec, files: tuple[str, str]) -> list[Section]:
    """The plan as blocks: header, artifacts table, guests, steps."""
    head = [f"from {files[0]} to {files[1]}"]
    if plan.old_host != plan.new_host:
        head.append(f"host renamed: `{plan.old_host}` -> `{plan.new_host}`")
    sections = [Section(f"Plan for host `{plan.new_host}`", tuple(head)), _artifacts_section(plan)]
    guests = tuple(f"{key}: {', '.join(names)}" for key, names in plan.guests.items() if names)
    if guests:
        sections.append(Section("Guests", guests))
    worst, words = most_disruptive_step(plan, spec)
    steps = tuple(f"{level}: {text}" for level, text in plan.steps(spec))
    after = (f"Most disruptive step ({worst}): {words}",) if worst else (words,)
    sections.append(Section("Steps", steps, after=after))
    return sections


def _artifacts_section(plan: Plan) -> Section:
    rows = tuple((c.path, c.change, c.takes_effect, "; ".join(c.details)) for c in plan.changes)
    if not rows:
        return Section("Artifacts", lines=("no artifact changes",))
    return Section("Artifacts", tables=(Table(("path", "change", "takes effect", "what changes"),
                                              rows),))


def plan_json(plan: Plan, spec: Spec, files: tuple[str, str]) -> dict:
    """The plan as data."""
    worst, words = most_disruptive_step(plan, spec)
    return {
        "plan": 1, "hostspec": __version__,
        "old": {"file": files[0], "host": plan.old_host},
        "new": {"file": files[1], "host": plan.new_host},
        "artifacts": [{"path": c.path, "kind": c.kind, "change": c.change,
                       "takes_effect": c.takes_effect, "details": list(c.details)}
                      for c in plan.changes],
        "guests": plan.guests,
        "steps": [{"takes_effect": level, "action": text} for level, text in plan.steps(spec)],
        "most_disruptive": worst, "action": words,
    }
