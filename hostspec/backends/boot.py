"""The `boot` key: which boot stack's place the kernel arguments go to.

The argument list is built and checked once (cmdline.py); each target module
only places it: `grub` (Debian drop-in), `bootc` (kargs.d TOML), `bls` and
`kernel-install` (the apply-boot script), `none` (nothing beyond the plain
`etc/hostspec/kernel-cmdline`).  Each module has `place(spec, ctx, words)`;
what a target cannot express is a check (checks/boot.py), so that `check`
reaches compile's verdict.
"""
from __future__ import annotations

import importlib

import attrs

from hostspec.diagnostics import Diagnostic
from hostspec.model import Spec
from hostspec.backends import Artifact, Context

TARGETS = ("grub", "bls", "kernel-install", "bootc", "none")
_MODULES = {"grub": "grub", "bls": "apply_boot", "kernel-install": "apply_boot",
            "bootc": "bootc", "none": None}

# What an operator or image builder does so that the arguments take effect.
STEPS = {
    "grub": "run `update-grub`, then reboot",
    "bls": "run `/usr/libexec/hostspec/apply-boot`, then reboot",
    "kernel-install": "run `/usr/libexec/hostspec/apply-boot` (it runs `kernel-install add` "
                      "for each kernel, or `proxmox-boot-tool refresh`), then reboot",
    "bootc": "takes effect at the next `bootc upgrade` (or `bootc switch`, or install) "
             "of an image that holds it, then reboot",
    "none": "hand etc/hostspec/kernel-cmdline to your boot loader's tool, then reboot",
}


def _module(target: str):
    name = _MODULES[target]
    return None if name is None else importlib.import_module(f"{__package__}.{name}")


def boot_artifacts(spec: Spec, ctx: Context) -> tuple[list[Artifact], list[Diagnostic]]:
    """The backend: the plain line and the target's artifacts, each with the target's step."""
    from hostspec.backends.cmdline import kernel_cmdline, words_of

    plain, problems = kernel_cmdline(spec, ctx)
    if problems:
        return [], problems
    placed, problems = place(spec, ctx, words_of(plain))
    step = STEPS[spec.host.boot]
    return [attrs.evolve(a, step=step) for a in plain + placed], problems


def place(spec: Spec, ctx: Context, words: list[str]) -> tuple[list[Artifact], list[Diagnostic]]:
    """The artifacts that put `words` on the next boot's command line for `spec.host.boot`."""
    module = _module(spec.host.boot)
    if module is None:
        return [], []
    return module.place(spec, ctx, words)
