"""`boot grub`: the Debian/Ubuntu drop-in `etc/default/grub.d/99-hostspec.cfg`.

grub-mkconfig sources `/etc/default/grub`, then `grub.d/*.cfg` in byte order
(a Debian patch; upstream GRUB and RHEL never read the directory), with dash
under `set -e`.  `99-` so that no later drop-in (Ubuntu cloud images ship
`50-cloudimg-settings.cfg`) can reset the line; `GRUB_CMDLINE_LINUX` so that
recovery entries get the pools too.  The file is the owner of its arguments:
rewritten on every change, gone when none remain (and with it the `50-`
name older versions wrote, since a compile replaces the whole tree).
"""
from __future__ import annotations

from hostspec.diagnostics import Diagnostic
from hostspec.model import Spec
from hostspec.backends import Artifact, Context, header

PATH = "etc/default/grub.d/99-hostspec.cfg"
OLD_PATH = "etc/default/grub.d/50-hostspec.cfg"


def place(spec: Spec, ctx: Context, words: list[str]) -> tuple[list[Artifact], list[Diagnostic]]:
    if not words:
        return [], []
    line = " ".join(words)
    # `${VAR:+$VAR }` keeps the distribution's arguments and adds no stray
    # leading space; plain POSIX sh, since grub-mkconfig sources this with
    # dash under `set -e`.
    text = (header(ctx) + "# read by Debian/Ubuntu grub-mkconfig after /etc/default/grub; "
            "run update-grub\n"
            f'GRUB_CMDLINE_LINUX="${{GRUB_CMDLINE_LINUX:+$GRUB_CMDLINE_LINUX }}{line}"\n')
    return [Artifact(PATH, text.encode("ascii"), "grub", "boot",
                     summary="puts them on every GRUB entry, recovery too")], []
