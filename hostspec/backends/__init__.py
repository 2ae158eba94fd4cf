"""Backends: each a function of the checked model that returns artifacts as values.

Nothing here writes files; `emit` is the one place that does.  Every backend
module exposes one function `(spec, ctx) -> (artifacts, diagnostics)`;
`build_artifacts` runs them all, in a fixed order, and returns the artifacts
sorted by path.
"""
from __future__ import annotations

import importlib
import importlib.util
import pathlib
from typing import Callable

import attrs

from hostspec import records
from hostspec.diagnostics import Diagnostic
from hostspec.language.index import SpanIndex
from hostspec.model import Spec

MODE_FILE, MODE_EXECUTABLE = 0o644, 0o755


@records.frozen
class Artifact:
    path: str          # relative to DIR/<host>/, with forward slashes
    data: bytes
    kind: str          # modprobe, grub, kernel-cmdline, sysctl, apply-script, systemd-unit, systemd-preset, libvirt-domain
    takes_effect: str  # boot, module-reload, runtime, guest-restart
    mode: int = 0o644
    summary: str = ""  # what it changes, in a few words, for `hostspec explain`
    step: str = ""     # what makes it take effect, when its kind's usual step is not it


# What makes an artifact of each kind take effect; boot artifacts say their own.
KIND_STEPS = {
    "modprobe": "reload the KVM module (every guest stopped), or reboot",
    "sysctl": "run `sysctl --system`, or reboot",
    "apply-script": "run it, or reboot (its service runs it at every boot)",
    "systemd-unit": "run `systemctl daemon-reload`, then `systemctl preset` the unit",
    "systemd-preset": "run `systemctl preset` for the units it names",
    "libvirt-domain": "run `/usr/libexec/hostspec/apply-domains`, then restart the guest",
}


def step_of(artifact: Artifact) -> str:
    """What an operator does so that the artifact takes effect."""
    return artifact.step or KIND_STEPS.get(artifact.kind, "")


def safe_source_name(name: str) -> str:
    """A file's base name as the headers and manifest show it: ASCII letters,
    digits and `._+,@=-`, anything else `_`, so that no file name (a newline,
    `$(...)`, a non-ASCII letter) can end a comment or reach a shell."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._+,@=-") else "_" for ch in name)


@records.frozen
class Context:
    """What backends know besides the model: where it came from."""

    source_name: str = attrs.field(converter=safe_source_name)  # base name, for headers and manifest
    source_sha256: str  # sha256 of the source bytes
    version: str        # hostspec version
    base_dir: pathlib.Path  # directory of the spec (relative `base` paths)
    index: SpanIndex = attrs.field(factory=SpanIndex)
    bases: dict = attrs.field(factory=dict)  # guest name -> checked `base` root (api.Result.bases)


Backend = Callable[[Spec, Context], "tuple[list[Artifact], list[Diagnostic]]"]

# Host-side backends, in the order their diagnostics are produced; the domain
# XML backend is added when present (it imports lxml, which `check` never needs).
_HOST_BACKENDS = (
    ("modprobe", "modprobe_options"),
    ("boot", "boot_artifacts"),  # the plain line (cmdline.py) and the `boot` target's place
    ("sysctl", "sysctl_settings"),
    ("apply_script", "apply_memory"),
    ("systemd", "memory_unit"),
    ("apply_domains", "apply_domains"),
    ("preset", "unit_preset"),
)
_DOMAIN_BACKEND = ("libvirt", "domains")


def header(ctx: Context, comment: str = "#") -> str:
    """The comment every text artifact starts with (two lines, newline-terminated)."""
    return (f"{comment} hostspec {ctx.version} from {ctx.source_name}: generated, do not edit\n"
            f"{comment} source sha256 {ctx.source_sha256}\n")


def oneshot_unit(ctx: Context, description: str, ordering: list[str], command: str) -> str:
    """A systemd unit that runs `command` once at boot and stays active."""
    return "\n".join([
        header(ctx).rstrip("\n"),
        "[Unit]",
        f"Description={description}",
        *ordering,
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        f"ExecStart={command}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def backends() -> list[Backend]:
    """Every backend function available in this installation, in order."""
    found = [_load(module, function) for module, function in _HOST_BACKENDS]
    module, function = _DOMAIN_BACKEND
    if importlib.util.find_spec(f"{__name__}.{module}") is not None:
        found.append(_load(module, function))
    return found


def _load(module: str, function: str) -> Backend:
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def build_artifacts(spec: Spec, ctx: Context) -> tuple[list[Artifact], list[Diagnostic]]:
    """Every artifact the spec asks for, sorted by path, and the backends' diagnostics."""
    artifacts: list[Artifact] = []
    diagnostics: list[Diagnostic] = []
    for backend in backends():
        made, problems = backend(spec, ctx)
        artifacts.extend(made)
        diagnostics.extend(problems)
    return sorted(artifacts, key=lambda artifact: artifact.path), diagnostics
