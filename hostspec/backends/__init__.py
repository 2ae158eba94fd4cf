"""Backends: each a function of the checked model that returns artifacts as values.

Nothing here writes files; `emit` is the one place that does.
"""
from __future__ import annotations

import pathlib

import attrs

from ..index import SpanIndex


@attrs.frozen
class Artifact:
    path: str          # relative to DIR/<host>/, with forward slashes
    data: bytes
    kind: str          # modprobe, grub, kernel-cmdline, sysctl, apply-script, systemd-unit, libvirt-domain
    takes_effect: str  # boot, module-reload, runtime, guest-restart
    mode: int = 0o644
    summary: str = ""  # what it changes, in a few words, for `hostspec explain`


@attrs.frozen
class Context:
    """What backends know besides the model: where it came from."""

    source_name: str    # base name of the source file, for header comments
    source_sha256: str  # sha256 of the source bytes
    version: str        # hostspec version
    base_dir: pathlib.Path  # directory of the spec (relative `base` paths)
    index: SpanIndex = attrs.field(factory=SpanIndex)
