"""The systemd preset that enables hostspec's units on `systemctl preset` and at first boot.

A unit file alone is never enabled: copying a tree over `/` makes no
`.wants/` link.  `systemctl preset` (and `preset-all`, which image builders
and systemd's first boot run) reads `*.preset` files in name order, first
match wins: `50-` comes before the distributions' own `90-`/`99-` files,
some of which end in `disable *`.
"""
from __future__ import annotations

from hostspec.diagnostics import Diagnostic
from hostspec.model import Spec
from hostspec.backends import Artifact, Context, header
from hostspec.backends.apply_domains import UNIT as DOMAINS_UNIT
from hostspec.backends.apply_script import needs_apply_script

PATH = "usr/lib/systemd/system-preset/50-hostspec.preset"
MEMORY_UNIT = "hostspec-memory.service"


def units(spec: Spec) -> list[str]:
    """The units the tree holds, in the order the preset names them."""
    found = [MEMORY_UNIT] if needs_apply_script(spec) else []
    return found + ([DOMAINS_UNIT] if spec.guests else [])


def unit_preset(spec: Spec, ctx: Context) -> tuple[list[Artifact], list[Diagnostic]]:
    """The preset, whenever the tree holds a unit."""
    names = units(spec)
    if not names:
        return [], []
    text = header(ctx) + "".join(f"enable {name}\n" for name in names)
    return [Artifact(PATH, text.encode("ascii"), "systemd-preset", "runtime",
                     summary="enables " + " and ".join(names)
                             + " on `systemctl preset` and at first boot")], []
